// `sra bench train` (tools/cli/bench_train.cpp): one JSON line with the fields issue "CUDA backend" sets
// for the training-step comparison, and numbers that agree with each other: tokens_per_s = B·T / step,
// mfu = (6·params·B·T + 6·L·d·T·B·T) / step / 989e12. A tiny model on the CPU (f32 and bf16 autocast),
// and on the GPU when there is one.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "cli_test_util.h"
#include "core/cuda_runtime.h"
#include "core/json.h"

using namespace sra;
using namespace sra::testing;

namespace {

void check_bench_line(const std::string& device, const std::string& precision,
                      const std::string& loss = "fused") {
  Run r = run_sra({"bench",     "train",    "--device", device,    "--precision", precision, "--d-model",
                   "32",        "--layers", "2",        "--heads", "4",           "--d-ff",  "64",
                   "--seq-len", "16",       "--batch",  "3",       "--vocab",     "64",      "--steps",
                   "3",         "--warmup", "1",        "--loss",  loss});
  INFO("stdout: ", r.out, "\nstderr: ", r.err);
  REQUIRE(r.rc == 0);
  REQUIRE(!r.out.empty());
  CHECK(r.out.find('\n') == r.out.size() - 1);  // one line
  Json j = Json::parse(r.out);
  CHECK(j["bench"].as_string() == "train");
  CHECK(j["config"].as_string() == "d32-L2-T16-B3-V64");
  CHECK(j["precision"].as_string() == precision);
  CHECK(j["loss"].as_string() == loss);
  CHECK(j["date"].as_string().size() == 10);
  CHECK(j["date"].as_string()[4] == '-');
  // params: embedding and untied head 2·64·32, per layer 4·32² + 3·32·64 + 2·32, the final norm 32
  const double params = 2 * 64 * 32 + 2 * (4 * 32 * 32 + 3 * 32 * 64 + 2 * 32) + 32;
  CHECK(j["params"].as_int() == int64_t(params));
  const double step_s = j["step_ms"].as_double() / 1e3, tokens = 3 * 16;
  REQUIRE(step_s > 0);
  // the phases: each timed, and a step is their sum (the median of sums vs the sum of medians: within
  // the spread of 3 steps)
  double phases = 0;
  for (const char* k : {"fwd_ms", "bwd_ms", "opt_ms"}) {
    CHECK(j[k].as_double() > 0);
    phases += j[k].as_double();
  }
  CHECK(phases <= 3 * j["step_ms"].as_double());
  CHECK(phases >= j["step_ms"].as_double() / 3);
  CHECK(std::abs(double(j["tokens_per_s"].as_int()) - tokens / step_s) <= 0.5 + 1e-3 * tokens / step_s);
  double flops = 6 * params * tokens + 6 * 2 * 32 * 16 * tokens;
  CHECK(std::abs(j["mfu"].as_double() - flops / step_s / 989e12) <= 1e-4);
  if (device == "cpu") {
    CHECK(j["device"].as_string() == "cpu");
    CHECK(j["peak_mem_gib"].type() == Json::Type::kNull);
  } else {
    CHECK(!j["device"].as_string().empty());
    CHECK(j["peak_mem_gib"].as_double() >= 0);
  }
}

// `sra bench attention --json` at two small lengths: one line each, the fields, times and the attended
// fraction (window 16, no critical token but the 2 sinks at ratio 0: pairs counted by hand); the precision
// defaults to f32 on the CPU and bf16 on the GPU.
void check_attention_lines(const std::string& device) {
  Run r = run_sra({"bench", "attention", "--json", "--device", device, "--seqs", "40,64", "--heads", "2",
                   "--head-dim", "16", "--window", "16", "--sinks", "2", "--ratio", "0", "--reps", "2"});
  INFO("stdout: ", r.out, "\nstderr: ", r.err);
  REQUIRE(r.rc == 0);
  std::vector<Json> lines;
  size_t at = 0;
  for (size_t nl; (nl = r.out.find('\n', at)) != std::string::npos; at = nl + 1)
    lines.push_back(Json::parse(r.out.substr(at, nl - at)));
  REQUIRE(lines.size() == 2);
  for (size_t i = 0; i < 2; ++i) {
    const Json& j = lines[i];
    const int64_t T = i == 0 ? 40 : 64;
    CHECK(j["bench"].as_string() == "attn");
    CHECK(j["seq"].as_int() == T);
    CHECK(j["heads"].as_int() == 2);
    CHECK(j["head_dim"].as_int() == 16);
    CHECK(j["critical"].as_int() == 2);
    CHECK(j["dtype"].as_string() == (device == "cpu" ? "f32" : "bf16"));  // the default precision
    CHECK(j["sra_tflops"].as_double() >= 0);
    CHECK(j["our_dense_tflops"].as_double() >= 0);
    CHECK(j["sra_ms"].as_double() > 0);
    CHECK(j["our_dense_ms"].as_double() > 0);
    CHECK((device == "cpu") == (j["device"].as_string() == "cpu"));
    // query q sees min(q + 1, 16) window keys and the sinks 0, 1 once they are ≥ 16 behind it
    double pairs = 0;
    for (int64_t q = 0; q < T; ++q)
      pairs += double(std::min<int64_t>(q + 1, 16) + std::min<int64_t>(std::max<int64_t>(q - 15, 0), 2));
    CHECK(std::abs(j["pair_fraction"].as_double() - pairs / (double(T) * double(T + 1) / 2)) <= 1e-4);
  }
}

}  // namespace

