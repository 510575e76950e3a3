// A small, bounded evaluator for answer expressions, used where prm800k's grader calls sympy.
// Grammar (LaTeX or plain text; whitespace is ignored except in mixed numbers):
//   expr    := term (('+' | '-') term)*
//   term    := factor (('*' | '/' | '\cdot' | '\times' | '\div' | <implicit>) factor)*
//   factor  := ('-' | '+') factor | power            (so -x^2 = -(x^2))
//   power   := postfix ('^' factor)?                  (right-associative; 2^-1 allowed)
//   postfix := primary '!'*
//   primary := number | letter | '(' expr ')' | '{' expr '}' | '|' expr '|' | \frac A B | \sqrt[n] A
//            | \pi | \infty | sqrt(...) | pi, where A is a {group} or one token (\frac34 = 3/4).
// Numbers are decimals ("12", "0.5", ".5"). An integer followed by \frac{int}{int} or by spaces and
// "int/int" is a mixed number (3\frac12 = 3 + 1/2, 7 3/4 = 7 + 3/4), as prm800k's grader reads them
// (here the sign covers the whole mixed number: -3\frac12 = -3.5).
// Letters are variables (case-insensitive; e and i are plain variables, as for sympy symbols);
// "\left", "\right", spacing macros and empty \text{ } are skipped; anything else fails to parse.
// Values are exact rationals (int64 numerator/denominator) while they fit, else doubles. Two
// expressions compare equal when: with no variables, their values agree (exactly when both are exact,
// else within a relative 1e-12, so a 10-digit decimal is not sqrt(2)); with variables (at most 2
// distinct letters in both together, as prm800k allows), they agree at every one of several rational
// points (one of them negative) where both are defined, and at least two such points exist. Limits
// (input length, parse depth, node count, exponent size, factorial size) make every input finish
// quickly without deep recursion.
#pragma once
#include <cstddef>
#include <optional>
#include <string_view>

namespace sra::eval {

struct ExprLimits {
  size_t max_chars = 2000;
  int max_depth = 48;
  int max_nodes = 1000;
};

enum class ExprCompare { kEqual, kDifferent, kNotComparable };

ExprCompare compare_math_expressions(std::string_view a, std::string_view b, const ExprLimits& limits = {});

// The value of a variable-free expression, or nullopt when it does not parse, has variables, or is
// undefined (division by zero, sqrt of a negative, too large).
std::optional<double> evaluate_math_expression(std::string_view text, const ExprLimits& limits = {});

}  // namespace sra::eval
