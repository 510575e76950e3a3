// The fused ops (autograd/fused_ops.h) against their unfused composites on the CPU, and the bf16 copies that
// rmsnorm, rope and swiglu hand to the autocast cache (autograd/autocast.h):
//   linear_cross_entropy == cross_entropy(linear(x, w), t): loss and both gradients, f64 (≤ 1e-12) and f32
//     (≤ 1e-5), chunk sizes from 1 row to more than N, ignored and all-ignored rows, a scaled backward, the
//     errors; under bf16 autocast against the composite under the guard (the same bf16 operands, f32 sums in
//     other orders); the Transformer's fused loss against its unfused one (loss and every parameter's grad).
//   swiglu == mul(silu(a), b), add_rmsnorm == add + rmsnorm: bitwise in f32, forward and backward; under
//     bf16 autocast swiglu's gradients are the f32 ones at its bf16-rounded inputs (what it keeps), bitwise.
//   kept copies: each op's bf16 copy equals the rounding of its f32 output and is what the cast cache serves
//     for it (and for a reshape of it); rope reads a transposed view in place and writes gx in its layout.
//   attention under autocast reads strided q, k, v and dout through one strided cast each: the same bits as
//     from dense copies; the tape keeps a fresh first gradient as .grad and clones a shared one.
// Gradchecks (f64, finite differences) run from tests/op_cases.cpp; CUDA parity: tests/test_cuda_fused.cpp.
#include <doctest/doctest.h>

#include <cmath>
#include <optional>
#include <tuple>
#include <vector>

#include "autograd/autocast.h"
#include "autograd/fused_ops.h"
#include "autograd/ops.h"
#include "compare_util.h"
#include "core/rng.h"
#include "model/transformer.h"
#include "model_test_util.h"

using namespace sra;
using sra::test::no_gpu;
using sra::test::rel_err;
using sra::test::same_values;

