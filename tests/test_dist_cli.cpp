// Data parallel end to end through the `sra` binary on CPU ranks (tiny dense model, byte-level text: every
// row of seq_len tokens is all target, so the ranks' mean of per-rank mean losses is the one-process mean
// over all rows): --nproc-per-node 2 with train.batch_size b·2 (each rank b rows) gives the parameters of
// one process after k steps (f32, up to summation order); resume across 2 → 1 and 1 → 2 ranks; a killed
// or stopped rank ends the job within distributed.timeout_s and the last checkpoint loads; eval over 2
// ranks writes the samples and summary of 1 rank; a config that differs between ranks fails at start; sra rl
// over 2 ranks keeps the ranks' routers equal (its held-out evaluation, split across them, matches a
// one-process sra eval of its final checkpoint); under mpirun, distributed.backend mpi gives tcp's bits.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <regex>
#include <thread>

#include "child_process.h"
#include "cli_test_util.h"
#include "core/dist/mpi.h"
#include "core/dist/nccl.h"
#include "core/dist/socket.h"
#include "core/json.h"
#include "data_test_util.h"
#include "run/checkpoint.h"
#include "run/config.h"
#include "run/model_io.h"

namespace {

using namespace sra;
using namespace sra::testing;
namespace fs = std::filesystem;

// A tiny dense byte model on the shakespeare sample: 6 steps of 4 rows (2 per rank on 2 ranks).
std::string tiny_config(const fs::path& dir, const std::string& extra = "") {
  const std::string text =
      "model:\n  vocab_size: 256\n  d_model: 32\n  n_layers: 2\n  n_heads: 2\n"
      "  n_kv_heads: 2\n  d_ff: 64\n  max_seq_len: 32\n  attention: dense\n"
      "data:\n  dataset: text\n  path: " +
      shakespeare_sample_path() +
      "\n  tokenizer: \"\"\n  seq_len: 32\n  seed: 3\n"
      "optimizer:\n  lr: 1.0e-2\n  grad_clip: 1.0\n"
      "schedule:\n  warmup_steps: 2\n"
      "train:\n  batch_size: 4\n  steps: 6\n  eval_every: 3\n  eval_batches: 1\n"
      "  checkpoint_every: 3\n  keep_last: 0\n"
      "logging:\n  log_every: 1\n  progress: off\n"
      "distributed:\n  timeout_s: 30\n" +
      extra;
  const fs::path p = dir / "tiny.yaml";
  write_text(p, text);
  return p.string();
}

Checkpoint last_checkpoint(const fs::path& out, int64_t step) {
  return load_checkpoint(checkpoint_path(out.string(), step));
}

// Every model tensor of a and b agrees within rel·max|a| + 1e-7: the ranks sum in another order, and
// AdamW's normalised steps turn 1e-7 gradient differences into ~1e-4 of the weights after 6 steps (a
// wrong slice or an unaveraged gradient is off by ~lr = 1e-2, a hundred times more).
void check_close(const Checkpoint& a, const Checkpoint& b, double rel) {
  REQUIRE(a.tensors.size() == b.tensors.size());
  int compared = 0;
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    const auto& [na, ta] = a.tensors[i];
    const auto& [nb, tb] = b.tensors[i];
    REQUIRE(na == nb);
    if (na.rfind("model/", 0) != 0) continue;
    const std::vector<double> x = ta.to_vector<double>(), y = tb.to_vector<double>();
    double m = 0, d = 0;
    for (size_t k = 0; k < x.size(); ++k)
      m = std::max(m, std::abs(x[k])), d = std::max(d, std::abs(x[k] - y[k]));
    INFO(na, ": max |diff| ", d, " of max |x| ", m);
    CHECK(d <= rel * m + 1e-7);
    ++compared;
  }
  CHECK(compared > 5);
}

