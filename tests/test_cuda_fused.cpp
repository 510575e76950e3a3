// The fused ops on CUDA (autograd/fused_ops.h; the CPU versions and the unfused composites are the oracles):
//   linear_cross_entropy: GPU vs CPU in f32 (≤ 1e-5) and under bf16 autocast (≤ 1e-3: the bf16 rounding of
//     the logits' gradient can land on the other side for a few elements when the fp32 sums differ in the
//     last bit), against the unfused composite on the GPU; at the 135M head's shape (16384 × 768 → 32768)
//     against the composite on the GPU, with a peak memory that never holds the (N, V) f32 logits.
//   swiglu: GPU vs the GPU composite (≤ 1e-6) and the CPU (≤ 1e-5: the device's exp); the bf16 copies of
//     rmsnorm, rope and swiglu equal cast()'s rounding and are served by the cast cache without allocating;
//     under autocast swiglu's gradients (read from its kept bf16 gate and up) equal the CPU's (≤ 1e-5), and
//     the MLP's linear_bf16_out (cuBLASLt writing bf16) into swiglu matches the CPU (≤ 1e-2).
//   The Transformer's fused loss vs its unfused loss on the GPU under bf16 autocast.
//   Multi-tensor AdamW (kernels/adamw: adamw_multi) vs the per-tensor kernel, bit for bit.
// The op table's cases (linear_cross_entropy, swiglu, rope/strided_input) also run in tests/test_cuda_parity.
// Skipped (reported as skipped) without a GPU.
#include <doctest/doctest.h>

#include <array>
#include <cstring>
#include <vector>

#include "autograd/autocast.h"
#include "autograd/fused_ops.h"
#include "autograd/ops.h"
#include "compare_util.h"
#include "core/cuda_runtime.h"
#include "core/rng.h"
#include "kernels/adamw/adamw.h"
#include "model/transformer.h"

using namespace sra;
using sra::test::no_gpu;
using sra::test::rel_err;
using sra::test::same_values;

