// See core/strings.h.
#include "core/strings.h"

namespace sra {

bool is_space(char c) {
  return kWhitespace.find(c) != std::string_view::npos;
}

std::string trim(std::string_view s, std::string_view chars) {
  size_t b = 0, e = s.size();
  while (b < e && chars.find(s[b]) != std::string_view::npos) ++b;
  while (e > b && chars.find(s[e - 1]) != std::string_view::npos) --e;
  return std::string(s.substr(b, e - b));
}

}  // namespace sra
