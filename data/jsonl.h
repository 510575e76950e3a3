// JSONL reading: one JSON value per line, parsed with core/json, streamed line by line.
//   for_each_jsonl(path, fn, opt) — calls fn(value, line) for each non-blank line (line counts from 1;
//       a trailing '\r' and a leading UTF-8 BOM are dropped; lines of only spaces/tabs are skipped).
//       A line that does not parse, or for which fn throws sra::Error (a record with missing fields),
//       is bad: by default the first bad line throws "[data] FILE:LINE: <what>" (a "[data] " tag at the
//       start of fn's message moves in front of the location; "[json] ..." stays as it is); with
//       opt.skip_bad_lines it is counted and its message kept in the stats (the first
//       kMaxReportedErrors of them), and reading goes on.
//       A line longer than opt.max_line_bytes (default 1 MiB, ~130x the longest GSM8K/MATH line) is
//       bad without being held in memory: "[data] FILE:LINE: line longer than the limit of N bytes
//       (...)"; only its first max_line_bytes are read, the rest is skipped. A directory is refused.
//   read_jsonl(path, opt, stats) — every good line's value, in file order.
//   string_field(row, key) — row[key] as a string, for fn: "[data] expected a JSON object, got T",
//       "[data] missing string field 'K'", "[data] 'K' must be a string, got T".
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/json.h"

namespace sra {

struct JsonlOptions {
  static constexpr size_t kDefaultMaxLineBytes = size_t(1) << 20;
  bool skip_bad_lines = false;
  size_t max_line_bytes = kDefaultMaxLineBytes;  // longer lines are bad (not parsed, not kept)
};

struct JsonlStats {
  static constexpr size_t kMaxReportedErrors = 20;
  int64_t lines = 0;  // non-blank lines seen
  int64_t good = 0;
  int64_t bad = 0;
  std::vector<std::string> errors;  // "[data] FILE:LINE: ..." for the first bad lines
  // "" when nothing was bad, else "[data] FILE: skipped N bad line(s) of M; first: <error>".
  std::string summary(const std::string& path) const;
};

JsonlStats for_each_jsonl(const std::string& path, const std::function<void(const Json&, int64_t)>& fn,
                          const JsonlOptions& opt = {});
std::vector<Json> read_jsonl(const std::string& path, const JsonlOptions& opt = {},
                             JsonlStats* stats = nullptr);
const std::string& string_field(const Json& row, const char* key);

}  // namespace sra