namespace {

struct Result {
  Tensor loss, gx, gw;
};

// loss and the gradients of x and w (backward of scale · loss), by the fused op or the composite.
Result lce(const Tensor& x0, const Tensor& w0, const Tensor& t, bool fused, int64_t chunk = 0,
           double scale = 1, bool bf16 = false) {
  Tensor x = x0.detach().clone().set_requires_grad(true), w = w0.detach().clone().set_requires_grad(true);
  Result r;
  {
    AutocastGuard guard(bf16 ? DType::bf16 : DType::f32);
    r.loss = fused ? linear_cross_entropy(x, w, t, -100, chunk) : cross_entropy(linear(x, w), t, -100);
    backward(scale == 1 ? r.loss : mul(r.loss, scale));
  }
  r.gx = x.grad(), r.gw = w.grad();
  return r;
}

Tensor targets(int64_t n, int64_t v, Generator& gen, int every_ignored = 0) {
  std::vector<int64_t> t(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    t[size_t(i)] = every_ignored > 0 && i % every_ignored == 1 ? -100 : int64_t(gen.next_below(uint64_t(v)));
  return Tensor::from_vector(t, {n});
}

void check_lce(const Result& got, const Result& want, double tol) {
  CHECK(rel_err(got.loss, want.loss) <= tol);
  CHECK(rel_err(got.gx, want.gx) <= tol);
  CHECK(rel_err(got.gw, want.gw) <= tol);
}

Tensor select_first(const Tensor& x, int64_t i) {  // x[i] along dim 0, as a view
  return slice(x, 0, i, i + 1).squeeze(0);
}

}  // namespace

TEST_CASE("fused: linear_cross_entropy equals linear + cross_entropy (f64, f32; chunks; ignored rows)") {
  Generator gen(31);
  const int64_t n = 37, c = 16, v = 50;
  for (DType dt : {DType::f64, DType::f32}) {
    CAPTURE(dtype_name(dt));
    const double tol = dt == DType::f64 ? 1e-12 : 1e-5;
    Tensor x = randn({n, c}, gen, dt), w = randn({v, c}, gen, dt);
    Tensor t = targets(n, v, gen, /*every_ignored=*/5);
    const Result want = lce(x, w, t, false, 0, 2.5);
    for (int64_t chunk : {0, 1, 8, 36, 37, 100}) {
      CAPTURE(chunk);
      check_lce(lce(x, w, t, true, chunk, 2.5), want, tol);
    }
  }
}

TEST_CASE("fused: linear_cross_entropy with every row ignored is 0 with zero gradients") {
  Generator gen(32);
  Tensor x = randn({4, 3}, gen, DType::f64), w = randn({5, 3}, gen, DType::f64);
  Tensor t = Tensor::from_vector(std::vector<int64_t>{-100, -100, -100, -100}, {4});
  const Result r = lce(x, w, t, true, 3);
  CHECK(r.loss.item() == 0.0);
  for (double g : r.gx.to_vector<double>()) CHECK(g == 0.0);
  for (double g : r.gw.to_vector<double>()) CHECK(g == 0.0);
  check_lce(r, lce(x, w, t, false), 1e-12);
}

TEST_CASE("fused: linear_cross_entropy needs no gradient under NoGradGuard and checks its inputs") {
  Generator gen(33);
  Tensor x = randn({6, 4}, gen), w = randn({9, 4}, gen);
  Tensor t = targets(6, 9, gen);
  {
    NoGradGuard g;
    Tensor xr = x.detach().clone().set_requires_grad(true);
    Tensor loss = linear_cross_entropy(xr, w, t, -100, 4);
    CHECK(!loss.requires_grad());
    CHECK(rel_err(loss, cross_entropy(linear(x, w), t)) <= 1e-6);
  }
  CHECK_THROWS_WITH_AS(linear_cross_entropy(x, randn({9, 5}, gen), t),
                       "[linear_cross_entropy] x must be (N, C) and w (V, C), got x [6, 4] and w [9, 5]",
                       Error);
  CHECK_THROWS_WITH_AS(linear_cross_entropy(x, w, targets(5, 9, gen)),
                       "[linear_cross_entropy] targets shape [5] does not match x [6, 4] (expected [6])",
                       Error);
  Tensor bad = Tensor::from_vector(std::vector<int64_t>{0, 1, 9, 2, 3, 4}, {6});
  CHECK_THROWS_WITH_AS(linear_cross_entropy(x, w, bad),
                       "[linear_cross_entropy] target 9 at row 2 is out of range [0, 9) (ignore_index -100)",
                       Error);
  CHECK_THROWS_WITH_AS(linear_cross_entropy(x, w, t, -100, -1),
                       "[linear_cross_entropy] chunk_rows must be >= 0, got -1", Error);
}

TEST_CASE("fused: linear_cross_entropy under bf16 autocast matches the composite under the guard") {
  Generator gen(34);
  const int64_t n = 70, c = 32, v = 96;
  Tensor x = randn({n, c}, gen), w = randn({v, c}, gen);
  Tensor t = targets(n, v, gen, 7);
  const Result want = lce(x, w, t, false, 0, 1, true);
  const Result plain = lce(x, w, t, false);
  for (int64_t chunk : {0, 16, 33}) {
    CAPTURE(chunk);
    const Result got = lce(x, w, t, true, chunk, 1, true);
    check_lce(got, want, 1e-5);                // the same bf16 operands and bf16-rounded logit gradients
    CHECK(rel_err(got.gw, plain.gw) >= 1e-5);  // the rounding happened
    CHECK(rel_err(got.gw, plain.gw) <= 3e-2);
  }
}

TEST_CASE("fused: the Transformer's fused loss equals its unfused loss, value and every gradient") {
  TransformerConfig cfg = sra::test::tiny_decoder_config(2, 5);
  Generator gen(35);
  std::vector<int64_t> in(2 * 9), tg(2 * 9);
  for (size_t i = 0; i < in.size(); ++i) {
    in[i] = int64_t(gen.next_below(40));
    tg[i] = i % 4 == 3 ? -100 : int64_t(gen.next_below(40));
  }
  Tensor inputs = Tensor::from_vector(in, {2, 9}), tgts = Tensor::from_vector(tg, {2, 9});
  for (DType dt : {DType::f64, DType::f32}) {
    for (bool tied : {true, false}) {
      CAPTURE(dtype_name(dt));
      CAPTURE(tied);
      cfg.dtype = dt;
      cfg.tie_embeddings = tied;
      Transformer model(cfg);
      std::vector<std::vector<Tensor>> grads(2);
      std::vector<Tensor> losses(2);
      for (int fused = 0; fused < 2; ++fused) {
        model.set_fused_loss(fused == 1);
        losses[size_t(fused)] = model.loss(inputs, tgts);
        backward(losses[size_t(fused)]);
        for (auto& [name, p] : model.named_parameters()) {
          grads[size_t(fused)].push_back(p.grad());
          p.zero_grad();
        }
      }
      const double tol = dt == DType::f64 ? 1e-12 : 2e-5;
      CHECK(rel_err(losses[1], losses[0]) <= tol);
      for (size_t i = 0; i < grads[0].size(); ++i) {
        CAPTURE(i);
        CHECK(rel_err(grads[1][i], grads[0][i]) <= tol);
      }
    }
  }
}

TEST_CASE(
    "fused: the decoder stack's add + next norm fusion equals the layer-by-layer composite bit for bit") {
  // Transformer::run_hidden adds each layer's output parts with the next layer's input norm (or the final
  // norm) in one add_rmsnorm; the composite runs DecoderLayer::forward (add, then the next layer's norm).
  TransformerConfig cfg = sra::test::tiny_decoder_config(3, 7);
  Transformer model(cfg);
  Generator gen(3);
  {  // distinct norm weights, so that a layer reading another's norm would show
    NoGradGuard g;
    for (auto& [name, p] : model.named_parameters())
      if (p.dim() == 1) p.copy_(add(mul(randn(p.shape(), gen), 0.3), 1.0));
  }
  std::vector<int64_t> in(2 * 9);
  for (int64_t& x : in) x = int64_t(gen.next_below(40));
  const Tensor ids = Tensor::from_vector(in, {2, 9});
  std::vector<std::vector<Tensor>> grads(2);
  std::vector<Tensor> hidden(2);
  for (int fused = 0; fused < 2; ++fused) {
    Tensor h;
    if (fused == 1) {
      h = model.run_hidden(ids).hidden;
    } else {
      h = model.model->embed_tokens->forward(ids);
      const Tensor pos = Tensor::arange(9);
      for (const auto& layer : model.model->layers) h = layer->forward(h, pos);
      h = model.model->norm->forward(h);
    }
    hidden[size_t(fused)] = h;
    backward(sum(mul(h, h)));
    for (auto& [name, p] : model.named_parameters()) {
      grads[size_t(fused)].push_back(p.grad());
      p.zero_grad();
    }
  }
  CHECK(same_values(hidden[1], hidden[0]));
  for (size_t i = 0; i < grads[0].size(); ++i) {
    CAPTURE(i);
    CHECK(same_values(grads[1][i], grads[0][i]));
  }
}

TEST_CASE("fused: swiglu equals mul(silu(a), b) bit for bit in f32, forward and backward") {
  Generator gen(36);
  Tensor a = randn({5, 33}, gen).mul_(3.0), b = randn({5, 33}, gen), gy = randn({5, 33}, gen);
  std::vector<Tensor> out[2];
  for (int fused = 0; fused < 2; ++fused) {
    Tensor ar = a.detach().clone().set_requires_grad(true), br = b.detach().clone().set_requires_grad(true);
    Tensor y = fused ? swiglu(ar, br) : mul(silu(ar), br);
    backward(y, gy);
    out[fused] = {y.detach(), ar.grad(), br.grad()};
  }
  for (int i = 0; i < 3; ++i) CHECK(same_values(out[1][i], out[0][i]));
  CHECK_THROWS_WITH_AS(swiglu(a, randn({5, 32}, gen)),
                       "[swiglu] gate [5, 33] and up [5, 32] must have the same shape", Error);
}

TEST_CASE("fused: under bf16 autocast swiglu keeps gate and up in bf16; its gradients are f32's at them") {
  Generator gen(41);
  Tensor a = randn({6, 40}, gen).mul_(3.0), b = randn({6, 40}, gen), gy = randn({6, 40}, gen);
  std::vector<Tensor> out[2];  // autocast (bf16 saved), f32 at the rounded inputs
  for (int k = 0; k < 2; ++k) {
    std::optional<AutocastGuard> guard;
    if (k == 0) guard.emplace(DType::bf16);
    Tensor ain = k == 0 ? a : cast(cast(a, DType::bf16), DType::f32);
    Tensor bin = k == 0 ? b : cast(cast(b, DType::bf16), DType::f32);
    Tensor ar = ain.detach().clone().set_requires_grad(true),
           br = bin.detach().clone().set_requires_grad(true);
    Tensor y = swiglu(ar, br);
    backward(y, gy);
    out[k] = {y.detach(), ar.grad(), br.grad()};
  }
  CHECK(same_values(out[0][0], swiglu(a, b)));  // the forward reads the f32 inputs
  CHECK(same_values(out[0][1], out[1][1]));     // the backward the rounded ones
  CHECK(same_values(out[0][2], out[1][2]));
  CHECK(!same_values(out[0][1], [&] {  // and that differs from the f32 backward at the f32 inputs
    Tensor ar = a.detach().clone().set_requires_grad(true);
    backward(swiglu(ar, b), gy);
    return ar.grad();
  }()));
}

TEST_CASE("fused: linear_bf16_out gives linear's output rounded to bf16; swiglu reads bf16 gate and up") {
  Generator gen(42);
  Tensor x = randn({2, 5, 16}, gen), wg = randn({24, 16}, gen), wu = randn({24, 16}, gen);
  Tensor gy = randn({2, 5, 24}, gen);
  // without a guard (and in f64) it is linear
  CHECK(linear_bf16_out(x, wg).dtype() == DType::f32);
  CHECK(same_values(linear_bf16_out(x, wg), linear(x, wg)));
  std::vector<Tensor> out[2];  // bf16 outputs into swiglu; f32 outputs rounded by cast, then swiglu
  for (int k = 0; k < 2; ++k) {
    AutocastGuard guard(DType::bf16);
    Tensor xr = x.detach().clone().set_requires_grad(true);
    Tensor wgr = wg.detach().clone().set_requires_grad(true),
           wur = wu.detach().clone().set_requires_grad(true);
    Tensor g = k == 0 ? linear_bf16_out(xr, wgr) : cast(linear(xr, wgr), DType::bf16);
    Tensor u = k == 0 ? linear_bf16_out(xr, wur) : cast(linear(xr, wur), DType::bf16);
    CHECK(g.dtype() == DType::bf16);
    Tensor y = k == 0 ? swiglu(g, u) : swiglu(cast(g, DType::f32), cast(u, DType::f32));
    CHECK(y.dtype() == DType::f32);
    backward(y, gy);
    out[k] = {g.detach(), y.detach(), xr.grad(), wgr.grad(), wur.grad()};
  }
  for (int i = 0; i < 5; ++i) {
    CAPTURE(i);
    CHECK(same_values(out[0][i], out[1][i]));
  }
  CHECK_THROWS_WITH_AS(swiglu(cast(x, DType::bf16), x),
                       "[swiglu] first input has dtype bf16; expected f32 or f64", Error);
}

TEST_CASE(
    "fused: linear_stacked equals one linear per weight (f32 and bf16 autocast), forward and backward") {
  Generator gen(44);
  // q, k, v of a GQA layer: 32, 16 and 16 outputs from 24 inputs; a gradient for every output block
  Tensor x = randn({2, 5, 24}, gen), wq = randn({32, 24}, gen), wk = randn({16, 24}, gen),
         wv = randn({16, 24}, gen);
  Tensor gq = randn({2, 5, 32}, gen), gk = randn({2, 5, 16}, gen), gv = randn({2, 5, 16}, gen);
  for (const bool autocast : {false, true}) {
    CAPTURE(autocast);
    std::vector<Tensor> out[2];
    for (int stacked = 0; stacked < 2; ++stacked) {
      std::optional<AutocastGuard> guard;
      if (autocast) guard.emplace(DType::bf16);
      Tensor xr = x.detach().clone().set_requires_grad(true);
      std::vector<Tensor> ws = {wq.detach().clone().set_requires_grad(true),
                                wk.detach().clone().set_requires_grad(true),
                                wv.detach().clone().set_requires_grad(true)};
      std::vector<Tensor> y =
          stacked ? linear_stacked(xr, ws)
                  : std::vector<Tensor>{linear(xr, ws[0]), linear(xr, ws[1]), linear(xr, ws[2])};
      REQUIRE(y.size() == 3);
      CHECK(y[1].shape() == Shape{2, 5, 16});
      Tensor loss = add(add(sum(mul(y[0], gq)), sum(mul(y[1], gk))), sum(mul(y[2], gv)));
      backward(loss);
      out[stacked] = {y[0].detach(), y[1].detach(), y[2].detach(), xr.grad(),
                      ws[0].grad(),  ws[1].grad(),  ws[2].grad()};
    }
    for (size_t i = 0; i < out[0].size(); ++i) {
      CAPTURE(i);
      CHECK(rel_err(out[1][i], out[0][i]) <= 1e-6);  // the same products; fp32 sums in the GEMM's order
    }
  }
  // a frozen weight (no gradient) gets none; x still does
  Tensor xr = x.detach().clone().set_requires_grad(true), wr = wq.detach().clone().set_requires_grad(true);
  std::vector<Tensor> y = linear_stacked(xr, {wr, wk});
  backward(sum(add(sum(y[0]), sum(y[1]))));
  CHECK(xr.grad().defined());
  CHECK(wr.grad().defined());
  CHECK_FALSE(wk.grad().defined());
  CHECK_THROWS_WITH_AS(linear_stacked(x, {wq, randn({4, 7}, gen)}),
                       doctest::Contains("[linear_stacked] input [2, 5, 24] does not match weight [4, 7]"),
                       Error);
}

TEST_CASE("fused: the stacked gate and up (linear_stacked_bf16_out) into swiglu equal two linear_bf16_out") {
  // under bf16 autocast the two halves of one bf16 GEMM output, read in place by swiglu, whose bf16
  // gradients come back side by side for one backward GEMM pair
  Generator gen(45);
  Tensor x = randn({2, 7, 16}, gen), wg = randn({24, 16}, gen), wu = randn({24, 16}, gen);
  Tensor gy = randn({2, 7, 24}, gen);
  std::vector<Tensor> out[2];
  for (int stacked = 0; stacked < 2; ++stacked) {
    AutocastGuard guard(DType::bf16);
    Tensor xr = x.detach().clone().set_requires_grad(true);
    Tensor wgr = wg.detach().clone().set_requires_grad(true),
           wur = wu.detach().clone().set_requires_grad(true);
    Tensor g, u;
    if (stacked) {
      std::vector<Tensor> gu = linear_stacked_bf16_out(xr, {wgr, wur});
      g = gu[0], u = gu[1];
      CHECK(g.storage() == u.storage());
      CHECK(u.offset() == g.offset() + 24);
    } else {
      g = linear_bf16_out(xr, wgr), u = linear_bf16_out(xr, wur);
    }
    CHECK(g.dtype() == DType::bf16);
    Tensor y = swiglu(g, u);
    backward(y, gy);
    out[stacked] = {cast(g.detach(), DType::f32), y.detach(), xr.grad(), wgr.grad(), wur.grad()};
  }
  for (size_t i = 0; i < out[0].size(); ++i) {
    CAPTURE(i);
    CHECK(rel_err(out[1][i], out[0][i]) <= 1e-6);
  }
  // without a guard: linear_stacked's f32 outputs (swiglu copies the column blocks dense)
  std::vector<Tensor> f = linear_stacked_bf16_out(x, {wg, wu});
  CHECK(f[0].dtype() == DType::f32);
  CHECK(rel_err(swiglu(f[0], f[1]), swiglu(linear(x, wg), linear(x, wu))) <= 1e-6);  // sgemm's sum order
}

TEST_CASE("fused: a Transformer with stacked projections gives the per-projection loss and gradients") {
  // set_stacked_projections: q/k/v and gate/up as one GEMM each; the same products in other fp32 orders
  TransformerConfig cfg = sra::test::tiny_decoder_config(2, 8);
  Transformer model(cfg);
  Generator gen(46);
  std::vector<int64_t> in(2 * 9), tg(2 * 9);
  for (size_t i = 0; i < in.size(); ++i)
    in[i] = int64_t(gen.next_below(40)), tg[i] = int64_t(gen.next_below(40));
  Tensor inputs = Tensor::from_vector(in, {2, 9}), tgts = Tensor::from_vector(tg, {2, 9});
  for (const bool autocast : {false, true}) {
    CAPTURE(autocast);
    std::vector<Tensor> out[2];
    for (int stacked = 0; stacked < 2; ++stacked) {
      set_stacked_projections(stacked == 1);
      model.zero_grad();
      std::optional<AutocastGuard> guard;
      if (autocast) guard.emplace(DType::bf16);
      Tensor loss = model.loss(inputs, tgts);
      backward(loss);
      set_stacked_projections(false);
      out[stacked].push_back(loss.detach());
      for (auto& [name, p] : model.named_parameters()) out[stacked].push_back(p.grad().clone());
    }
    REQUIRE(out[0].size() == out[1].size());
    for (size_t i = 0; i < out[0].size(); ++i) {
      CAPTURE(i);
      // f32: sgemm's sum order only; bf16: a rounding of a GEMM output may flip and carry through
      CHECK(rel_err(out[1][i], out[0][i]) <= (autocast ? 2e-2 : 1e-5));
    }
  }
}

TEST_CASE("fused: add_rmsnorm equals add + rmsnorm bit for bit in f32, forward and backward") {
  Generator gen(39);
  Tensor x = randn({6, 40}, gen), d = randn({6, 40}, gen), w = randn({40}, gen);
  Tensor gs = randn({6, 40}, gen), gy = randn({6, 40}, gen);
  std::vector<Tensor> out[2];
  for (int fused = 0; fused < 2; ++fused) {
    Tensor xr = x.detach().clone().set_requires_grad(true), dr = d.detach().clone().set_requires_grad(true);
    Tensor wr = w.detach().clone().set_requires_grad(true);
    Tensor s, y;
    if (fused) {
      std::tie(s, y) = add_rmsnorm(xr, dr, wr, 1e-5);
    } else {
      s = add(xr, dr);
      y = rmsnorm(s, wr, 1e-5);
    }
    // the sum feeds a later op and the norm (as the decoder's residual stream does)
    backward(add(sum(mul(add(s, 0.0), gs)), sum(mul(y, gy))));
    out[fused] = {s.detach(), y.detach(), xr.grad(), dr.grad(), wr.grad()};
  }
  for (int i = 0; i < 5; ++i) {
    CAPTURE(i);
    CHECK(same_values(out[1][i], out[0][i]));
  }
  CHECK_THROWS_WITH_AS(add_rmsnorm(x, randn({6, 41}, gen), w),
                       "[add_rmsnorm] x [6, 40] and delta [6, 41] must have the same shape", Error);
}

TEST_CASE("fused: rmsnorm, rope and swiglu hand their bf16 copies to the autocast cache") {
  Generator gen(37);
  Tensor x = randn({2, 3, 8}, gen), w = randn({8}, gen);
  AutocastGuard guard(DType::bf16);
  auto check_kept = [](const Tensor& y) {
    Tensor c = autocast_bf16_operand(y);
    CHECK(c.dtype() == DType::bf16);
    CHECK(same_values(c, cast(y.detach(), DType::bf16)));
    // a reshape of the same elements is served the same copy (viewed alike)
    Tensor flat = autocast_bf16_operand(reshape(y.detach(), {-1, y.size(-1)}));
    CHECK(flat.raw() == c.raw());
    CHECK(flat.shape() == Shape{y.numel() / y.size(-1), y.size(-1)});
  };
  check_kept(rmsnorm(x, w));
  check_kept(add_rmsnorm(x, randn({2, 3, 8}, gen), w).second);
  check_kept(swiglu(x, randn({2, 3, 8}, gen)));
  check_kept(rope(reshape(x, {2, 3, 2, 4}), Tensor::arange(2)));
  // f64 and f32-without-autocast outputs get none (the guard's dtype decides)
  CHECK(!autocast_keeps_bf16(Tensor::zeros({2}, DType::f64)));
  AutocastGuard off(DType::f32);
  CHECK(!autocast_keeps_bf16(x));
}

TEST_CASE("fused: rope reads the transposed head split in place and writes gx in its layout") {
  Generator gen(38);
  Tensor proj = randn({2, 5, 3, 4}, gen);  // (B, T, H, D) as a projection's output
  Tensor pos = Tensor::arange(5), gy = randn({2, 3, 5, 4}, gen);
  std::vector<Tensor> out[2];
  for (int view = 0; view < 2; ++view) {
    Tensor p = proj.detach().clone().set_requires_grad(true);
    Tensor q = view ? transpose(p, 1, 2) : contiguous(transpose(p, 1, 2));
    Tensor y = rope(q, pos);
    CHECK(y.is_contiguous());
    backward(y, gy);
    out[view] = {y.detach(), p.grad()};
  }
  CHECK(same_values(out[1][0], out[0][0]));
  CHECK(same_values(out[1][1], out[0][1]));
  // the gradient of the view comes back in the projection's memory order (no copy on the way back)
  Tensor p = proj.detach().clone().set_requires_grad(true);
  Tensor q = transpose(p, 1, 2);
  Tensor y = rope(q, pos);
  CHECK(q.strides() == Shape{60, 4, 12, 1});
  backward(sum(mul(y, gy)));
  CHECK(p.grad().is_contiguous());
}

TEST_CASE("fused: the tape keeps a fresh first gradient as .grad and clones a shared one") {
  Generator gen(40);
  Tensor x = randn({3, 4}, gen).set_requires_grad(true), w = randn({3, 4}, gen).set_requires_grad(true);
  // add's backward passes one gradient to both inputs: each leaf gets its own copy
  backward(sum(add(x, w)));
  REQUIRE(x.grad().defined());
  CHECK(x.grad().raw() != w.grad().raw());
  x.grad().add_(Tensor::ones({3, 4}));
  for (float v : w.grad().to_vector<float>()) CHECK(v == 1.0f);
  // a fresh gradient (mul's) is kept; a second backward accumulates into it
  Tensor u = randn({5}, gen).set_requires_grad(true);
  backward(sum(mul(u, 3.0)));
  backward(sum(mul(u, 3.0)));
  for (float v : u.grad().to_vector<float>()) CHECK(v == 6.0f);
  // a seed the caller still holds is cloned, not kept
  Tensor seed = Tensor::ones({5});
  Tensor leaf = randn({5}, gen).set_requires_grad(true);
  backward(leaf, seed);
  CHECK(leaf.grad().raw() != seed.raw());
}

TEST_CASE("fused: attention under bf16 autocast reads strided q, k, v and dout as their dense copies") {
  Generator gen(41);
  Tensor proj = randn({3, 2, 6, 2, 64}, gen);              // q, k, v as (B, T, H, D) projections
  Tensor gy = transpose(randn({2, 6, 2, 64}, gen), 1, 2);  // a strided (B, H, T, D) dout
  std::vector<Tensor> out[2];
  for (int view = 0; view < 2; ++view) {
    Tensor p = proj.detach().clone().set_requires_grad(true);
    std::vector<Tensor> qkv;
    for (int64_t i = 0; i < 3; ++i) {
      Tensor x = transpose(select_first(p, i), 1, 2);  // (B, H, T, D) view
      qkv.push_back(view ? x : contiguous(x));
    }
    AutocastGuard guard(DType::bf16);
    Tensor y = attention(qkv[0], qkv[1], qkv[2]);
    backward(y, view ? gy : contiguous(gy));
    out[view] = {y.detach(), p.grad()};
  }
  CHECK(same_values(out[1][0], out[0][0]));
  CHECK(same_values(out[1][1], out[0][1]));
}
