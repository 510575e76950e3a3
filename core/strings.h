// Small string helpers shared across layers.
//   kWhitespace          " \t\n\r\f\v": Python's str.strip() whitespace in the ASCII range.
//   is_space(c)          c is one of kWhitespace.
//   trim(s, chars)       s without its leading and trailing characters from `chars` (default kWhitespace).
#pragma once
#include <string>
#include <string_view>

namespace sra {

inline constexpr std::string_view kWhitespace = " \t\n\r\f\v";

bool is_space(char c);
std::string trim(std::string_view s, std::string_view chars = kWhitespace);

}  // namespace sra
