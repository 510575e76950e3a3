// CUDA dense attention (kernels/attention/attention_cuda.cu) against the CPU kernel, the oracle, at shapes
// the op table's tiny cases do not reach: query and key tiles crossed (T, S not multiples of any tile),
// grouped-query heads, the KV cache (S > T), decode (T = 1 against 1000 keys), non-causal with T > S,
// every D bucket of the CUDA kernel (D = 32, 64, 80, 128, 256), f64 and f32, forward and the gradients
// of q, k, v: ‖gpu − cpu‖ / ‖cpu‖ ≤ 1e-12 (f64), 1e-5 (f32; the CUDA kernel sums in another order).
// Every CUDA result is computed twice and must repeat bitwise (no atomics). Also: an empty query set
// gives dk = dv = 0; inputs on different devices and D > 256 are errors. Skipped without a GPU.
// bf16 (under AutocastGuard(bf16): the tensor-core kernel at D = 64, 128) against the CPU under the same
// guard (the f32 kernel on the same bf16-rounded inputs, so only the kernel's rounding of P and dS to
// bf16 and the summation order differ): max |gpu − cpu| ≤ kBf16Tol·max |cpu| for out and each gradient,
// and bitwise repeats; D = 32 under the guard runs the f32 kernel on the rounded inputs (≤ 1e-5).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "autograd/autocast.h"
#include "autograd/ops.h"
#include "autograd/tape.h"
#include "compare_util.h"
#include "core/cuda_runtime.h"
#include "core/rng.h"

using namespace sra;
using sra::test::host_values;
using sra::test::no_gpu;
using sra::test::rel_err;
using sra::test::same_values;

namespace {

const Device kGpu = Device::cuda(0);

struct Shape4 {
  int64_t B, H, Hkv, T, S, D;
  bool causal;
  double scale;  // 0: 1/√D
};

std::string describe(const Shape4& s) {
  return "B=" + std::to_string(s.B) + " H=" + std::to_string(s.H) + " Hkv=" + std::to_string(s.Hkv) +
         " T=" + std::to_string(s.T) + " S=" + std::to_string(s.S) + " D=" + std::to_string(s.D) +
         (s.causal ? " causal" : " non-causal");
}

struct Result {
  Tensor out, dq, dk, dv;
};

// attention(q, k, v) and the gradients of q, k, v for the seed dout, on `dev`.
Result run(const Shape4& s, const std::vector<Tensor>& in, Device dev, bool bf16 = false) {
  AutocastGuard guard(bf16 ? DType::bf16 : DType::f32);
  std::vector<Tensor> x;
  for (int i = 0; i < 3; ++i) {
    x.push_back(in[size_t(i)].to(dev).detach());
    x.back().set_requires_grad(true);
  }
  tape_clear();
  Result r;
  r.out = attention(x[0], x[1], x[2], s.causal, s.scale);
  backward(r.out, in[3].to(dev));
  r.dq = x[0].grad(), r.dk = x[1].grad(), r.dv = x[2].grad();
  tape_clear();
  return r;
}

void check_shape(const Shape4& s, DType dt, uint64_t seed) {
  Generator gen(seed);
  std::vector<Tensor> in = {randn({s.B, s.H, s.T, s.D}, gen, dt), randn({s.B, s.Hkv, s.S, s.D}, gen, dt),
                            randn({s.B, s.Hkv, s.S, s.D}, gen, dt), randn({s.B, s.H, s.T, s.D}, gen, dt)};
  const double tol = dt == DType::f64 ? 1e-12 : 1e-5;
  const std::string label = describe(s) + " " + dtype_name(dt);
  INFO(label);
  Result cpu = run(s, in, Device::cpu());
  Result a = run(s, in, kGpu), b = run(s, in, kGpu);
  CHECK(a.out.device() == kGpu);
  CHECK(a.dq.device() == kGpu);
  CHECK(rel_err(a.out, cpu.out) <= tol);
  CHECK(rel_err(a.dq, cpu.dq) <= tol);
  CHECK(rel_err(a.dk, cpu.dk) <= tol);
  CHECK(rel_err(a.dv, cpu.dv) <= tol);
  CHECK(same_values(a.out, b.out));
  CHECK(same_values(a.dq, b.dq));
  CHECK(same_values(a.dk, b.dk));
  CHECK(same_values(a.dv, b.dv));
}

const Shape4 kShapes[] = {
    {2, 4, 2, 200, 200, 64, true, 0},    // GQA, causal, 4 query and key tiles (the last partial)
    {1, 2, 2, 130, 300, 32, true, 0},    // KV cache: S > T, neither a multiple of a tile
    {1, 4, 1, 1, 1000, 128, true, 0},    // decode: one query against 1000 keys, 4 query heads a kv head
    {2, 2, 1, 150, 150, 80, true, 0},    // D = 80 (the 128 bucket, columns past D idle)
    {1, 3, 3, 100, 70, 48, false, 0.3},  // non-causal, T > S, explicit scale
    {1, 2, 2, 40, 333, 100, false, 0},   // non-causal, S > T
    {1, 2, 1, 70, 90, 256, true, 0},     // D = 256 (the largest bucket: the smallest tiles)
    {1, 1, 1, 17, 17, 3, true, 0},       // odd tiny D, one partial tile
};

}  // namespace

