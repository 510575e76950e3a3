// Thread-count determinism of a real training run: `run_train` (the `sra train` loop) on an SRA model
// (layer 0 dense, layer 1 sparse; router training with logistic noise and the straight-through gate, a
// budget loss, the quantile threshold update), 3 steps with validation, once with 1 thread and once with
// 2. The logged losses, gradient norms, selected ratios and validation losses, and every tensor of the
// final checkpoint (parameters, router thresholds, AdamW moments) are bitwise equal.
//
// The sizes are chosen so that the work really splits across the 2 threads, and that is measured, not
// reasoned: core/parallel.h records, for every parallel_for call site, how many calls ran as more than
// one chunk (parallel_stats_begin/end), and the test requires that every kernel file the run reached
// (an op or a family of ops: GEMM, RMSNorm, cross-entropy, AdamW, dense attention and its tile
// copies, the sparse kernel, embedding, RoPE, elementwise, dropout/noise, strided copies) split at
// least one call, except the files in kNeverSplitHere, each with its reason (and each must still be
// reached, so the list cannot go stale). The sizes that make it so, from the grains: GEMM blocks need
// a side >= 512 and >= 2^24 multiply-adds each (matmul_cpu.cpp grid_for): 1024 tokens × d_model 256 ×
// d_ff 512; the attention tile copies need B·T·d_model > 2^17; RMSNorm and cross-entropy split past
// 16384 / 256 = 64 rows; AdamW past 16384 elements (every weight matrix). The test prints the count of
// each site when a check fails. About 4 s of CPU for both runs.
#include <doctest/doctest.h>

#include <map>
#include <sstream>

#include "core/json.h"
#include "core/parallel.h"
#include "data_test_util.h"
#include "run/checkpoint.h"
#include "train/trainer.h"

using namespace sra;
using sra::testing::temp_dir;
using sra::testing::write_text;

namespace {

const char* kConfig = R"(model:
  vocab_size: 256
  d_model: 256
  n_layers: 2
  n_heads: 4
  n_kv_heads: 2
  d_ff: 512
  max_seq_len: 128
  attention: sra
  dense_layers: [0]
  window: 16
  sinks: 2
router:
  hidden: 32
  target_ratio: 0.2
  init_threshold: 1.0
  temperature: 1.0
  temperature_final: 0.5
  budget_weight: 0.01
data:
  dataset: synthetic
  seq_len: 128
optimizer:
  lr: 0.003
schedule:
  warmup_steps: 1
train:
  batch_size: 8
  grad_accum: 1
  steps: 3
  eval_every: 3
  eval_batches: 1
  checkpoint_every: 0
logging:
  log_every: 1
)";

// Kernel files none of whose loops can split at this size, and why: their inputs are the router's
// per-token values, (B, T) = 8 × 128 = 1024 of them, against grains of 16384 elements (splitting them
// would need a batch of more than 16384 tokens). Every other kernel file reached must split.
const char* kNeverSplitHere[] = {
    // gt: the router's hard selection s + τ·noise > θ, one comparison per token
    "kernels/index/index_cpu.cpp",
    // sums over the tokens of the router's (B, T) scores and gates and of its bias gradients (hidden 32)
    "kernels/reduce/reduce_cpu.cpp",
};

struct RunRecord {
  std::vector<std::string> metrics;  // each metrics line without tokens_per_s (wall time)
  Checkpoint final;
  std::vector<ParallelSiteStats> stats;
};

RunRecord train_with_threads(int threads) {
  const std::filesystem::path dir = temp_dir("threads");
  write_text(dir / "run.yaml", kConfig);
  TrainOptions opt;
  opt.config = (dir / "run.yaml").string();
  opt.out_dir = (dir / "out").string();
  const int saved = num_threads();
  set_num_threads(threads);
  std::ostringstream log;
  parallel_stats_begin();
  int rc = run_train(opt, log);
  RunRecord r;
  r.stats = parallel_stats_end();
  set_num_threads(saved);
  REQUIRE(rc == 0);
  for (Json& j : sra::testing::read_metrics(dir / "out")) {
    j["tokens_per_s"] = 0;
    r.metrics.push_back(j.dump());
  }
  r.final = load_checkpoint(checkpoint_path(opt.out_dir, 3));
  return r;
}

// The file of a "file:line" site.
std::string file_of(const std::string& site) {
  return site.substr(0, site.rfind(':'));
}

}  // namespace

TEST_CASE("trainer: an SRA run is bitwise identical with 1 and 2 threads, and its work splits across both") {
  RunRecord one = train_with_threads(1);
  RunRecord two = train_with_threads(2);

  // per kernel file (an op, or a family of ops): calls, and calls that ran as 2 chunks
  std::map<std::string, std::pair<int64_t, int64_t>> files;
  int64_t calls = 0, split = 0;
  for (const ParallelSiteStats& s : two.stats) {
    files[file_of(s.site)].first += s.calls, files[file_of(s.site)].second += s.split;
    calls += s.calls, split += s.split;
  }
  for (const char* file : kNeverSplitHere) {
    INFO(file << " is listed but no longer reached: remove it from kNeverSplitHere");
    CHECK(files.count(file) == 1);
  }
  for (const auto& [file, counts] : files) {
    bool listed = false;
    for (const char* f : kNeverSplitHere) listed = listed || file == f;
    std::string sites;
    for (const ParallelSiteStats& s : two.stats)
      if (file_of(s.site) == file)
        sites += " " + s.site + " " + std::to_string(s.split) + "/" + std::to_string(s.calls);
    INFO(file << ": " << counts.second << " of " << counts.first << " calls split (" << sites << " )");
    CHECK((counts.second > 0 || listed));
  }
  MESSAGE(split << " of " << calls << " parallel loops split across 2 threads, over " << two.stats.size()
                << " call sites in " << files.size() << " files");
  for (const ParallelSiteStats& s : one.stats) CHECK(s.split == 0);  // 1 thread: nothing splits

  // the logged losses and the final state are bitwise equal
  REQUIRE(one.metrics.size() == 3);
  CHECK(one.metrics == two.metrics);
  CHECK(one.metrics.back().find("\"val_loss\"") != std::string::npos);
  sra::testing::check_same_tensors(one.final, two.final);
}