// Every tensor of a and b (model, optimizer state, ...) has the same bits.
void check_same_bits(const Checkpoint& a, const Checkpoint& b) {
  REQUIRE(a.tensors.size() == b.tensors.size());
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    const auto& [na, ta] = a.tensors[i];
    const auto& [nb, tb] = b.tensors[i];
    REQUIRE(na == nb);
    INFO(na);
    CHECK(ta.to_vector<double>() == tb.to_vector<double>());
  }
}

Run train(const std::string& cfg, const fs::path& out, std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"train", "--config", cfg, "--out", out.string()};
  args.insert(args.end(), extra.begin(), extra.end());
  return run_sra(args);
}

// The pid the launcher printed for `rank` ("launch: rank R pid P").
pid_t worker_pid(const std::string& log, int rank) {
  std::smatch m;
  const std::regex re("launch: rank " + std::to_string(rank) + " pid ([0-9]+)");
  REQUIRE_MESSAGE(std::regex_search(log, m, re), log);
  return pid_t(std::stol(m[1].str()));
}

// The exit status within timeout_s, else the launcher is killed and the test fails.
int wait_exit_within(pid_t pid, double timeout_s, double* took) {
  const auto t0 = std::chrono::steady_clock::now();
  for (;;) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      *took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() > timeout_s) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      FAIL("the job did not end within ", timeout_s, " s");
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace

TEST_CASE("dist train: 2 ranks x 2 rows equal 1 rank x 4 rows; resume 2 -> 1 and 1 -> 2 ranks") {
  const fs::path dir = temp_dir("dist_train");
  const std::string cfg = tiny_config(dir);
  Run one = train(cfg, dir / "one");
  REQUIRE_MESSAGE(one.rc == 0, one.err);
  Run two = train(cfg, dir / "two", {"--nproc-per-node", "2"});
  REQUIRE_MESSAGE(two.rc == 0, two.err);
  CHECK(two.out.find("data parallel: 2 ranks (tcp), 2 rows per rank of each micro-batch of 4") !=
        std::string::npos);
  CHECK(two.out.find("done: step 6 of 6") != std::string::npos);
  check_close(last_checkpoint(dir / "one", 6), last_checkpoint(dir / "two", 6), 3e-4);
  // rank 0 alone logs: one metrics line per step, losses as one process's
  const std::vector<Json> m1 = read_metrics(dir / "one"), m2 = read_metrics(dir / "two");
  REQUIRE(m1.size() == 6);
  REQUIRE(m2.size() == 6);
  for (size_t i = 0; i < 6; ++i)
    CHECK(m2[i]["loss"].as_double() == doctest::Approx(m1[i]["loss"].as_double()).epsilon(1e-5));
  CHECK(m2[2]["val_loss"].as_double() == doctest::Approx(m1[2]["val_loss"].as_double()).epsilon(1e-5));

  // 2 ranks to step 3, then 1 rank to 6; 1 rank to 3, then 2 ranks to 6: the data position is global
  Run a = train(cfg, dir / "a", {"--nproc-per-node", "2", "--max-steps", "3"});
  REQUIRE_MESSAGE(a.rc == 0, a.err);
  a = train(cfg, dir / "a", {"--resume", "auto"});
  REQUIRE_MESSAGE(a.rc == 0, a.err);
  CHECK(a.out.find("resumed from") != std::string::npos);
  check_close(last_checkpoint(dir / "one", 6), last_checkpoint(dir / "a", 6), 3e-4);
  Run b = train(cfg, dir / "b", {"--max-steps", "3"});
  REQUIRE_MESSAGE(b.rc == 0, b.err);
  b = train(cfg, dir / "b", {"--resume", "auto", "--nproc-per-node", "2"});
  REQUIRE_MESSAGE(b.rc == 0, b.err);
  CHECK(b.out.find("resumed from") != std::string::npos);
  check_close(last_checkpoint(dir / "one", 6), last_checkpoint(dir / "b", 6), 3e-4);
  CHECK(read_metrics(dir / "b").size() == 6);
}

