// GSM8K / MATH row conversion: field checks, prompt/target templates, final-answer extraction.
#include "data/math_datasets.h"

#include "core/check.h"
#include "core/strings.h"
#include "data/jsonl.h"

namespace sra {

namespace {

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
  ex.answer = trim(std::string_view(answer).substr(hashes + 4), " \t\n\r");
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