namespace {

struct Result {
  Tensor loss, gx, gw;
};

Result lce(const Tensor& x0, const Tensor& w0, const Tensor& t0, Device dev, bool fused, bool bf16,
           int64_t chunk = 0) {
  Tensor x = x0.to(dev).detach().clone().set_requires_grad(true);
  Tensor w = w0.to(dev).detach().clone().set_requires_grad(true);
  Tensor t = t0.to(dev);
  Result r;
  {
    AutocastGuard guard(bf16 ? DType::bf16 : DType::f32);
    r.loss = fused ? linear_cross_entropy(x, w, t, -100, chunk) : cross_entropy(linear(x, w), t, -100);
    backward(r.loss);
  }
  r.gx = x.grad(), r.gw = w.grad();
  return r;
}

Tensor targets(int64_t n, int64_t v, Generator& gen, int every_ignored) {
  std::vector<int64_t> t(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    t[size_t(i)] = i % every_ignored == 1 ? -100 : int64_t(gen.next_below(uint64_t(v)));
  return Tensor::from_vector(t, {n});
}

void check_lce(const Result& got, const Result& want, double loss_tol, double grad_tol) {
  CHECK(rel_err(got.loss, want.loss) <= loss_tol);
  CHECK(rel_err(got.gx, want.gx) <= grad_tol);
  CHECK(rel_err(got.gw, want.gw) <= grad_tol);
}

uint64_t allocations() {
  cuda::Stats s = cuda::stats(0);
  return s.device_mallocs + s.cache_hits;
}

}  // namespace

TEST_CASE("cuda fused: linear_cross_entropy matches the CPU and the composite (f32, bf16)" *
          doctest::skip(no_gpu())) {
  Generator gen(41);
  const int64_t n = 300, c = 64, v = 1000;
  Tensor x = randn({n, c}, gen), w = randn({v, c}, gen).mul_(0.3);
  Tensor t = targets(n, v, gen, 9);
  const Device gpu = Device::cuda(0), cpu = Device::cpu();
  for (int64_t chunk : {0, 128}) {
    CAPTURE(chunk);
    check_lce(lce(x, w, t, gpu, true, false, chunk), lce(x, w, t, cpu, true, false, chunk), 1e-6, 1e-5);
    check_lce(lce(x, w, t, gpu, true, false, chunk), lce(x, w, t, gpu, false, false), 1e-6, 1e-5);
    const Result g16 = lce(x, w, t, gpu, true, true, chunk);
    check_lce(g16, lce(x, w, t, cpu, true, true, chunk), 1e-5, 1e-3);
    check_lce(g16, lce(x, w, t, gpu, false, true), 1e-5, 1e-3);
    check_lce(g16, lce(x, w, t, cpu, false, false), 1e-2, 3e-2);  // bf16's rounding vs plain f32
  }
}

TEST_CASE("cuda fused: linear_cross_entropy at the 135M head's shape, without the full logits" *
          doctest::skip(no_gpu())) {
  Generator gen(42);
  const int64_t n = 16384, c = 768, v = 32768;
  const Device gpu = Device::cuda(0);
  Tensor x = randn({n, c}, gen).to(gpu), w = randn({v, c}, gen).mul_(0.02).to(gpu);
  Tensor t = targets(n, v, gen, 13).to(gpu);
  const Result unfused = lce(x, w, t, gpu, false, true);
  cuda::synchronize(0);
  const uint64_t before = cuda::stats(0).bytes_in_use;
  cuda::reset_peak(0);
  const Result fused = lce(x, w, t, gpu, true, true);
  cuda::synchronize(0);
  const double extra = double(cuda::stats(0).peak_bytes_in_use - before);
  check_lce(fused, unfused, 1e-5, 1e-3);
  // inputs' copies, bf16 casts, dx, dw, grads and one 2048-row chunk (f32 logits + bf16 gradient): well
  // under the 2 GiB of f32 logits (and 2 GiB of their gradient) the composite makes
  CHECK(extra < 1.5 * double(1ull << 30));
}

TEST_CASE("cuda fused: swiglu matches the composite and the CPU, and the kept bf16 copies" *
          doctest::skip(no_gpu())) {
  Generator gen(43);
  const Device gpu = Device::cuda(0);
  Tensor a = randn({7, 300}, gen).mul_(3.0), b = randn({7, 300}, gen), gy = randn({7, 300}, gen);
  std::vector<Tensor> out[3];  // GPU fused, GPU composite, CPU fused
  for (int k = 0; k < 3; ++k) {
    const Device dev = k < 2 ? gpu : Device::cpu();
    Tensor ar = a.to(dev).detach().clone().set_requires_grad(true);
    Tensor br = b.to(dev).detach().clone().set_requires_grad(true);
    Tensor y = k == 1 ? mul(silu(ar), br) : swiglu(ar, br);
    backward(y, gy.to(dev));
    out[k] = {y.detach(), ar.grad(), br.grad()};
  }
  for (int i = 0; i < 3; ++i) {
    CAPTURE(i);
    CHECK(rel_err(out[0][i], out[1][i]) <= 1e-6);  // the same operations (contractions may differ)
    CHECK(rel_err(out[0][i], out[2][i]) <= 1e-5);  // the device's exp vs glibc's
  }

  Tensor x = randn({4, 6, 64}, gen).to(gpu), wn = randn({64}, gen).to(gpu);
  AutocastGuard guard(DType::bf16);
  auto check_kept = [](const Tensor& y) {
    const uint64_t allocs = allocations();
    Tensor c = autocast_bf16_operand(reshape(y.detach(), {-1, y.size(-1)}));  // as a linear's GEMM asks
    CHECK(allocations() == allocs);                                           // served, not cast
    CHECK(same_values(c, cast(reshape(y.detach(), {-1, y.size(-1)}), DType::bf16)));
  };
  check_kept(rmsnorm(x, wn));
  check_kept(swiglu(x, randn({4, 6, 64}, gen).to(gpu)));
  check_kept(rope(transpose(reshape(x, {4, 6, 2, 32}), 1, 2), Tensor::arange(6).to(gpu)));

  // under autocast the backward reads gate and up in bf16 (kept by the forward kernel): the CPU's gradients
  std::vector<Tensor> grads[2];
  for (int k = 0; k < 2; ++k) {
    const Device dev = k == 0 ? gpu : Device::cpu();
    Tensor ar = a.to(dev).detach().clone().set_requires_grad(true);
    Tensor br = b.to(dev).detach().clone().set_requires_grad(true);
    backward(swiglu(ar, br), gy.to(dev));
    grads[k] = {ar.grad(), br.grad()};
  }
  CHECK(rel_err(grads[0][0], grads[1][0]) <= 1e-5);
  CHECK(rel_err(grads[0][1], grads[1][1]) <= 1e-5);

  // the model's MLP under autocast: gate and up from linear_bf16_out (cuBLASLt writes bf16) into swiglu, and
  // from linear_stacked_bf16_out (one GEMM; swiglu reads the halves in place, writes their gradients side
  // by side for the stacked backward GEMMs)
  Tensor xm = randn({3, 7, 64}, gen), wg = randn({96, 64}, gen), wu = randn({96, 64}, gen);
  Tensor gm = randn({3, 7, 96}, gen);
  for (const bool stacked : {false, true}) {
    CAPTURE(stacked);
    std::vector<Tensor> mlp[2];
    for (int k = 0; k < 2; ++k) {
      const Device dev = k == 0 ? gpu : Device::cpu();
      Tensor xr = xm.to(dev).detach().clone().set_requires_grad(true);
      Tensor wgr = wg.to(dev).detach().clone().set_requires_grad(true);
      Tensor wur = wu.to(dev).detach().clone().set_requires_grad(true);
      std::vector<Tensor> gu = stacked
                                   ? linear_stacked_bf16_out(xr, {wgr, wur})
                                   : std::vector<Tensor>{linear_bf16_out(xr, wgr), linear_bf16_out(xr, wur)};
      CHECK(gu[0].dtype() == DType::bf16);
      Tensor y = swiglu(gu[0], gu[1]);
      backward(y, gm.to(dev));
      mlp[k] = {cast(gu[0].detach(), DType::f32), y.detach(), xr.grad(), wgr.grad(), wur.grad()};
    }
    for (int i = 0; i < 5; ++i) {
      CAPTURE(i);
      CHECK(rel_err(mlp[0][i], mlp[1][i]) <= 1e-2);  // fp32 sums in another order, rounded to bf16
    }
  }
}

TEST_CASE("cuda fused: linear_stacked's q, k, v through RoPE and attention match the CPU under bf16" *
          doctest::skip(no_gpu())) {
  // the attention layer's path: one GEMM for q, k, v (column blocks, row stride 128), head splits as views,
  // RoPE reading q and k in place, attention reading v's block (a strided view) and writing dv in its
  // memory order; the backward gathers dq, dk (kept bf16 copies) and dv into one matrix for dx and dW
  const Device gpu = Device::cuda(0);
  Generator gen(47);
  Tensor x = randn({2, 40, 64}, gen), wq = randn({64, 64}, gen), wk = randn({32, 64}, gen),
         wv = randn({32, 64}, gen), go = randn({2, 40, 64}, gen);
  std::vector<Tensor> got[2];
  for (int k = 0; k < 2; ++k) {
    const Device dev = k == 0 ? gpu : Device::cpu();
    AutocastGuard guard(DType::bf16);
    Tensor xr = x.to(dev).detach().clone().set_requires_grad(true);
    std::vector<Tensor> ws;
    for (const Tensor& w : {wq, wk, wv}) ws.push_back(w.to(dev).detach().clone().set_requires_grad(true));
    std::vector<Tensor> y = linear_stacked(xr, ws);
    Tensor pos = Tensor::arange(40).to(dev);
    Tensor q = rope(y[0].reshape({2, 40, 4, 16}).transpose(1, 2), pos, 10000.0);
    Tensor kk = rope(y[1].reshape({2, 40, 2, 16}).transpose(1, 2), pos, 10000.0);
    Tensor v = y[2].reshape({2, 40, 2, 16}).transpose(1, 2);
    Tensor o = attention(q, kk, v, true).transpose(1, 2).reshape({2, 40, 64});
    backward(o, go.to(dev));
    got[k] = {o.detach(), xr.grad(), ws[0].grad(), ws[1].grad(), ws[2].grad()};
  }
  for (size_t i = 0; i < got[0].size(); ++i) {
    CAPTURE(i);
    CHECK(rel_err(got[0][i].to(Device::cpu()), got[1][i]) <= 2e-2);  // bf16 operands, other fp32 orders
  }
}

TEST_CASE("cuda fused: the Transformer's fused loss equals the unfused one under bf16" *
          doctest::skip(no_gpu())) {
  TransformerConfig cfg;
  cfg.vocab_size = 512, cfg.d_model = 128, cfg.n_layers = 2, cfg.n_heads = 2, cfg.n_kv_heads = 2;
  cfg.d_ff = 256, cfg.max_seq_len = 64, cfg.tie_embeddings = false, cfg.seed = 6;
  Transformer model(cfg);
  model.to(Device::cuda(0));
  Generator gen(44);
  std::vector<int64_t> ids(4 * 65);
  for (auto& i : ids) i = int64_t(gen.next_below(512));
  Tensor batch = Tensor::from_vector(ids, {4, 65}).to(Device::cuda(0));
  std::vector<std::vector<Tensor>> grads(2);
  std::vector<Tensor> losses(2);
  for (int fused = 0; fused < 2; ++fused) {
    model.set_fused_loss(fused == 1);
    AutocastGuard guard(DType::bf16);
    losses[size_t(fused)] = model.loss(batch);
    backward(losses[size_t(fused)]);
    for (auto& [name, p] : model.named_parameters()) {
      grads[size_t(fused)].push_back(p.grad());
      p.zero_grad();
    }
  }
  CHECK(rel_err(losses[1], losses[0]) <= 1e-5);
  for (size_t i = 0; i < grads[0].size(); ++i) {
    CAPTURE(i);
    CHECK(rel_err(grads[1][i], grads[0][i]) <= 2e-3);
  }
}

TEST_CASE("cuda fused: multi-tensor AdamW equals the per-tensor update and the CPU's bit for bit" *
          doctest::skip(no_gpu())) {
  Generator gen(45);
  const Device gpu = Device::cuda(0);
  // 60 tensors (two launches of at most kAdamWMultiTensors), empty, odd and multi-chunk sizes
  std::vector<std::array<Tensor, 4>> a, b, c;  // p, g, m, v: per-tensor CUDA, multi-tensor CUDA, CPU
  std::vector<kern::AdamWTensor> table;
  for (int i = 0; i < 60; ++i) {
    const int64_t n = i == 7 ? 0 : (i * 977) % 9000 + (i % 5 == 0 ? 20000 : 1);
    std::array<Tensor, 4> t;
    for (Tensor& x : t) x = randn({n}, gen).to(gpu);
    t[3] = mul(t[3], t[3]).detach();  // v >= 0
    std::array<Tensor, 4> u, w;
    for (int k = 0; k < 4; ++k)
      u[size_t(k)] = t[size_t(k)].clone(), w[size_t(k)] = t[size_t(k)].to(Device::cpu());
    a.push_back(t), b.push_back(u), c.push_back(w);
    table.push_back({u[0].raw(), u[1].raw(), u[2].raw(), u[3].raw(), n, i % 3 == 0 ? 0.0 : 0.1});
  }
  Tensor scale = Tensor::full({1}, 0.7, DType::f64).to(gpu);
  const kern::AdamWStep st{3e-3, 0.9, 0.95, 1e-8, 0.0, 1.0, 5};
  for (size_t i = 0; i < a.size(); ++i) {
    kern::AdamWStep one = st;
    one.weight_decay = table[i].weight_decay;
    kern::adamw(gpu, {DType::f32, a[i][0].raw(), a[i][1].raw(), a[i][2].raw(), a[i][3].raw(), a[i][0].numel(),
                      one, static_cast<const double*>(scale.raw())});
  }
  kern::adamw_multi(
      gpu, {DType::f32, table.data(), int64_t(table.size()), st, static_cast<const double*>(scale.raw())});
  const double host_scale = 0.7;
  for (size_t i = 0; i < c.size(); ++i) {
    kern::AdamWStep one = st;
    one.weight_decay = table[i].weight_decay;
    kern::adamw(Device::cpu(), {DType::f32, c[i][0].raw(), c[i][1].raw(), c[i][2].raw(), c[i][3].raw(),
                                c[i][0].numel(), one, &host_scale});
  }
  for (size_t i = 0; i < a.size(); ++i) {
    CAPTURE(i);
    for (int k : {0, 2, 3}) {
      CHECK(same_values(b[i][size_t(k)], a[i][size_t(k)]));
      CHECK(same_values(c[i][size_t(k)], a[i][size_t(k)]));
    }
  }
}

TEST_CASE("cuda fused: the multi-tensor sum of squares equals one sum_squares per tensor bit for bit" *
          doctest::skip(no_gpu())) {
  Generator gen(46);
  const Device gpu = Device::cuda(0);
  // 111 tensors (three tables of at most kAdamWMultiTensors): empty, odd, one block, the full 256 blocks
  std::vector<Tensor> gs;
  std::vector<kern::SumSquaresTensor> all;
  for (int i = 0; i < 111; ++i) {
    const int64_t n = i % 17 == 3 ? 0 : (i * 1301) % 70000 + (i % 7 == 0 ? 200000 : 1);
    gs.push_back(randn({n}, gen).to(gpu));
    all.push_back({gs.back().raw(), n});
  }
  Tensor one = Tensor::zeros({1}, DType::f64, gpu), multi = Tensor::zeros({1}, DType::f64, gpu);
  Tensor scratch = Tensor::empty({kern::kSumSquaresBlocks}, DType::f64, gpu);
  for (const kern::SumSquaresTensor& t : all)
    kern::sum_squares(
        gpu, {DType::f32, t.g, t.n, static_cast<double*>(one.raw()), static_cast<double*>(scratch.raw())});
  Tensor mscratch =
      Tensor::empty({kern::sum_squares_multi_scratch(all.data(), int64_t(all.size()))}, DType::f64, gpu);
  kern::sum_squares_multi(gpu, {DType::f32, all.data(), int64_t(all.size()),
                                static_cast<double*>(multi.raw()), static_cast<double*>(mscratch.raw())});
  const double a = one.to(Device::cpu()).to_vector<double>()[0],
               b = multi.to(Device::cpu()).to_vector<double>()[0];
  CHECK(a > 0);
  CHECK(std::memcmp(&a, &b, sizeof a) == 0);
}