TEST_CASE("dist train: batch_size not a multiple of the ranks is refused") {
  const fs::path dir = temp_dir("dist_refuse");
  Run r = train(tiny_config(dir), dir / "x", {"--nproc-per-node", "3"});
  CHECK(r.rc == 1);
  CHECK(r.err.find("[train] train.batch_size 4 (the global micro-batch) must be a multiple of the 3 ranks") !=
        std::string::npos);
  CHECK(r.err.find("launch: rank ") != std::string::npos);
  r = train(tiny_config(dir, ""), dir / "y", {"--set", "distributed.zero=2"});
  CHECK(r.rc == 2);
  CHECK(error_line(r.err).find("distributed.zero") != std::string::npos);
}

// Every tensor (model and optimizer state) of a and b within rel·max|a| (+ 1e-9 when rel > 0; rel 0: the
// same bits).
void check_all_close(const Checkpoint& a, const Checkpoint& b, double rel) {
  REQUIRE(a.tensors.size() == b.tensors.size());
  double worst = 0;
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    const auto& [na, ta] = a.tensors[i];
    const auto& [nb, tb] = b.tensors[i];
    REQUIRE(na == nb);
    if (!is_floating(ta.dtype())) {
      CHECK_MESSAGE(ta.to_vector<int64_t>() == tb.to_vector<int64_t>(), na);
      continue;
    }
    const std::vector<double> x = ta.to_vector<double>(), y = tb.to_vector<double>();
    REQUIRE(x.size() == y.size());
    double m = 0, d = 0;
    for (size_t k = 0; k < x.size(); ++k)
      m = std::max(m, std::abs(x[k])), d = std::max(d, std::abs(x[k] - y[k]));
    INFO(na, ": max |diff| ", d, " of max |x| ", m);
    CHECK(d <= (rel > 0 ? rel * m + 1e-9 : 0.0));
    worst = std::max(worst, d / (m + 1e-30));
  }
  MESSAGE("largest relative difference ", worst);
}

TEST_CASE(
    "dist train zero: ZeRO-1 over 2 ranks = plain data parallel over 2 ranks = 1 rank; resume anywhere") {
  const fs::path dir = temp_dir("dist_zero");
  const std::string cfg = tiny_config(dir);
  Run one = train(cfg, dir / "one");
  REQUIRE_MESSAGE(one.rc == 0, one.err);
  Run dp = train(cfg, dir / "dp", {"--nproc-per-node", "2"});
  REQUIRE_MESSAGE(dp.rc == 0, dp.err);
  Run z = train(cfg, dir / "z", {"--nproc-per-node", "2", "--set", "distributed.zero=1"});
  REQUIRE_MESSAGE(z.rc == 0, z.err);
  CHECK(z.out.find("ZeRO-1: AdamW state sharded over 2 ranks") != std::string::npos);
  CHECK(z.out.find("done: step 6 of 6") != std::string::npos);
  // the same reduced gradients (tcp sums in rank order either way) and the per-element AdamW: only the
  // norm's summation order differs, so parameters and moments agree to f32 rounding
  for (int64_t step : {3, 6})
    check_all_close(last_checkpoint(dir / "dp", step), last_checkpoint(dir / "z", step), 1e-6);
  check_close(last_checkpoint(dir / "one", 6), last_checkpoint(dir / "z", 6), 3e-4);
  // the all-reduces overlapped with the backward (distributed.overlap, the default) = after it, bit for bit
  Run seq = train(cfg, dir / "seq", {"--nproc-per-node", "2", "--set", "distributed.overlap=false"});
  REQUIRE_MESSAGE(seq.rc == 0, seq.err);
  check_all_close(last_checkpoint(dir / "dp", 6), last_checkpoint(dir / "seq", 6), 0.0);
  const std::vector<Json> md = read_metrics(dir / "dp"), mz = read_metrics(dir / "z");
  REQUIRE(mz.size() == 6);
  for (size_t i = 0; i < 6; ++i) {
    CHECK(mz[i]["loss"].as_double() == doctest::Approx(md[i]["loss"].as_double()).epsilon(1e-6));
    CHECK(mz[i]["grad_norm"].as_double() == doctest::Approx(md[i]["grad_norm"].as_double()).epsilon(1e-6));
  }

  // a ZeRO-1 checkpoint resumes on 1 rank (plain AdamW), a plain one under ZeRO-1 on 2 ranks
  Run a = train(cfg, dir / "a", {"--nproc-per-node", "2", "--set", "distributed.zero=1", "--max-steps", "3"});
  REQUIRE_MESSAGE(a.rc == 0, a.err);
  a = train(cfg, dir / "a", {"--resume", "auto"});
  REQUIRE_MESSAGE(a.rc == 0, a.err);
  CHECK(a.out.find("resumed from") != std::string::npos);
  check_all_close(last_checkpoint(dir / "one", 6), last_checkpoint(dir / "a", 6), 3e-4);
  Run b = train(cfg, dir / "b", {"--max-steps", "3"});
  REQUIRE_MESSAGE(b.rc == 0, b.err);
  b = train(cfg, dir / "b", {"--resume", "auto", "--nproc-per-node", "2", "--set", "distributed.zero=1"});
  REQUIRE_MESSAGE(b.rc == 0, b.err);
  CHECK(b.out.find("resumed from") != std::string::npos);
  check_all_close(last_checkpoint(dir / "dp", 6), last_checkpoint(dir / "b", 6), 3e-4);
  check_close(last_checkpoint(dir / "one", 6), last_checkpoint(dir / "b", 6), 3e-4);
}

