// Validators: each parses the option's text itself (std::from_chars for integers, strtod for numbers)
// and returns "" or the message CLI11 shows after "--flag: ".
#include "tools/cli/validators.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <sstream>

namespace sra::cli {

namespace {

std::string num(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

// The integer written in `text` (base 10, optional sign), or an error message.
std::string parse_integer(const std::string& text, int64_t& value) {
  const char* end = text.data() + text.size();
  const char* begin = text.data() + (!text.empty() && text[0] == '+' ? 1 : 0);
  auto [ptr, ec] = std::from_chars(begin, end, value);
  if (ec == std::errc::result_out_of_range) return "must fit in a 64-bit integer, got " + text;
  if (ec != std::errc() || ptr != end || begin == end) return "must be an integer, got '" + text + "'";
  return "";
}

std::string parse_number(const std::string& text, double& value) {
  char* end = nullptr;
  value = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size()) return "must be a number, got '" + text + "'";
  return "";
}

CLI::Validator integer_check(int64_t lo, int64_t hi, const std::string& desc, const std::string& bound) {
  return CLI::Validator(
      [lo, hi, bound](std::string& text) {
        int64_t v = 0;
        std::string err = parse_integer(text, v);
        if (!err.empty()) return err;
        if (v < lo || v > hi) return "must be an integer " + bound + ", got " + text;
        return std::string();
      },
      desc);
}

CLI::Validator number_check(double lo, double hi, bool lo_open, const std::string& desc,
                            const std::string& bound) {
  return CLI::Validator(
      [lo, hi, lo_open, bound](std::string& text) {
        double v = 0;
        std::string err = parse_number(text, v);
        if (!err.empty()) return err;
        if (!std::isfinite(v) || v < lo || (lo_open && v == lo) || v > hi)
          return "must be a finite number " + bound + ", got " + text;
        return std::string();
      },
      desc);
}

}  // namespace

CLI::Validator integer_at_least(int64_t lo) {
  const std::string bound = ">= " + std::to_string(lo);
  return integer_check(lo, INT64_MAX, lo == 1 ? "POSITIVE" : lo == 0 ? "NONNEGATIVE" : bound, bound);
}

CLI::Validator integer_in(int64_t lo, int64_t hi) {
  const std::string bound = "in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
  return integer_check(lo, hi, bound, bound);
}

CLI::Validator number_at_least(double lo) {
  const std::string bound = ">= " + num(lo);
  return number_check(lo, HUGE_VAL, false, lo == 0 ? "NONNEGATIVE" : bound, bound);
}

CLI::Validator number_above(double lo) {
  const std::string bound = "> " + num(lo);
  return number_check(lo, HUGE_VAL, true, lo == 0 ? "POSITIVE" : bound, bound);
}

CLI::Validator number_in(double lo, double hi, bool lo_open) {
  const std::string bound = "in " + std::string(lo_open ? "(" : "[") + num(lo) + ", " + num(hi) + "]";
  return number_check(lo, hi, lo_open, bound, bound);
}

CLI::Validator finite_number() {
  return number_check(-HUGE_VAL, HUGE_VAL, false, "FINITE", "(not nan or inf)");
}

CLI::Validator non_empty() {
  return CLI::Validator(
      [](std::string& text) { return text.empty() ? std::string("must not be empty") : ""; }, "NONEMPTY");
}

}  // namespace sra::cli