TEST_CASE("cuda: attention matches the CPU across tiles, forward and backward, and repeats bitwise" *
          doctest::skip(no_gpu())) {
  uint64_t seed = 11;
  for (DType dt : {DType::f64, DType::f32})
    for (const Shape4& s : kShapes) check_shape(s, dt, seed++);
}

TEST_CASE("cuda: attention with no queries gives dk = dv = 0; mixed devices and D > 256 are errors" *
          doctest::skip(no_gpu())) {
  for (DType dt : {DType::f32, DType::f64}) {
    Tensor q = Tensor::zeros({1, 2, 0, 8}, dt, kGpu), k = Tensor::full({1, 2, 5, 8}, 1.0, dt, kGpu);
    Tensor v = Tensor::full({1, 2, 5, 8}, 1.0, dt, kGpu);
    q.set_requires_grad(true), k.set_requires_grad(true), v.set_requires_grad(true);
    tape_clear();
    Tensor out = attention(q, k, v, false);
    CHECK(out.shape() == Shape{1, 2, 0, 8});
    backward(out, Tensor::zeros({1, 2, 0, 8}, dt, kGpu));
    CHECK(host_values(k.grad()) == std::vector<double>(80, 0.0));
    CHECK(host_values(v.grad()) == std::vector<double>(80, 0.0));
    tape_clear();
  }
  Tensor g = Tensor::zeros({1, 2, 4, 8}, DType::f32, kGpu), c = Tensor::zeros({1, 2, 4, 8}, DType::f32);
  CHECK_THROWS_WITH_AS(attention(g, c, c), "[attention] inputs are on different devices: cuda:0 and cpu",
                       Error);
  Tensor wide = Tensor::zeros({1, 1, 4, 300}, DType::f32, kGpu);
  CHECK_THROWS_WITH_AS(attention(wide, wide, wide),
                       "[attention] head dim 300 is not supported on CUDA (1 to 256)", Error);
}

namespace {

// bf16 kernel vs the CPU oracle: max |gpu − cpu| / max |cpu|. Measured on an H200 (2026-12-01) over the
// shapes below: at most 3.3e-3 (‖gpu − cpu‖ / ‖cpu‖ at most 1.9e-3); the bounds leave 3× room for other
// random inputs. bf16 P and dS carry 2^-9 relative rounding each, averaged over the keys of a row.
constexpr double kBf16Tol = 1e-2, kBf16RelTol = 5e-3;

double max_ratio(const Tensor& got, const Tensor& want) {
  const std::vector<double> a = host_values(got), b = host_values(want);
  if (a.size() != b.size()) return INFINITY;
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) || std::isnan(b[i])) return INFINITY;
    num = std::max(num, std::fabs(a[i] - b[i]));
    den = std::max(den, std::fabs(b[i]));
  }
  return num / std::max(den, 1e-30);
}