TEST_CASE("dist train: a killed rank ends the job at once; a stopped one within the timeout") {
  const fs::path dir = temp_dir("dist_kill");
  const std::string cfg = tiny_config(dir, "  backend: tcp\n");  // appended under distributed:
  for (int sig : {SIGKILL, SIGSTOP}) {
    INFO("signal ", sig);
    const fs::path out = dir / ("run" + std::to_string(sig));
    const std::string log = (dir / ("log" + std::to_string(sig))).string();
    pid_t job = spawn_sra({"train", "--config", cfg, "--out", out.string(), "--nproc-per-node", "2", "--set",
                           "train.steps=100000", "--set", "train.checkpoint_every=2", "--set",
                           "train.eval_every=0", "--set", "distributed.timeout_s=3"},
                          log);
    REQUIRE_MESSAGE(wait_for_output(job, log, "saved ", 120), slurp(log));
    ::kill(worker_pid(slurp(log), 1), sig);
    double took = 0;
    const int rc = wait_exit_within(job, 60, &took);
    const std::string text = slurp(log);
    INFO(text);
    CHECK(rc != 0);
    CHECK(took < (sig == SIGKILL ? 15 : 30));
    if (sig == SIGKILL) {  // reported by the launcher, or by rank 0 if it ends first
      CHECK((text.find("launch: rank 1 was killed by signal 9; stopping the other ranks") !=
                 std::string::npos ||
             text.find("with rank 1 (") != std::string::npos));
    } else {
      CHECK(text.find("no answer before the timeout (distributed.timeout_s)") != std::string::npos);
      CHECK(text.find("launch: rank 0 exited with status 1; stopping the other ranks") != std::string::npos);
    }
    // the newest checkpoint rank 0 wrote still loads
    std::vector<std::string> cks = list_checkpoints(out.string());
    REQUIRE(!cks.empty());
    CHECK_NOTHROW(load_checkpoint(cks.front()));  // newest first
  }
}

