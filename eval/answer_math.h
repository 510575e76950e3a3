// MATH / MATH-500 answer extraction and equivalence.
//
// Extraction (math_extract_answer): the content of the last \boxed{...} or \fbox{...} with braces
// matched (nested braces count; an unbalanced last box gives nothing from the box); "\boxed 5"
// (a space, no brace) gives the text up to the next '$' or newline. Without a box: the X of the last
// "final answer is X" (case-insensitive), cut at a newline, at "I hope it is correct" and at a
// sentence-ending '.', with surrounding $...$ removed.
//
// Equivalence (math_equiv(given, gold)), following openai/prm800k's grade_answer:
//  0. Relations (issue 21): an answer that, after step 2's cleaning, is one "L = R" or "L \in R" (one
//     sign outside brackets; not with <, >, ==, !=, :=, \le, \ne, ...) is split. A left side is
//     dropped only when it is a bare variable: one letter or Greek macro (not \pi), optionally with a
//     subscript ("x", "k", "x_1", "a_{12}", "\theta"); never a sign, a coefficient, an expression or a
//     longer name ("-x", "2x", "f(x)", "AB"). Both relations: the same sign, then the sides as such —
//     left sides equivalent and right sides equivalent; or, for "=", the sides swapped, or left minus
//     right equal to the gold's up to sign ("y - 2x = 3" is "y = 2x + 3"; a multiple is not matched).
//     Only the answer is a relation: its bare left side is dropped, else it is wrong. Only the gold is:
//     its bare left side is dropped ("[-2,7]" for "x \in [-2,7]"), else the answer is wrong. Steps 1-3
//     then compare the sides or the answers.
//  1. Hendrycks normalisation (math_normalize_hendrycks, as prm800k's math_normalize, without its
//     "x = y" -> y step: step 0 decides left sides): strip; unwrap a whole-answer \text{...}; then in
//     order: drop newlines and "\!"; "\\" -> "\"; tfrac/dfrac -> frac; drop \left, \right, "^{\circ}",
//     "^\circ", "\$"; cut at "\text{ " (units on the right); drop "\%"; " ." -> " 0." and "{." -> "{0.";
//     a leading '.' gets a '0'; \sqrtx -> \sqrt{x}; remove spaces; \fracab -> \frac{a}{b}; "0.5" ->
//     \frac{1}{2}; integer "a/b" -> \frac{a}{b}. A step that raises in Python leaves the stripped
//     input. Equal normalised strings -> equivalent.
//  2. prm normalisation (math_clean_prm, then math_prm_key): unwrap \text{...} (the whole answer, then
//     every text-like macro); "\%" "\$" "$" "%" dropped; " or " / " and " -> " , ";
//     million/billion/trillion -> *10^6/9/12; unit words (degree, cm, centimeter, meter, mile, second,
//     minute, hour, day, week, month, year, foot, feet, inch, yard, with es/s and ^n) and ^\circ
//     dropped; one outer {...} and ",\!" dropped; \left/\right/spacing dropped; "- " -> "-"; then
//     LaTeX -> text (\frac{a}{b} -> a/b, \sqrt{x} -> sqrt(x), \pi -> pi, \infty -> inf, \cup -> U,
//     \cdot/\times -> *, ...), a digit-space-digit becomes digit+digit (mixed numbers), spaces and
//     braces removed, lower-cased, and an integer-valued number ("1,000", "5.0") written as a plain
//     integer. Equal -> equivalent; an empty given answer is not.
//  3. Structure: thousands commas ("12,345") are removed, then the answer splits into a matrix
//     (pmatrix/bmatrix cells), a union of intervals (\cup), a bracketed tuple/interval, a \{set\}, or
//     a comma list. Shapes must agree (bracket kinds and counts) unless both sides are one element;
//     elements are compared in order:
//       equal prm keys -> equal; both plain fractions "-?int/int" (unreduced fractions) -> only the
//       same key matches; integer vs non-integer -> different (an integer gold needs an integer);
//       else compare_math_expressions (math_expr.h) decides by value.
// Differences from prm800k's grader (prm800k/grading/grader.py; sympy + pylatexenc). Measured with
// tools/compare_math_grader.py on 4606 variants of the MATH-500 gold answers: 98.09% agreement (before
// issue 21's fix 98.02%, when 74 of the differences were false statements scored correct). Every
// remaining difference is deliberate, given | gold:
//  More lenient (mathematically equal; prm800k says "not equal"):
//   - "x \in" dropped from the answer: "x \in (3,4]" | "(3,4]" (prm800k keeps it; 20 variants).
//   - a bare left side dropped from the gold: "[-2,7]" | "x \in [-2,7]" (prm800k strips "=" only).
//   - an equation with its sides swapped: "2x + 3 = y" | "y = 2x + 3" (4; sympy cannot parse "=").
//   - an equation rearranged: "y - (2x + 3) = 0" | "y = 2x + 3" (3).
//   - a fraction of a sum: "(11+9a)/(20)" | "\frac{11+9a}{20}" (3; pylatexenc writes 11+9a/20).
//   - a negative mixed number is negative throughout: "-3\frac{8}{9}" | "-\frac{35}{9}" (1; prm800k
//     reads -3+8/9).
//   - a subscripted or Greek variable: "x_1 = 4" | "4", "\theta = 30^\circ" | "30^\circ" (prm800k drops
//     a left side of at most 2 characters only).
//   - comma lists and \cup unions element by element: "0.5, 3" | "\frac{1}{2}, 3" and
//     "(-\infty,0.5)\cup(3,\infty)" | "(-\infty,\frac{1}{2})\cup(3,\infty)" (sympy gets the whole).
//   - |x|: "|-\frac{1}{2}|" | "\frac{1}{2}" (sympy cannot parse |).
//   - exponents of 2+ digits: "\frac{1}{1024}" | "\frac{1}{2^{10}}" (prm800k refuses "^{").
//   - \pi is a constant, not two letters: "r^2\pi" | "\pi r^2" (prm800k: 3 letters, not evaluated).
//  Stricter (issue 21: prm800k's Hendrycks step drops any left side of at most 2 characters, a space
//  included ("x ", "-x", "2y"), so these false statements pass there):
//   - a sign or coefficient on the left: "-x=10" | "10" (44 variants), "-y=2x + 3" | "y = 2x + 3",
//     "2y=2x + 3" | "y = 2x + 3" (6).
//   - another variable where the gold is an equation: "z = 5" | "x=5", "z=2x + 3" | "y = 2x + 3" (6).
//   - a two-letter name: "AB=5" | "5"; an inequality: "x<=5" | "5" (prm800k drops "x<").
// As in prm800k, expressions with 3+ distinct letters are not evaluated, and unit words are removed
// anywhere.
#pragma once
#include <optional>
#include <string>
#include <string_view>

#include "eval/math_normalize.h"  // math_normalize_hendrycks, math_normalize_prm

namespace sra::eval {

// Answers longer than this only get step 1 (a bound on the work per item).
inline constexpr size_t kMathMaxAnswerChars = 10000;

std::optional<std::string> math_last_boxed(std::string_view text);
std::optional<std::string> math_final_answer_phrase(std::string_view text);
// Boxed answer, else the "final answer is" phrase, else nullopt.
std::optional<std::string> math_extract_answer(std::string_view output);

struct MathEquiv {
  bool equal = false;
  std::string reason;  // which rule decided, e.g. "values equal", "integer vs non-integer"
};
MathEquiv math_equiv_explain(std::string_view given, std::string_view gold);
bool math_equiv(std::string_view given, std::string_view gold);

struct MathVerdict {
  std::optional<std::string> extracted;
  bool correct = false;
  std::string reason;
};
// Extracts the answer from `output` and compares it with `gold` (the dataset's "answer" field).
MathVerdict math_score(std::string_view output, std::string_view gold);

}  // namespace sra::eval
