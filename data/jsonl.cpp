// JSONL reader: std::getline over the file, Json::parse per line, file:line on every error.
#include "data/jsonl.h"

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
  std::ifstream in(path, std::ios::binary);
  SRA_CHECK(in.good(), "[data] cannot open '", path, "'");
  JsonlStats stats;
  std::string line;
  int64_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line_no == 1 && line.compare(0, 3, "\xEF\xBB\xBF") == 0) line.erase(0, 3);
    if (blank(line)) continue;
    ++stats.lines;
    try {
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
  SRA_CHECK(!in.bad(), "[data] read error in '", path, "' after line ", line_no);
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