TEST_CASE("dist eval: 2 ranks write the samples and summary of 1 rank") {
  const fs::path dir = temp_dir("dist_eval");
  const std::string cfg = tiny_config(dir);
  Run t =
      train(cfg, dir / "run",
            {"--set", "train.steps=2", "--set", "schedule.warmup_steps=1", "--set", "model.max_seq_len=512"});
  REQUIRE_MESSAGE(t.rc == 0, t.err);
  const std::string ck = checkpoint_path((dir / "run").string(), 2);
  std::vector<std::string> args = {"eval", "--checkpoint", ck,  "--dataset",        "synthetic", "--limit",
                                   "7",    "--batch",      "2", "--max-new-tokens", "6"};
  std::vector<std::string> one = args, two = args;
  for (const char* a : {"--out", ""}) one.push_back(a), two.push_back(a);
  one.back() = (dir / "e1").string();
  two.back() = (dir / "e2").string();
  two.push_back("--nproc-per-node");
  two.push_back("2");
  Run r1 = run_sra(one), r2 = run_sra(two);
  REQUIRE_MESSAGE(r1.rc == 0, r1.err);
  REQUIRE_MESSAGE(r2.rc == 0, r2.err);
  // equal but for the timings
  auto strip = [](Json j) {
    for (const char* k : {"latency_ms", "latency_mean_ms", "latency_p95_ms", "seconds", "prefill_seconds",
                          "prefill_tokens_per_s", "tokens_per_s", "items_per_s"})
      if (j.contains(k)) j.set(k, Json());
    return j.dump();
  };
  std::istringstream s1(slurp(dir / "e1" / "samples.jsonl")), s2(slurp(dir / "e2" / "samples.jsonl"));
  std::string l1, l2;
  int lines = 0;
  while (std::getline(s1, l1)) {
    REQUIRE(std::getline(s2, l2));
    CHECK(strip(Json::parse(l1)) == strip(Json::parse(l2)));
    ++lines;
  }
  CHECK(lines == 7);
  CHECK(!std::getline(s2, l2));
  CHECK(strip(Json::parse(slurp(dir / "e1" / "summary.json"))) ==
        strip(Json::parse(slurp(dir / "e2" / "summary.json"))));
}

TEST_CASE("dist train: ranks started with torchrun variables and different configs fail at start") {
  const fs::path dir = temp_dir("dist_mismatch");
  const std::string cfg = tiny_config(dir);
  const std::string port = std::to_string(dist::Listener(0).port());
  std::vector<pid_t> pids;
  for (int r = 0; r < 2; ++r) {
    ::setenv("RANK", std::to_string(r).c_str(), 1);
    ::setenv("WORLD_SIZE", "2", 1);
    ::setenv("LOCAL_RANK", std::to_string(r).c_str(), 1);
    ::setenv("MASTER_ADDR", "127.0.0.1", 1);
    ::setenv("MASTER_PORT", port.c_str(), 1);
    pids.push_back(spawn_sra({"train", "--config", cfg, "--out", (dir / "out").string(), "--set",
                              "optimizer.lr=" + std::string(r == 0 ? "0.01" : "0.02")},
                             (dir / ("log" + std::to_string(r))).string()));
  }
  for (const char* v : {"RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"}) ::unsetenv(v);
  for (int r = 0; r < 2; ++r) {
    double took = 0;
    CHECK(wait_exit_within(pids[size_t(r)], 60, &took) == 1);
    const std::string log = slurp(dir / ("log" + std::to_string(r)));
    INFO(log);
    CHECK(log.find("[dist] the resolved config differs between ranks (hash:length): rank 0 has ") !=
          std::string::npos);
  }
  CHECK(!fs::exists(dir / "out" / "config.yaml"));  // refused before anything was written
}

