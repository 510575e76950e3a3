// JSONL reader: a bounded line reader over the file, Json::parse per line, file:line on every error.
#include "data/jsonl.h"

#include <filesystem>
#include <fstream>
#include <string_view>

#include "core/check.h"

namespace sra {

namespace {

bool blank(const std::string& s) {
  for (char c : s) {
    if (c != ' ' && c != '\t') return false;
  }
  return true;
}

// Reads one line (without its '\n') into `line`, keeping at most max_bytes of it; returns false at the end
// of the file with nothing read. `too_long`: the line had more than max_bytes bytes (the rest is skipped).
bool read_line(std::streambuf& in, std::string& line, size_t max_bytes, bool& too_long) {
  line.clear();
  too_long = false;
  int c = in.sbumpc();
  if (c == std::char_traits<char>::eof()) return false;
  while (c != std::char_traits<char>::eof() && c != '\n') {
    if (line.size() < max_bytes) {
      line.push_back(char(c));
    } else {
      too_long = true;
    }
    c = in.sbumpc();
  }
  return true;
}

}  // namespace

std::string JsonlStats::summary(const std::string& path) const {
  if (bad == 0) return "";
  std::string s =
      "[data] " + path + ": skipped " + std::to_string(bad) + " bad line(s) of " + std::to_string(lines);
  if (!errors.empty()) s += "; first: " + errors.front();
  return s;
}

JsonlStats for_each_jsonl(const std::string& path, const std::function<void(const Json&, int64_t)>& fn,
                          const JsonlOptions& opt) {
  SRA_CHECK(!std::filesystem::is_directory(path), "[data] '", path, "' is a directory, not a JSONL file");
  std::ifstream in(path, std::ios::binary);
  SRA_CHECK(in.good(), "[data] cannot open '", path, "'");
  JsonlStats stats;
  std::string line;
  int64_t line_no = 0;
  bool too_long = false;
  while (read_line(*in.rdbuf(), line, opt.max_line_bytes, too_long)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r' && !too_long) line.pop_back();
    if (line_no == 1 && line.compare(0, 3, "\xEF\xBB\xBF") == 0) line.erase(0, 3);
    if (blank(line) && !too_long) continue;
    ++stats.lines;
    try {
      SRA_CHECK(!too_long, "[data] line longer than the limit of ", opt.max_line_bytes,
                " bytes (GSM8K and MATH lines are under 8 KB)");
      Json value = Json::parse(line);
      fn(value, line_no);
      ++stats.good;
    } catch (const Error& e) {
      std::string_view what = e.what();
      if (what.substr(0, 7) == "[data] ") what.remove_prefix(7);  // the location goes after the tag
      std::string msg = "[data] " + path + ":" + std::to_string(line_no) + ": " + std::string(what);
      if (!opt.skip_bad_lines) throw Error(msg);
      ++stats.bad;
      if (stats.errors.size() < JsonlStats::kMaxReportedErrors) stats.errors.push_back(std::move(msg));
    }
  }
  return stats;
}

std::vector<Json> read_jsonl(const std::string& path, const JsonlOptions& opt, JsonlStats* stats) {
  std::vector<Json> out;
  JsonlStats s = for_each_jsonl(
      path, [&](const Json& v, int64_t) { out.push_back(v); }, opt);
  if (stats != nullptr) *stats = std::move(s);
  return out;
}

const std::string& string_field(const Json& row, const char* key) {
  SRA_CHECK(row.is_object(), "[data] expected a JSON object, got ", Json::type_name(row.type()));
  const Json* v = row.find(key);
  SRA_CHECK(v != nullptr, "[data] missing string field '", key, "'");
  SRA_CHECK(v->is_string(), "[data] '", key, "' must be a string, got ", Json::type_name(v->type()));
  return v->as_string();
}

}  // namespace sra
