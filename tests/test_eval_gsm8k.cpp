// Tests for eval/answer_gsm8k and the GSM8K side of eval/score: the lm-evaluation-harness strict and
// flexible extractors, the exact-match normalisation, the hand-written fixture
// tests/fixtures/eval/gsm8k_cases.jsonl (>= 60 tricky outputs), scoring the full GSM8K test set's
// reference answers (strict must be 100%), predictions-file errors with file:line, the output files,
// the data-dir resolver and garbage outputs.
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "core/check.h"
#include "core/json.h"
#include "data/data_dir.h"
#include "eval/answer_gsm8k.h"
#include "eval/score.h"
#include "tests/cpu_time.h"

using namespace sra::eval;
using sra::Json;

namespace {

std::string fixture_path(const std::string& name) {
  std::string local = "tests/fixtures/eval/" + name;
  if (std::filesystem::exists(local)) return local;
  return std::string(SRA_SOURCE_DIR) + "/" + local;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::filesystem::path temp_dir(const std::string& tag) {
  auto dir =
      std::filesystem::temp_directory_path() /
      ("sra_test_" + tag + "_" + std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
  std::filesystem::create_directories(dir);
  return dir;
}

void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

std::string error_of_predictions(const std::string& text, size_t n) {
  auto dir = temp_dir("gsm8k_pred");
  auto path = dir / "p.jsonl";
  write_text(path, text);
  std::string msg;
  try {
    read_predictions(path.string(), n);
  } catch (const sra::Error& e) {
    msg = e.what();
  }
  std::filesystem::remove_all(dir);
  // Drop the directory part so the test does not depend on it.
  size_t at = msg.find("p.jsonl:");
  return at == std::string::npos ? msg : "[eval] " + msg.substr(at);
}

}  // namespace

TEST_CASE("gsm8k: strict and flexible extraction follow lm-evaluation-harness") {
  CHECK(gsm8k_extract_strict("blah\n#### 1,234.") == "1,234.");
  CHECK(gsm8k_extract_strict("#### -7 and #### 8") == "-7");
  CHECK(gsm8k_extract_strict("#### -x #### 9") == "9");
  CHECK(gsm8k_extract_strict("no marker 12") == "[invalid]");
  CHECK(gsm8k_extract_flexible("a 12 b -3.5 c") == "-3.5");
  CHECK(gsm8k_extract_flexible("costs $1,000.") == "$1,000.");
  CHECK(gsm8k_extract_flexible("x -$5") == "-$5");
  CHECK(gsm8k_extract_flexible("5 then ..") == "..");
  CHECK(gsm8k_extract_flexible("7 - 8") == "8");
  CHECK(gsm8k_extract_flexible("-9") == "-9");
  CHECK(gsm8k_extract_flexible("none") == "[invalid]");
  CHECK(gsm8k_normalize("$1,000.") == "1000");
  CHECK(gsm8k_normalize("Step\n#### 42\n") == "42\n");
  CHECK(gsm8k_normalize("5.\n") == "5\n");
  CHECK(gsm8k_normalize("5..") == "5.");
  CHECK(gsm8k_normalize("[INVALID]") == "[invalid]");
  CHECK(gsm8k_gold_answer("a\n#### 1,000 ") == "1,000");
  CHECK(gsm8k_gold_answer("no marker") == "");
}

TEST_CASE("gsm8k: hand-written tricky outputs give the expected verdicts") {
  std::string text = slurp(fixture_path("gsm8k_cases.jsonl"));
  std::istringstream in(text);
  std::string line;
  int count = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    Json c = Json::parse(line);
    ++count;
    Gsm8kVerdict v = gsm8k_score(c["output"].as_string(), c["gold"].as_string());
    INFO("case " << count << ": " << c["why"].as_string() << " | output: " << c["output"].dump()
                 << " | strict: " << v.strict_extracted << " | flexible: " << v.flexible_extracted);
    CHECK(v.strict_correct == c["strict"].as_bool());
    CHECK(v.flexible_correct == c["flexible"].as_bool());
  }
  CHECK(count >= 60);
}

TEST_CASE("gsm8k: the test set's references score 100% strict") {
  EvalScoreOptions opt;
  opt.dataset = "gsm8k";
  opt.references = true;
  const double start = sra::testing::process_cpu_seconds();  // CPU, not wall time: see tests/cpu_time.h
  EvalScoreResult r = score_eval(opt);
  double seconds = sra::testing::process_cpu_seconds() - start;
  CHECK(r.n == 1319);
  CHECK(r.correct == 1319);
  CHECK(r.correct_flexible == 1319);
  CHECK(seconds < 10.0);  // ~0.01 s of CPU for loading and scoring: the bound catches a hang
  Json s = r.summary();
  CHECK(s["dataset"].as_string() == "gsm8k");
  CHECK(s["n"].as_int() == 1319);
  CHECK(s["strict"]["accuracy"].as_double() == 1.0);
  CHECK(s["flexible"]["correct"].as_int() == 1319);
  MESSAGE("gsm8k references: strict " << r.correct << "/" << r.n << ", flexible " << r.correct_flexible << "/"
                                      << r.n << ", scored in " << r.seconds << " s");
}

TEST_CASE("gsm8k: predictions file errors name file:line") {
  CHECK(error_of_predictions("{\"index\": 0, \"output\": \"x\"}\n{\"index\": 1, \"output\": \n", 5) ==
        "[eval] p.jsonl:2: [json] unexpected end of input, expected a value at byte offset 23");
  CHECK(error_of_predictions("\n{\"index\": 7, \"output\": \"x\"}\n", 5) ==
        "[eval] p.jsonl:2: index 7 out of range [0, 5)");
  CHECK(error_of_predictions("{\"index\": 1, \"output\": \"x\"}\n{\"index\": 1, \"output\": \"y\"}\n", 5) ==
        "[eval] p.jsonl:2: index 1 already given on line 1");
  CHECK(error_of_predictions("{\"index\": 1}\n", 5) == "[eval] p.jsonl:1: missing key 'output'");
  CHECK(error_of_predictions("{\"index\": \"1\", \"output\": \"\"}\n", 5) ==
        "[eval] p.jsonl:1: 'index' must be an integer, got \"1\"");
  CHECK(error_of_predictions("[1]\n", 5) == "[eval] p.jsonl:1: expected a JSON object, got array");
  CHECK(error_of_predictions("{\"index\": 0, \"output\": 5}\n", 5) ==
        "[eval] p.jsonl:1: 'output' must be a string, got int");
}

TEST_CASE("gsm8k: scoring a predictions file writes summary.json and samples.jsonl") {
  auto dir = temp_dir("gsm8k_out");
  write_text(dir / "pred.jsonl",
             "{\"index\": 0, \"output\": \"She makes 9 * 2 = 18 dollars.\\n#### 18\"}\n"
             "{\"index\": 1, \"output\": \"It takes 3 bolts\"}\n"
             "{\"index\": 2, \"output\": \"no idea\"}\n");
  EvalScoreOptions opt;
  opt.dataset = "gsm8k";
  opt.predictions = (dir / "pred.jsonl").string();
  opt.out_dir = (dir / "out").string();
  std::ostringstream log;
  CHECK(run_eval_score(opt, log) == 0);
  Json summary = Json::parse(slurp((dir / "out" / "summary.json").string()));
  CHECK(summary["dataset"].as_string() == "gsm8k");
  CHECK(summary["n"].as_int() == 3);
  CHECK(summary["strict"]["correct"].as_int() == 1);
  CHECK(summary["flexible"]["correct"].as_int() == 2);
  CHECK(summary["flexible"]["accuracy"].as_double() == doctest::Approx(2.0 / 3.0));
  CHECK(Json::parse(log.str()) == summary);
  std::istringstream samples(slurp((dir / "out" / "samples.jsonl").string()));
  std::string line;
  int lines = 0;
  while (std::getline(samples, line)) {
    Json s = Json::parse(line);
    CHECK(s["index"].as_int() == lines);
    CHECK(s.contains("output"));
    CHECK(s.contains("gold"));
    CHECK(s.contains("extracted_flexible"));
    if (lines == 1) {
      CHECK(s["gold"].as_string() == "3");
      CHECK(s["extracted"].as_string() == "[invalid]");
      CHECK(s["correct"].as_bool() == false);
      CHECK(s["correct_flexible"].as_bool() == true);
    }
    ++lines;
  }
  CHECK(lines == 3);
  std::filesystem::remove_all(dir);
}

TEST_CASE("gsm8k: options and data dir errors") {
  EvalScoreOptions opt;
  opt.dataset = "gsm9k";
  opt.references = true;
  CHECK_THROWS_WITH_AS(score_eval(opt), "[eval] unknown dataset 'gsm9k' (expected gsm8k, math or math500)",
                       sra::Error);
  opt.dataset = "gsm8k";
  opt.references = false;
  CHECK_THROWS_WITH_AS(score_eval(opt), "[eval] pass --predictions FILE.jsonl or --references", sra::Error);
  CHECK_THROWS_WITH_AS(sra::resolve_data_dir("/nonexistent/sra/data"),
                       "[data] --data-dir '/nonexistent/sra/data' is not a directory", sra::Error);
  CHECK(std::filesystem::exists(sra::resolve_data_dir("") + "/gsm8k/test.jsonl"));
}

TEST_CASE("gsm8k: garbage outputs are incorrect, without a crash or a hang") {
  const double start = sra::testing::process_cpu_seconds();  // CPU, not wall time: see tests/cpu_time.h
  std::string digits(1 << 20, '7');
  std::string braces(1 << 20, '{');
  std::string hashes;
  for (int i = 0; i < 100000; ++i) hashes += "#### -";
  for (const std::string& out :
       {std::string(), braces, digits, hashes, std::string(1 << 20, '.'), std::string("\0\0\0", 3)}) {
    Gsm8kVerdict v = gsm8k_score(out, "18");
    CHECK_FALSE(v.strict_correct);
    CHECK_FALSE(v.flexible_correct);
  }
  CHECK(sra::testing::process_cpu_seconds() - start < 5.0);  // ~5 MB of text, linear scanners
}
