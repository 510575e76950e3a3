// Model-free scoring of GSM8K / MATH outputs: load gold answers (file:line errors), read predictions
// (file:line errors), extract + compare each output, aggregate, write summary.json and samples.jsonl.
#include "eval/score.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <sstream>

#include "core/check.h"
#include "data/data_dir.h"
#include "eval/answer_gsm8k.h"
#include "eval/answer_math.h"

namespace sra::eval {

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  SRA_CHECK(in.good(), "[eval] cannot open '", path, "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Calls fn(line_number (1-based), line) for each line (without '\n' or a trailing '\r').
template <typename Fn>
void for_each_line(const std::string& text, Fn fn) {
  size_t pos = 0;
  size_t line_no = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    fn(++line_no, line);
    pos = end + 1;
  }
}

bool blank(std::string_view s) {
  for (char c : s) {
    if (c != ' ' && c != '\t') return false;
  }
  return true;
}

const std::string& string_field(const Json& obj, const char* key, const std::string& where) {
  const Json* v = obj.find(key);
  SRA_CHECK(v != nullptr, "[eval] ", where, ": missing key '", key, "'");
  SRA_CHECK(v->is_string(), "[eval] ", where, ": '", key, "' must be a string, got ",
            Json::type_name(v->type()));
  return v->as_string();
}

Json parse_line(std::string_view line, const std::string& where) {
  Json j;
  try {
    j = Json::parse(line);
  } catch (const Error& e) {
    throw Error("[eval] " + where + ": " + e.what());
  }
  SRA_CHECK(j.is_object(), "[eval] ", where, ": expected a JSON object, got ", Json::type_name(j.type()));
  return j;
}

bool is_gsm8k(const std::string& dataset) {
  return dataset == "gsm8k";
}

double ratio(int64_t a, int64_t b) {
  return b == 0 ? 0.0 : static_cast<double>(a) / static_cast<double>(b);
}

}  // namespace

std::string eval_test_file(const std::string& dataset) {
  if (dataset == "gsm8k") return "gsm8k/test.jsonl";
  if (dataset == "math") return "math/test.jsonl";
  if (dataset == "math500") return "math/math500_test.jsonl";
  throw Error("[eval] unknown dataset '" + dataset + "' (expected gsm8k, math or math500)");
}

std::vector<EvalItem> load_eval_items(const std::string& dataset, const std::string& data_dir) {
  std::string path = data_dir + "/" + eval_test_file(dataset);
  std::string text = read_file(path);
  std::vector<EvalItem> items;
  for_each_line(text, [&](size_t line_no, std::string_view line) {
    std::string where = path + ":" + std::to_string(line_no);
    SRA_CHECK(!blank(line), "[eval] ", where, ": blank line in a dataset file");
    Json j = parse_line(line, where);
    EvalItem item;
    if (is_gsm8k(dataset)) {
      item.reference = string_field(j, "answer", where);
      SRA_CHECK(item.reference.find("####") != std::string::npos, "[eval] ", where,
                ": 'answer' has no '####' line");
      item.gold = gsm8k_gold_answer(item.reference);
      SRA_CHECK(!item.gold.empty(), "[eval] ", where, ": empty answer after '####'");
    } else {
      item.gold = string_field(j, "answer", where);
      item.reference = string_field(j, "solution", where);
    }
    items.push_back(std::move(item));
  });
  SRA_CHECK(!items.empty(), "[eval] ", path, ": no items");
  return items;
}

std::vector<Prediction> read_predictions(const std::string& path, size_t num_items) {
  std::string text = read_file(path);
  std::vector<Prediction> preds;
  std::vector<size_t> seen_at(num_items, 0);
  for_each_line(text, [&](size_t line_no, std::string_view line) {
    if (blank(line)) return;
    std::string where = path + ":" + std::to_string(line_no);
    Json j = parse_line(line, where);
    const Json* idx = j.find("index");
    SRA_CHECK(idx != nullptr, "[eval] ", where, ": missing key 'index'");
    SRA_CHECK(idx->is_int(), "[eval] ", where, ": 'index' must be an integer, got ", idx->dump());
    int64_t i = idx->as_int();
    SRA_CHECK(i >= 0 && static_cast<size_t>(i) < num_items, "[eval] ", where, ": index ", i,
              " out of range [0, ", num_items, ")");
    SRA_CHECK(seen_at[i] == 0, "[eval] ", where, ": index ", i, " already given on line ", seen_at[i]);
    seen_at[i] = line_no;
    preds.push_back({i, string_field(j, "output", where)});
  });
  return preds;
}

