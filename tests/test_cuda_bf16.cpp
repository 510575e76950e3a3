// bf16 autocast on CUDA (autograd/autocast.h; kernels/matmul/matmul_bf16_cuda.cu): matmul and linear,
// forward and both gradients, under AutocastGuard(bf16) on the GPU against the same under the guard on
// the CPU (bf16 operands widened to f32 for sgemm: only the order of the fp32 additions differs,
// ‖gpu − cpu‖/‖cpu‖ ≤ 5e-5, as f32 sums of up to 16384 terms in other orders) and against the plain f32 CPU
// result (≤ 1e-2: bf16's rounding). Shapes: odd (3×5×7), transposed operands, strided batches (contiguous and
// broadcast), a permuted batch, the batch folded into M, linear with a bias, and the model's 16384×768 → 2048
// projection; which must go through cuBLASLt (not the cublasGemmEx fallback), repeat bit for bit, and, once
// warm, make no cudaMalloc and no host sync. Skipped (reported as skipped) without a GPU.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <vector>

#include "autograd/autocast.h"
#include "autograd/ops.h"
#include "autograd/tape.h"
#include "compare_util.h"
#include "core/cuda_runtime.h"
#include "core/rng.h"
#include "kernels/matmul/matmul.h"

using namespace sra;
using sra::test::no_gpu;
using sra::test::rel_err;

namespace {

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

// The output and every input's gradient (seed w) of fn on `device`, under bf16 autocast or in f32.
std::vector<Tensor> run(const Fn& fn, const std::vector<Tensor>& inputs, const Tensor& w, Device device,
                        bool bf16) {
  std::vector<Tensor> xs;
  for (const Tensor& x : inputs) {
    xs.push_back(x.to(device).detach().clone());
    xs.back().set_requires_grad(true);
  }
  std::vector<Tensor> out;
  {
    AutocastGuard guard(bf16 ? DType::bf16 : DType::f32);
    Tensor y = fn(xs);
    backward(y, w.to(device));
    out.push_back(y);
  }
  for (const Tensor& x : xs) out.push_back(x.grad());
  tape_clear();
  return out;
}

void check_case(const char* name, const Fn& fn, const std::vector<Tensor>& inputs, Generator& gen) {
  const std::string case_name = name;
  INFO(case_name);
  Shape out_shape;
  {
    NoGradGuard g;
    out_shape = fn(inputs).shape();
  }
  Tensor w = randn(out_shape, gen);
  std::vector<Tensor> gpu = run(fn, inputs, w, Device::cuda(0), true);
  std::vector<Tensor> cpu = run(fn, inputs, w, Device::cpu(), true);
  std::vector<Tensor> f32 = run(fn, inputs, w, Device::cpu(), false);
  REQUIRE(gpu.size() == cpu.size());
  for (size_t i = 0; i < gpu.size(); ++i) {
    CAPTURE(i);  // 0: the output, then the gradient of input i − 1
    CHECK(gpu[i].device() == Device::cuda(0));
    CHECK(gpu[i].dtype() == DType::f32);
    // the same bf16 operands, f32 sums in other orders: the model shape sums 16384 products (dW)
    CHECK(rel_err(gpu[i], cpu[i]) <= 5e-5);
    CHECK(rel_err(gpu[i], f32[i]) <= 1e-2);
  }
}

Tensor mm(const std::vector<Tensor>& x) {
  return matmul(x[0], x[1]);
}

}  // namespace

TEST_CASE("cuda: bf16 matmul and linear match the CPU's bf16 GEMM and the f32 result" *
          doctest::skip(no_gpu())) {
  Generator gen(21);
  check_case("3x5 @ 5x7", mm, {randn({3, 5}, gen), randn({5, 7}, gen)}, gen);
  check_case(
      "transposed operands",
      [](const std::vector<Tensor>& x) { return matmul(transpose(x[0], 0, 1), transpose(x[1], 0, 1)); },
      {randn({5, 3}, gen), randn({7, 5}, gen)}, gen);
  check_case("batched 4x(3x5 @ 5x7)", mm, {randn({4, 3, 5}, gen), randn({4, 5, 7}, gen)}, gen);
  check_case("broadcast batch", mm, {randn({2, 3, 5, 7}, gen), randn({3, 7, 4}, gen)}, gen);
  check_case(
      "permuted batch",
      [](const std::vector<Tensor>& x) {
        return matmul(permute(x[0], {1, 0, 2, 3}), x[1]);
      },
      {randn({3, 2, 6, 5}, gen), randn({2, 3, 5, 7}, gen)}, gen);
  check_case("batch folded into M", mm, {randn({2, 9, 5}, gen), randn({5, 7}, gen)}, gen);
  check_case(
      "linear with bias", [](const std::vector<Tensor>& x) { return linear(x[0], x[1], x[2]); },
      {randn({2, 3, 16}, gen), randn({12, 16}, gen), randn({12}, gen)}, gen);
  check_case("attention-shaped batch (B, H, T, D) @ (B, H, D, T)", mm,
             {randn({2, 3, 64, 32}, gen), randn({2, 3, 32, 64}, gen)}, gen);
}

TEST_CASE("cuda: the model's 16384x768 -> 2048 projection in bf16 through cuBLASLt" *
          doctest::skip(no_gpu())) {
  Generator gen(22);
  kern::GemmBf16Plans before = kern::gemm_bf16_plans(0);
  Fn lin = [](const std::vector<Tensor>& x) { return linear(x[0], x[1]); };
  check_case("16384x768 @ (2048x768)^T", lin, {randn({16384, 768}, gen), randn({2048, 768}, gen)}, gen);
  kern::GemmBf16Plans after = kern::gemm_bf16_plans(0);
  CHECK(after.plans > before.plans);
  CHECK(after.fallbacks == before.fallbacks);  // aligned model shapes run on cuBLASLt

  // repeats bit for bit; once warm, no cudaMalloc and no host sync
  Tensor x = randn({16384, 768}, gen).to(Device::cuda(0)), wt = randn({2048, 768}, gen).to(Device::cuda(0));
  AutocastGuard guard(DType::bf16);
  NoGradGuard no_grad;
  {
    Tensor warm1 = linear(x, wt), warm2 = linear(x, wt);  // two outputs' blocks into the cache
  }
  Tensor y1 = linear(x, wt);
  cuda::Stats s0 = cuda::stats(0);
  Tensor y2 = linear(x, wt);
  cuda::Stats s1 = cuda::stats(0);
  CHECK(s1.device_mallocs == s0.device_mallocs);
  CHECK(s1.host_syncs == s0.host_syncs);
  CHECK(y1.to(Device::cpu()).to_vector<float>() == y2.to(Device::cpu()).to_vector<float>());
}
