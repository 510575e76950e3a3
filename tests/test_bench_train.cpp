// `sra bench train` (tools/cli/bench_train.cpp): one JSON line with the fields issue "CUDA backend" sets
// for the training-step comparison, and numbers that agree with each other: tokens_per_s = B·T / step,
// mfu = (6·params·B·T + 6·L·d·T·B·T) / step / 989e12. A tiny model on the CPU (f32 and bf16 autocast),
// and on the GPU when there is one.
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "cli_test_util.h"
#include "core/json.h"

using namespace sra;
using namespace sra::testing;

namespace {

void check_bench_line(const std::string& device, const std::string& precision) {
  Run r = run_sra({"bench",    "train", "--device", device, "--precision", precision, "--d-model", "32",
                   "--layers", "2",     "--heads",  "4",    "--d-ff",      "64",      "--seq-len", "16",
                   "--batch",  "3",     "--vocab",  "64",   "--steps",     "3",       "--warmup",  "1"});
  INFO("stdout: ", r.out, "\nstderr: ", r.err);
  REQUIRE(r.rc == 0);
  REQUIRE(!r.out.empty());
  CHECK(r.out.find('\n') == r.out.size() - 1);  // one line
  Json j = Json::parse(r.out);
  CHECK(j["bench"].as_string() == "train");
  CHECK(j["config"].as_string() == "d32-L2-T16-B3-V64");
  CHECK(j["precision"].as_string() == precision);
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

}  // namespace

TEST_CASE("bench train: one JSON line on the CPU, f32 and bf16") {
  check_bench_line("cpu", "f32");
  check_bench_line("cpu", "bf16");
}

TEST_CASE("cuda: bench train: one JSON line on the GPU, f32 and bf16" * doctest::skip(!cuda::available())) {
  check_bench_line("cuda", "f32");
  check_bench_line("cuda", "bf16");
}
