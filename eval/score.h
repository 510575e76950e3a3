// `sra eval score`: scores given model outputs (or the datasets' own reference solutions) on the
// GSM8K and MATH test sets, with no model involved.
//   Datasets (under the data dir):  gsm8k   -> gsm8k/test.jsonl        (gold: text after "####")
//                                   math    -> math/test.jsonl          (gold: the "answer" field)
//                                   math500 -> math/math500_test.jsonl  (gold: the "answer" field)
//   Predictions: JSONL, one {"index": i, "output": "..."} per line, i the 0-based line number in the
//   dataset file; blank lines are skipped; a malformed line, an index out of range or a repeated
//   index is an error "[eval] FILE:LINE: ...". --references scores the dataset's reference solutions
//   (GSM8K "answer", MATH "solution") as the outputs, all items.
//   Scoring: GSM8K strict-match and flexible-extract (answer_gsm8k.h); MATH extraction and
//   equivalence (answer_math.h). n = number of scored items; accuracy = correct / n in [0, 1].
//   Outputs (with --out DIR): DIR/summary.json
//     gsm8k: {"dataset","n","strict":{"correct","accuracy"},"flexible":{"correct","accuracy"},...}
//     math, math500: {"dataset","n","correct","accuracy",...}
//   and DIR/samples.jsonl, sorted by index, one line per item:
//     {"index","output","extracted","gold","correct"} (+ gsm8k: "extracted_flexible",
//     "correct_flexible"; math: "reason"); "extracted" is null when MATH finds no answer.
//
// CLI wiring (tools/cli), e.g. with CLI11:
//   sra::eval::EvalScoreOptions opt;
//   sub->add_option("--dataset", opt.dataset)->required();   // gsm8k | math | math500
//   sub->add_option("--predictions", opt.predictions);
//   sub->add_flag("--references", opt.references);
//   sub->add_option("--out", opt.out_dir);
//   sub->add_option("--data-dir", opt.data_dir);
//   return sra::eval::run_eval_score(opt, std::cout);  // throws sra::Error on bad input
#pragma once
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "core/json.h"

namespace sra::eval {

struct EvalScoreOptions {
  std::string dataset;      // "gsm8k", "math" or "math500"
  std::string predictions;  // JSONL path; required unless references
  bool references = false;  // score the dataset's own reference solutions
  std::string out_dir;      // "" -> write nothing
  std::string data_dir;     // --data-dir; "" -> $SRA_DATA_DIR, else ../shared/data (resolve_data_dir)
};

struct EvalItem {
  std::string gold;       // GSM8K: the number after "####"; MATH: the "answer" field
  std::string reference;  // GSM8K: the "answer" text; MATH: the "solution" text
};

struct Prediction {
  int64_t index = 0;
  std::string output;
};

struct SampleResult {
  int64_t index = 0;
  std::string output;
  std::string gold;
  std::optional<std::string> extracted;  // GSM8K: strict ("[invalid]" when none); MATH: nullopt when none
  bool correct = false;                  // GSM8K: strict; MATH: equivalent
  std::string extracted_flexible;        // GSM8K only
  bool correct_flexible = false;         // GSM8K only
  std::string reason;                    // MATH only: the rule that decided
};

struct EvalScoreResult {
  std::string dataset;
  std::string source;  // "references" or the predictions path
  int64_t n = 0;
  int64_t correct = 0;           // GSM8K: strict
  int64_t correct_flexible = 0;  // GSM8K only
  double seconds = 0;            // time spent scoring (not loading)
  std::vector<SampleResult> samples;

  Json summary() const;
};

// "gsm8k/test.jsonl", "math/test.jsonl" or "math/math500_test.jsonl"; throws on an unknown dataset.
std::string eval_test_file(const std::string& dataset);
std::vector<EvalItem> load_eval_items(const std::string& dataset, const std::string& data_dir);
std::vector<Prediction> read_predictions(const std::string& path, size_t num_items);

// Scores `predictions` against `items` (indices already validated).
EvalScoreResult score_eval(const std::string& dataset, const std::vector<EvalItem>& items,
                           const std::vector<Prediction>& predictions);
// Resolves the data dir, loads everything and scores.
EvalScoreResult score_eval(const EvalScoreOptions& options);
// Writes DIR/summary.json and DIR/samples.jsonl (creating DIR).
void write_eval_outputs(const EvalScoreResult& result, const std::string& out_dir);
// score_eval + write_eval_outputs (when out_dir is set) + prints the summary JSON line to `out`.
// Returns 0; errors throw sra::Error.
int run_eval_score(const EvalScoreOptions& options, std::ostream& out);

}  // namespace sra::eval
