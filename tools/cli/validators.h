// Option validators for the `sra` CLI with readable messages, replacing CLI11's Range / PositiveNumber
// (whose messages print the double bounds in full: "not in range 0.000000 to 1797693...").
//   integer_at_least(lo)      an integer (base 10, fits int64) >= lo      "must be an integer >= 1, got 0"
//   integer_in(lo, hi)        an integer in [lo, hi]                      "must be an integer in [2, 4096],
//   got 1" number_at_least(lo)       a finite number >= lo                       "must be a finite number >=
//   0, got nan" number_above(lo)          a finite number > lo                        "must be a finite
//   number > 0, got -1" number_in(lo, hi, open)   a finite number in [lo, hi] ((lo, hi] when lo_open)
//   finite_number()           any finite number (not nan or inf)
//   non_empty()               a non-empty string                          "must not be empty"
// CLI11 reports a failure as "--flag: <message>", a usage error (exit 2, tools/cli/main.cpp).
#pragma once
#include <CLI/CLI.hpp>
#include <cstdint>

namespace sra::cli {

CLI::Validator integer_at_least(int64_t lo);
CLI::Validator integer_in(int64_t lo, int64_t hi);
CLI::Validator number_at_least(double lo);
CLI::Validator number_above(double lo);
CLI::Validator number_in(double lo, double hi, bool lo_open = false);
CLI::Validator finite_number();
CLI::Validator non_empty();

}  // namespace sra::cli