namespace {

// A byte-level SRA model on short synthetic problems, untrained (tests/test_rl.cpp's), and its RL config.
const char* kSraModel = R"(model:
  vocab_size: 256
  d_model: 32
  n_layers: 2
  n_heads: 2
  n_kv_heads: 2
  d_ff: 64
  max_seq_len: 320
  attention: sra
  dense_layers: [0]
  window: 8
  sinks: 2
router:
  hidden: 16
  init_threshold: 0.0
data:
  dataset: synthetic
  seq_len: 64
  synthetic:
    min_hops: 1
    max_hops: 2
    min_distractors: 0
    max_distractors: 1
    unused_variables: 1
)";

const char* kRlConfig = R"(rl:
  steps: 4
  prompts_per_step: 2
  group_size: 3
  max_new_tokens: 6
  eval_every: 4
  eval_problems: 16
  checkpoint_every: 2
  keep_last: 0
optimizer:
  lr: 0.05
  weight_decay: 0.0
logging:
  log_every: 1
distributed:
  backend: tcp
  timeout_s: 60
)";

}  // namespace

TEST_CASE("dist rl: 2 ranks train the routers together; their split evaluation is one model's") {
  const fs::path dir = temp_dir("dist_rl");
  write_text(dir / "sup.yaml", kSraModel);
  RunConfig cfg = load_config((dir / "sup.yaml").string(), {});
  LoadedModel lm = model_from_config(cfg);
  const std::string init = (dir / "init.h5").string();
  save_checkpoint(model_checkpoint(cfg, *lm.model, 0), init);
  write_text(dir / "rl.yaml", kRlConfig);
  Run r = run_sra({"rl", "--config", (dir / "rl.yaml").string(), "--init", init, "--out",
                   (dir / "run").string(), "--nproc-per-node", "2"});
  REQUIRE_MESSAGE(r.rc == 0, r.err);
  const std::vector<Json> m = read_metrics(dir / "run");
  REQUIRE(m.size() == 5);  // the step-0 evaluation, then steps 1..4 (rank 0 alone writes)
  CHECK(m[4]["eval_n"].as_int() == 16);
  // the routers moved; the LM did not
  const Checkpoint a = load_checkpoint(init), b = load_checkpoint(checkpoint_path((dir / "run").string(), 4));
  int changed = 0;
  for (const auto& [name, t] : a.tensors) {
    const Tensor* u = b.find(name);
    REQUIRE(u != nullptr);
    const bool same = std::memcmp(t.raw(), u->raw(), size_t(t.numel()) * dtype_size(t.dtype())) == 0;
    if (name.find(".router.") == std::string::npos) CHECK_MESSAGE(same, name);
    changed += !same;
  }
  CHECK(changed > 0);
  // problems 8..15 were answered by rank 1's model: the same samples as one process with rank 0's
  Run e = run_sra({"eval", "--checkpoint", checkpoint_path((dir / "run").string(), 4), "--dataset",
                   "synthetic", "--limit", "16", "--batch", "8", "--out", (dir / "eval").string()});
  REQUIRE_MESSAGE(e.rc == 0, e.err);
  std::istringstream s1(slurp(dir / "run" / "eval" / "step-00000004" / "samples.jsonl")),
      s2(slurp(dir / "eval" / "samples.jsonl"));
  std::string l1, l2;
  int lines = 0;
  while (std::getline(s1, l1) && std::getline(s2, l2)) {
    Json j1 = Json::parse(l1), j2 = Json::parse(l2);
    j1.set("latency_ms", Json()), j2.set("latency_ms", Json());
    CHECK(j1.dump() == j2.dump());
    ++lines;
  }
  CHECK(lines == 16);
}

