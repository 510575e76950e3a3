// MATH answer normalisation, shared by answer_math.cpp and its tests.
//   math_normalize_hendrycks: prm800k's math_normalize.normalize_answer (Hendrycks' _strip_string with
//     the whole-answer \text{} unwrapped); the steps are listed in answer_math.h, step 1.
//     drop_short_lhs = false skips its "x = y" -> y step (a left side of at most 2 characters, so also
//     "-y" and "2x"); math_equiv does, deciding left sides itself (answer_math.h, step 0).
//   math_clean_prm: prm800k's _normalize up to its LaTeX -> text conversion, keeping the LaTeX
//     structure (for splitting into elements, finding a relation and for the evaluator); answer_math.h,
//     step 2. It keeps a left-hand side ("x = 5" stays).
//   math_prm_key: the rest of _normalize on a cleaned answer: LaTeX -> text, mixed numbers, no spaces
//     or braces, lower case, integers written plainly. math_normalize_prm = key(clean(answer)).
//   Helpers: strip_thousands_commas ("12,345" -> "12345" when a comma follows a digit and precedes
//     exactly three digits), integer_value_text (Python float() of the text is an integer: its
//     canonical digits), is_numeric_fraction ("-?digits/digits", nonzero denominator).
// Python string semantics (str.split, str.replace, len in code points, exceptions leaving the input)
// are reproduced where the Hendrycks rules depend on them.
#pragma once
#include <optional>
#include <string>
#include <string_view>

#include "core/strings.h"

namespace sra::eval {

std::string math_normalize_hendrycks(std::string_view answer, bool drop_short_lhs = true);
std::string math_clean_prm(std::string_view answer);
std::string math_prm_key(std::string_view cleaned);
std::string math_normalize_prm(std::string_view answer);

std::string strip_thousands_commas(std::string_view s);
std::optional<std::string> integer_value_text(std::string_view x);
bool is_numeric_fraction(std::string_view k);

// Small text helpers shared with answer_math.cpp.
namespace text {
using sra::is_space;  // core/strings.h: Python's whitespace
using sra::trim;
bool is_digit(char c);   // '0'-'9'
bool is_letter(char c);  // ASCII 'a'-'z', 'A'-'Z'
bool starts_with(std::string_view s, std::string_view p);
bool ends_with(std::string_view s, std::string_view p);
std::string replace_all(std::string_view s, std::string_view from, std::string_view to);
// Index of the brace closing the '{' at s[open] (raw brace counting), or npos.
size_t matching_brace(std::string_view s, size_t open);
}  // namespace text

}  // namespace sra::eval
