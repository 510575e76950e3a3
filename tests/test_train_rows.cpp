// The trainer's rows: with synthetic data at seq_len 64, most stride-64 rows lie inside a long prompt
// (loss mask 0 everywhere) and once made whole batches with no target token, which logged a loss of 0
// and used up schedule steps. The trainer now leaves those rows out and says how many; every step has
// target tokens and a positive loss.
#include <doctest/doctest.h>

#include <sstream>

#include "core/json.h"
#include "data_test_util.h"
#include "train/trainer.h"

using namespace sra;
using sra::testing::read_metrics;
using sra::testing::temp_dir;
using sra::testing::write_text;

TEST_CASE("trainer: at seq_len 64 on synthetic data no step is without target tokens") {
  const std::filesystem::path dir = temp_dir("rows");
  write_text(dir / "run.yaml", R"(model:
  vocab_size: 256
  d_model: 16
  n_layers: 1
  n_heads: 2
  n_kv_heads: 2
  d_ff: 32
  max_seq_len: 64
  attention: dense
data:
  dataset: synthetic
  seq_len: 64
optimizer:
  lr: 0.001
schedule:
  warmup_steps: 5
train:
  batch_size: 1
  grad_accum: 1
  steps: 60
  eval_every: 0
  checkpoint_every: 0
logging:
  log_every: 60
)");
  TrainOptions opt;
  opt.config = (dir / "run.yaml").string();
  opt.out_dir = (dir / "out").string();
  std::ostringstream log;
  REQUIRE(run_train(opt, log) == 0);
  // the skipped rows are counted in the log
  const std::string text = log.str();
  const size_t at = text.find("data: skipped ");
  REQUIRE_MESSAGE(at != std::string::npos, text);
  std::istringstream counts(text.substr(at + std::string("data: skipped ").size()));
  int64_t skipped = 0;
  counts >> skipped;
  CHECK(skipped > 0);
  CHECK(text.find(" train and ", at) != std::string::npos);
  CHECK(text.find("rows of 64 tokens without a target token", at) != std::string::npos);
  // every one of the 60 steps trained on target tokens: its masked cross-entropy is positive
  const std::vector<Json> metrics = read_metrics(dir / "out");
  for (const Json& j : metrics) {
    INFO(j.dump());
    CHECK(j["loss"].as_double() > 0.0);
  }
  CHECK(metrics.size() == 60);
}
