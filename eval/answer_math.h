// MATH / MATH-500 answer extraction and equivalence.
//
// Extraction (math_extract_answer): the content of the last \boxed{...} or \fbox{...} with braces
// matched (nested braces count; an unbalanced last box gives nothing from the box); "\boxed 5"
// (a space, no brace) gives the text up to the next '$' or newline. Without a box: the X of the last
// "final answer is X" (case-insensitive), cut at a newline, at "I hope it is correct" and at a
// sentence-ending '.', with surrounding $...$ removed.
//
// Equivalence (math_equiv(given, gold)), following openai/prm800k's grade_answer:
//  1. Hendrycks normalisation (math_normalize_hendrycks, as prm800k's math_normalize): strip; unwrap a
//     whole-answer \text{...}; then in order: drop newlines and "\!"; "\\" -> "\"; tfrac/dfrac -> frac;
//     drop \left, \right, "^{\circ}", "^\circ", "\$"; cut at "\text{ " (units on the right); drop "\%";
//     " ." -> " 0." and "{." -> "{0."; a leading '.' gets a '0'; "x = y" with a left side of at most 2
//     characters -> y; \sqrtx -> \sqrt{x}; remove spaces; \fracab -> \frac{a}{b}; "0.5" -> \frac{1}{2};
//     integer "a/b" -> \frac{a}{b}. A step that raises in Python leaves the stripped input. Equal
//     normalised strings -> equivalent.
//  2. prm normalisation (math_normalize_prm): unwrap \text{...} (the whole answer, then every text-like
//     macro); "\%" "\$" "$" "%" dropped; " or " / " and " -> " , "; million/billion/trillion ->
//     *10^6/9/12; unit words (degree, cm, centimeter, meter, mile, second, minute, hour, day, week,
//     month, year, foot, feet, inch, yard, with es/s and ^n) and ^\circ dropped; one outer {...} and
//     ",\!" dropped; \left/\right/spacing dropped; "- " -> "-"; a short "x =" / "x \in" prefix dropped
//     (an addition); then LaTeX -> text (\frac{a}{b} -> a/b, \sqrt{x} -> sqrt(x), \pi -> pi, \infty ->
//     inf, \cup -> U, \cdot/\times -> *, ...), a digit-space-digit becomes digit+digit (mixed numbers),
//     spaces and braces removed, lower-cased, and an integer-valued number ("1,000", "5.0") written
//     as a plain integer. Equal -> equivalent; an empty given answer is not.
//  3. Structure: thousands commas ("12,345") are removed, then the answer splits into a matrix
//     (pmatrix/bmatrix cells), a union of intervals (\cup), a bracketed tuple/interval, a \{set\}, or
//     a comma list. Shapes must agree (bracket kinds and counts) unless both sides are one element;
//     elements are compared in order:
//       equal prm keys -> equal; both plain fractions "-?int/int" (unreduced fractions) -> only the
//       same key matches; integer vs non-integer -> different (an integer gold needs an integer);
//       else compare_math_expressions (math_expr.h) decides by value.
// Differences from prm800k's grader (sympy + pylatexenc), all on the lenient side: \frac{x+1}{2} is
// (x+1)/2 (pylatexenc yields x+1/2); bare comma lists and \cup unions are split and compared element
// by element; "y = ..." with a short left side, "x \in ...", |x| and exponents of 2+ digits are
// handled; -3\frac12 is -3.5 (prm800k: -3+1/2); \pi is a constant, not two letters. As in prm800k,
// expressions with 3+ distinct letters are not evaluated, and unit words are removed anywhere.
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