TEST_CASE("bench attention --json: one line per length, its fields and the attended fraction") {
  check_attention_lines("cpu");
}

TEST_CASE("cuda: bench attention --json on the GPU" * doctest::skip(!cuda::available())) {
  check_attention_lines("cuda");
}

TEST_CASE("bench train: one JSON line on the CPU, f32 and bf16, fused and unfused loss") {
  check_bench_line("cpu", "f32");
  check_bench_line("cpu", "bf16");
  check_bench_line("cpu", "bf16", "unfused");
}

TEST_CASE("cuda: bench train: one JSON line on the GPU, f32 and bf16" * doctest::skip(!cuda::available())) {
  check_bench_line("cuda", "f32");
  check_bench_line("cuda", "bf16");
  check_bench_line("cuda", "bf16", "unfused");
}

// `sra bench decode` on a tiny model: one line per (context, attention) with the fields, a positive step
// time, tokens_per_s = batch / step, and the cache sizes: dense is a full f32 cache of every token, SRA keeps
// sinks + window + the critical tokens (a ratio of 0 keeps sinks + window alone).
TEST_CASE("sra bench decode: one JSON line per context and attention, cache bytes as computed") {
  std::vector<std::string> devices = {"cpu"};
  if (cuda::available()) devices.push_back("cuda");
  for (const std::string& device : devices) {
    Run r = run_sra({"bench",   "decode",   "--device", device,    "--contexts", "40,70",  "--d-model",
                     "32",      "--layers", "2",        "--heads", "4",          "--d-ff", "64",
                     "--vocab", "64",       "--batch",  "3",       "--new",      "3",      "--ratio",
                     "0",       "--window", "8",        "--sinks", "2"});
    INFO("stdout: ", r.out, "\nstderr: ", r.err);
    REQUIRE(r.rc == 0);
    std::vector<Json> lines;
    size_t at = 0;
    while (at < r.out.size()) {
      const size_t nl = r.out.find('\n', at);
      lines.push_back(Json::parse(r.out.substr(at, nl - at)));
      at = nl + 1;
    }
    REQUIRE(lines.size() == 4);
    for (size_t i = 0; i < 4; ++i) {
      const Json& j = lines[i];
      CHECK(j["bench"].as_string() == "decode");
      CHECK(j["context"].as_int() == (i < 2 ? 40 : 70));
      CHECK(j["attention"].as_string() == (i % 2 == 0 ? "dense" : "sra"));
      const double step_ms = j["ms_per_token"].as_double();
      REQUIRE(step_ms > 0);
      CHECK(std::abs(j["tokens_per_s"].as_double() - 3e3 / step_ms) <= 0.05 + 0.01 * 3e3 / step_ms);
      // tokens in the cache: context + 4 warm-up + 3 timed steps
      const double tokens = double(j["context"].as_int() + 7);
      const double kept = i % 2 == 0 ? tokens : 2 + 8;  // dense: all; SRA with ratio 0: sinks + window
      CHECK(std::abs(j["kv_vs_dense"].as_double() - kept / tokens) <= 1e-4);
    }
  }
}

// `sra bench train --attention sra`: the SRA model's step (routers, thresholds updated each step), with the
// dense model's FLOPs and the SRA fields.
TEST_CASE("sra bench train --attention sra: the SRA fields and a selected ratio") {
  Run r = run_sra({"bench",       "train", "--device", "cpu", "--precision", "f32", "--d-model", "32",
                   "--layers",    "3",     "--heads",  "4",   "--d-ff",      "64",  "--seq-len", "40",
                   "--batch",     "2",     "--vocab",  "64",  "--steps",     "2",   "--warmup",  "1",
                   "--attention", "sra",   "--window", "8",   "--sinks",     "2",   "--ratio",   "0.2"});
  INFO("stdout: ", r.out, "\nstderr: ", r.err);
  REQUIRE(r.rc == 0);
  Json j = Json::parse(r.out);
  CHECK(j["attention"].as_string() == "sra");
  CHECK(j["window"].as_int() == 8);
  CHECK(j["sinks"].as_int() == 2);
  CHECK(j["target_ratio"].as_double() == 0.2);
  CHECK(j["selected_ratio"].as_double() >= 0);
  CHECK(j["selected_ratio"].as_double() <= 1);
  CHECK(j["step_ms"].as_double() > 0);
  Run bad = run_sra({"bench", "train", "--device", "cpu", "--attention", "flash"});
  CHECK(bad.rc != 0);
}
