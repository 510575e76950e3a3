// Errors and invariants.
//   sra::Error      — a user error (bad shape, bad config, bad input); message starts "[op] ...".
//   SRA_CHECK(c, m) — throws sra::Error(m) when c is false; m is any expression streamed into the message.
//   SRA_ASSERT(c)   — an always-on internal invariant; throws sra::InternalError with file:line.
#pragma once
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace sra {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct InternalError : std::logic_error {
  using std::logic_error::logic_error;
};

// "[2, 3, 4]"
std::string shape_str(const std::vector<int64_t>& shape);

namespace detail {
template <typename... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail

}  // namespace sra

#define SRA_CHECK(cond, ...)                                             \
  do {                                                                   \
    if (!(cond)) throw ::sra::Error(::sra::detail::concat(__VA_ARGS__)); \
  } while (0)

#define SRA_ASSERT(cond, ...)                                                                               \
  do {                                                                                                      \
    if (!(cond))                                                                                            \
      throw ::sra::InternalError(::sra::detail::concat("internal error at ", __FILE__, ":", __LINE__, ": ", \
                                                       #cond, " ", ##__VA_ARGS__));                         \
  } while (0)
