// GSM8K / MATH row conversion: field checks, prompt/target templates, final-answer extraction.
#include "data/math_datasets.h"

#include "core/check.h"

namespace sra {

namespace {

const std::string& string_field(const Json& row, const char* key) {
  SRA_CHECK(row.is_object(), "[data] expected a JSON object, got ", Json::type_name(row.type()));
  const Json* v = row.find(key);
  SRA_CHECK(v != nullptr, "[data] missing string field '", key, "'");
  SRA_CHECK(v->is_string(), "[data] '", key, "' must be a string, got ", Json::type_name(v->type()));
  return v->as_string();
}

std::string strip(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t' || s[b] == '\n' || s[b] == '\r')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\n' || s[e - 1] == '\r')) --e;
  return std::string(s.substr(b, e - b));
}

LoadedExamples load_with(const std::string& path, const JsonlOptions& opt,
                         TextExample (*convert)(const Json&)) {
  LoadedExamples out;
  out.stats = for_each_jsonl(
      path, [&](const Json& row, int64_t) { out.examples.push_back(convert(row)); }, opt);
  return out;
}

}  // namespace

TextExample gsm8k_example(const Json& row) {
  const std::string& question = string_field(row, "question");
  const std::string& answer = string_field(row, "answer");
  size_t hashes = answer.rfind("####");
  SRA_CHECK(hashes != std::string::npos, "[data] GSM8K answer has no '#### N' line");
  TextExample ex;
  ex.prompt = "Question: " + question + "\nAnswer:";
  ex.target = " " + answer;
  ex.answer = strip(std::string_view(answer).substr(hashes + 4));
  SRA_CHECK(!ex.answer.empty(), "[data] GSM8K answer has nothing after '####'");
  return ex;
}

TextExample math_example(const Json& row) {
  const std::string& problem = string_field(row, "problem");
  const std::string& solution = string_field(row, "solution");
  const std::string& answer = string_field(row, "answer");
  TextExample ex;
  ex.prompt = "Problem: " + problem + "\nSolution:";
  ex.target = " " + solution;
  ex.answer = answer;
  return ex;
}

LoadedExamples load_gsm8k(const std::string& path, const JsonlOptions& opt) {
  return load_with(path, opt, gsm8k_example);
}

LoadedExamples load_math(const std::string& path, const JsonlOptions& opt) {
  return load_with(path, opt, math_example);
}

}  // namespace sra