const Shape4 kBf16Shapes[] = {
    {2, 4, 2, 200, 200, 64, true, 0},    // GQA, causal, T not a multiple of the tile
    {1, 2, 2, 130, 300, 128, true, 0},   // KV cache: S > T
    {1, 4, 1, 1, 1000, 128, true, 0},    // decode: one query against 1000 keys
    {1, 3, 3, 100, 70, 64, false, 0.3},  // non-causal, T > S, explicit scale
    {1, 2, 1, 1, 1, 64, true, 0},        // T = S = 1
    {1, 2, 2, 320, 320, 128, false, 0},  // non-causal, whole tiles and one partial
    {1, 2, 2, 300, 450, 64, true, 0},    // D = 64 (blocks of 128 rows): S > T, causal shift, partial blocks
    {2, 4, 1, 333, 333, 64, true, 0},    // D = 64: GQA 4:1, three blocks, the last partial
    {1, 2, 1, 1, 700, 64, true, 0},      // D = 64 decode: one query against 700 keys
};

}  // namespace

TEST_CASE("cuda: bf16 attention (tensor cores) matches the CPU under autocast and repeats bitwise" *
          doctest::skip(no_gpu())) {
  uint64_t seed = 101;
  for (const Shape4& s : kBf16Shapes) {
    Generator gen(seed++);
    std::vector<Tensor> in = {randn({s.B, s.H, s.T, s.D}, gen), randn({s.B, s.Hkv, s.S, s.D}, gen),
                              randn({s.B, s.Hkv, s.S, s.D}, gen), randn({s.B, s.H, s.T, s.D}, gen)};
    INFO(describe(s));
    Result cpu = run(s, in, Device::cpu(), true);
    Result a = run(s, in, kGpu, true), b = run(s, in, kGpu, true);
    const Tensor* got[] = {&a.out, &a.dq, &a.dk, &a.dv};
    const Tensor* want[] = {&cpu.out, &cpu.dq, &cpu.dk, &cpu.dv};
    const Tensor* again[] = {&b.out, &b.dq, &b.dk, &b.dv};
    const char* names[] = {"out", "dq", "dk", "dv"};
    for (int i = 0; i < 4; ++i) {
      const double e = max_ratio(*got[i], *want[i]);
      const double rel = rel_err(*got[i], *want[i]);
      const std::string msg = describe(s) + " bf16 " + names[i] + ": max err / max ref " + std::to_string(e) +
                              ", rel " + std::to_string(rel);
      MESSAGE(msg);
      CHECK(got[i]->dtype() == DType::f32);
      CHECK(e <= kBf16Tol);
      CHECK(rel <= kBf16RelTol);
      CHECK(same_values(*got[i], *again[i]));
    }
  }
}

TEST_CASE("cuda: attention under autocast at D = 32 runs the f32 kernel on bf16-rounded inputs" *
          doctest::skip(no_gpu())) {
  const Shape4 s{1, 2, 1, 90, 90, 32, true, 0};
  Generator gen(5);
  std::vector<Tensor> in = {randn({1, 2, 90, 32}, gen), randn({1, 1, 90, 32}, gen),
                            randn({1, 1, 90, 32}, gen), randn({1, 2, 90, 32}, gen)};
  Result cpu = run(s, in, Device::cpu(), true), gpu = run(s, in, kGpu, true);
  CHECK(rel_err(gpu.out, cpu.out) <= 1e-5);
  CHECK(rel_err(gpu.dq, cpu.dq) <= 1e-5);
  CHECK(rel_err(gpu.dk, cpu.dk) <= 1e-5);
  CHECK(rel_err(gpu.dv, cpu.dv) <= 1e-5);
}