TEST_CASE("dist cuda: one NCCL rank (--nproc-per-node 1) trains as one plain process" *
          doctest::skip(!cuda::available() || !dist::nccl::built())) {
  const fs::path dir = temp_dir("dist_nccl");
  const std::string cfg = tiny_config(dir, "  backend: nccl\ndevice: cuda\n");
  Run one = train(cfg, dir / "one");
  REQUIRE_MESSAGE(one.rc == 0, one.err);
  Run nccl = train(cfg, dir / "nccl", {"--nproc-per-node", "1"});
  REQUIRE_MESSAGE(nccl.rc == 0, nccl.err);
  CHECK(nccl.out.find("data parallel: 1 ranks (nccl)") != std::string::npos);
  check_close(last_checkpoint(dir / "one", 6), last_checkpoint(dir / "nccl", 6), 1e-6);
  // the bucket all-reduces after the backward instead of on the communication stream during it: the same bits
  Run seq = train(cfg, dir / "seq", {"--nproc-per-node", "1", "--set", "distributed.overlap=false"});
  REQUIRE_MESSAGE(seq.rc == 0, seq.err);
  check_all_close(last_checkpoint(dir / "nccl", 6), last_checkpoint(dir / "seq", 6), 0.0);
  // ZeRO-1 on one NCCL rank: ncclReduceScatter / ncclAllGather over one chunk, the norm in the same order
  Run z = train(cfg, dir / "z", {"--nproc-per-node", "1", "--set", "distributed.zero=1"});
  REQUIRE_MESSAGE(z.rc == 0, z.err);
  CHECK(z.out.find("ZeRO-1: AdamW state sharded over 1 ranks") != std::string::npos);
  check_all_close(last_checkpoint(dir / "one", 6), last_checkpoint(dir / "z", 6), 1e-6);
}

// 3 ranks (with 2 the rank order of a sum changes no bit) x 2 rows, under mpirun as root in a container
// (shared memory may be unavailable: tcp between the ranks; no binding: each rank's threads may use both
// cores; a hang fails within 120 s).
TEST_CASE(
    "dist train: backend mpi under mpirun gives the bits of backend tcp; refused under --nproc-per-node" *
    doctest::skip(!dist::mpi::built())) {
  const fs::path dir = temp_dir("dist_mpi");
  const std::string mpirun =
      "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,tcp "
      "timeout 120 mpirun --allow-run-as-root --oversubscribe --bind-to none -np 3 ";
  std::string cfg;
  for (const std::string zero : {"0", "1"}) {  // all-reduces overlapped with the backward; ZeRO-1
    INFO("distributed.zero ", zero);
    const fs::path tcp_out = dir / ("tcp" + zero), mpi_out = dir / ("mpi" + zero);
    cfg = tiny_config(dir, "  zero: " + zero + "\n");
    Run tcp =
        train(cfg, tcp_out,
              {"--nproc-per-node", "3", "--set", "distributed.backend=tcp", "--set", "train.batch_size=6"});
    REQUIRE_MESSAGE(tcp.rc == 0, tcp.err);
    Run mpi = run_sra({"train", "--config", cfg, "--out", mpi_out.string(), "--set",
                       "distributed.backend=mpi", "--set", "train.batch_size=6"},
                      mpirun);
    REQUIRE_MESSAGE(mpi.rc == 0, mpi.out, mpi.err);
    CHECK(mpi.out.find("data parallel: 3 ranks (mpi)") != std::string::npos);
    CHECK(mpi.out.find("done: step 6 of 6") != std::string::npos);
    check_same_bits(last_checkpoint(tcp_out, 3), last_checkpoint(mpi_out, 3));
    check_same_bits(last_checkpoint(tcp_out, 6), last_checkpoint(mpi_out, 6));
    const std::vector<Json> m1 = read_metrics(tcp_out), m2 = read_metrics(mpi_out);
    REQUIRE(m1.size() == 6);
    REQUIRE(m2.size() == 6);
    for (size_t i = 0; i < 6; ++i) CHECK(m2[i]["loss"].as_double() == m1[i]["loss"].as_double());
  }

  Run refused = train(cfg, dir / "refused", {"--nproc-per-node", "2", "--set", "distributed.backend=mpi"});
  CHECK(refused.rc != 0);
  CHECK_MESSAGE(refused.err.find("use mpirun -np N") != std::string::npos, refused.err);
}