EvalScoreResult score_eval(const std::string& dataset, const std::vector<EvalItem>& items,
                           const std::vector<Prediction>& predictions) {
  eval_test_file(dataset);  // validates the name
  auto start = std::chrono::steady_clock::now();
  EvalScoreResult r;
  r.dataset = dataset;
  r.samples.reserve(predictions.size());
  for (const auto& p : predictions) {
    SRA_CHECK(p.index >= 0 && static_cast<size_t>(p.index) < items.size(), "[eval] index ", p.index,
              " out of range");
    SampleResult s;
    s.index = p.index;
    s.output = p.output;
    s.gold = items[p.index].gold;
    if (is_gsm8k(dataset)) {
      Gsm8kVerdict v = gsm8k_score(p.output, s.gold);
      s.extracted = v.strict_extracted;
      s.correct = v.strict_correct;
      s.extracted_flexible = v.flexible_extracted;
      s.correct_flexible = v.flexible_correct;
    } else {
      MathVerdict v = math_score(p.output, s.gold);
      s.extracted = v.extracted;
      s.correct = v.correct;
      s.reason = v.reason;
    }
    r.correct += s.correct;
    r.correct_flexible += s.correct_flexible;
    r.samples.push_back(std::move(s));
  }
  std::sort(r.samples.begin(), r.samples.end(),
            [](const SampleResult& a, const SampleResult& b) { return a.index < b.index; });
  r.n = static_cast<int64_t>(r.samples.size());
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

EvalScoreResult score_eval(const EvalScoreOptions& options) {
  std::string test_file = eval_test_file(options.dataset);
  SRA_CHECK(options.references || !options.predictions.empty(),
            "[eval] pass --predictions FILE.jsonl or --references");
  SRA_CHECK(!(options.references && !options.predictions.empty()),
            "[eval] --predictions and --references are exclusive");
  std::string data_dir = resolve_data_dir(options.data_dir);
  std::vector<EvalItem> items = load_eval_items(options.dataset, data_dir);
  std::vector<Prediction> preds;
  if (options.references) {
    for (size_t i = 0; i < items.size(); ++i) preds.push_back({static_cast<int64_t>(i), items[i].reference});
  } else {
    preds = read_predictions(options.predictions, items.size());
  }
  EvalScoreResult r = score_eval(options.dataset, items, preds);
  r.source = options.references ? "references" : options.predictions;
  return r;
}

Json EvalScoreResult::summary() const {
  Json j = Json::object({{"dataset", dataset}, {"n", n}});
  if (dataset == "gsm8k") {
    j.set("strict", Json::object({{"correct", correct}, {"accuracy", ratio(correct, n)}}));
    j.set("flexible",
          Json::object({{"correct", correct_flexible}, {"accuracy", ratio(correct_flexible, n)}}));
  } else {
    j.set("correct", correct);
    j.set("accuracy", ratio(correct, n));
  }
  j.set("source", source);
  j.set("seconds", seconds);
  return j;
}

void write_eval_outputs(const EvalScoreResult& result, const std::string& out_dir) {
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  SRA_CHECK(!ec, "[eval] cannot create '", out_dir, "': ", ec.message());
  {
    std::ofstream f(out_dir + "/summary.json", std::ios::binary);
    SRA_CHECK(f.good(), "[eval] cannot write '", out_dir, "/summary.json'");
    f << result.summary().dump() << "\n";
  }
  std::ofstream f(out_dir + "/samples.jsonl", std::ios::binary);
  SRA_CHECK(f.good(), "[eval] cannot write '", out_dir, "/samples.jsonl'");
  bool gsm8k = result.dataset == "gsm8k";
  std::string line;
  for (const auto& s : result.samples) {
    Json j = Json::object({{"index", s.index}, {"output", s.output}});
    j.set("extracted", s.extracted ? Json(*s.extracted) : Json());
    j.set("gold", s.gold);
    j.set("correct", s.correct);
    if (gsm8k) {
      j.set("extracted_flexible", s.extracted_flexible);
      j.set("correct_flexible", s.correct_flexible);
    } else {
      j.set("reason", s.reason);
    }
    line.clear();
    j.dump_to(line);
    line.push_back('\n');
    f << line;
  }
  SRA_CHECK(f.good(), "[eval] error writing '", out_dir, "/samples.jsonl'");
}

int run_eval_score(const EvalScoreOptions& options, std::ostream& out) {
  EvalScoreResult r = score_eval(options);
  if (!options.out_dir.empty()) write_eval_outputs(r, options.out_dir);
  out << r.summary().dump() << "\n";
  return 0;
}

}  // namespace sra::eval
