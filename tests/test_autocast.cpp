// bf16 autocast on the CPU (autograd/autocast.h): the guard's scope, nesting and thread, and matmul /
// linear under it against f32 GEMMs of the bf16-rounded operands. On the CPU the bf16 GEMM widens its
// operands to f32 and runs sgemm, so forward and both gradients match the rounded-operand f32 result up
// to the order of the fp32 additions (≤ 1e-6 relative here), and differ from the unrounded f32 result
// by bf16's rounding (between 1e-4 and 1e-2 relative for random normal operands). The CUDA side is
// tests/test_cuda_bf16.cpp. Attention and sparse attention under the guard (the CPU oracle of their bf16
// kernels) equal the f32 ops on bf16-rounded q, k, v and dout (≤ 1e-6), at D = 64 (the bf16 kernels' head
// dim) and D = 24 (widened back to f32); their CUDA side is tests/test_cuda_{,sparse_}attention.cpp.
#include <doctest/doctest.h>

#include <cmath>
#include <memory>
#include <thread>
#include <tuple>
#include <vector>

#include "autograd/autocast.h"
#include "autograd/ops.h"
#include "autograd/sparse_attention.h"
#include "autograd/tape.h"
#include "compare_util.h"
#include "core/rng.h"
#include "model/transformer.h"
#include "model_test_util.h"

using namespace sra;
using sra::test::rel_err;

namespace {

// x rounded to bf16 and widened back to f32 (a leaf).
Tensor rounded(const Tensor& x) {
  return cast(cast(x.detach(), DType::bf16), DType::f32);
}

struct Grads {
  Tensor y, ga, gb;
};

// y = f(a, b) and the gradients of a and b from the seed gradient w, under bf16 autocast or not.
template <typename F>
Grads run(F f, const Tensor& a0, const Tensor& b0, const Tensor& w, bool bf16) {
  Tensor a = a0.detach().clone(), b = b0.detach().clone();
  a.set_requires_grad(true);
  b.set_requires_grad(true);
  Grads r;
  {
    AutocastGuard guard(bf16 ? DType::bf16 : DType::f32);
    r.y = f(a, b);
    backward(r.y, w);
  }
  r.ga = a.grad();
  r.gb = b.grad();
  return r;
}

// Under the guard, f(a, b) equals f on the rounded operands with every GEMM's operands rounded — for
// matmul that is f32 matmul of rounded a, b for the forward, and of rounded w for the gradients.
template <typename F>
void check_against_rounded(F f, const Tensor& a, const Tensor& b, Generator& gen) {
  Shape out_shape;
  {
    NoGradGuard probe_guard;
    out_shape = f(a, b).shape();
  }
  Tensor w = randn(out_shape, gen);
  Grads got = run(f, a, b, w, true);
  Grads ref = run(f, rounded(a), rounded(b), rounded(w), false);
  Grads plain = run(f, a, b, w, false);
  CHECK(got.y.dtype() == DType::f32);
  CHECK(got.ga.dtype() == DType::f32);
  using Triple = std::tuple<Tensor, Tensor, Tensor>;
  for (const auto& [g, r, p] :
       std::vector<Triple>{{got.y, ref.y, plain.y}, {got.ga, ref.ga, plain.ga}, {got.gb, ref.gb, plain.gb}}) {
    CHECK(rel_err(g, r) <= 1e-6);
    double e = rel_err(g, p);
    CHECK(e >= 1e-4);  // rounding happened
    CHECK(e <= 1e-2);
  }
}

}  // namespace

TEST_CASE("autocast: the guard sets the thread's dtype for its scope, nests and restores") {
  CHECK(autocast_dtype() == DType::f32);
  {
    AutocastGuard on(DType::bf16);
    CHECK(autocast_dtype() == DType::bf16);
    {
      AutocastGuard off(DType::f32);
      CHECK(autocast_dtype() == DType::f32);
    }
    CHECK(autocast_dtype() == DType::bf16);
    DType other = DType::bf16;
    std::thread([&] { other = autocast_dtype(); }).join();
    CHECK(other == DType::f32);  // thread-local
  }
  CHECK(autocast_dtype() == DType::f32);
  CHECK_THROWS_WITH(AutocastGuard(DType::f64), "[autocast] dtype must be bf16 or f32, got f64");
  CHECK(autocast_dtype() == DType::f32);
}

TEST_CASE("autocast: matmul forward and both gradients use bf16-rounded operands") {
  Generator gen(5);
  auto mm = [](const Tensor& a, const Tensor& b) { return matmul(a, b); };
  SUBCASE("plain 3x5 @ 5x7") {
    check_against_rounded(mm, randn({3, 5}, gen), randn({5, 7}, gen), gen);
  }
  SUBCASE("transposed operands") {
    auto mt = [](const Tensor& a, const Tensor& b) { return matmul(transpose(a, 0, 1), transpose(b, 0, 1)); };
    check_against_rounded(mt, randn({5, 3}, gen), randn({7, 5}, gen), gen);
  }
  SUBCASE("batched, contiguous (one strided-batched GEMM)") {
    check_against_rounded(mm, randn({4, 3, 5}, gen), randn({4, 5, 7}, gen), gen);
  }
  SUBCASE("batched with broadcast (a stride of 0)") {
    check_against_rounded(mm, randn({2, 3, 5, 7}, gen), randn({3, 7, 4}, gen), gen);
  }
  SUBCASE("batched, permuted batch dims (one GEMM per matrix)") {
    auto mp = [](const Tensor& a, const Tensor& b) { return matmul(permute(a, {1, 0, 2, 3}), b); };
    check_against_rounded(mp, randn({3, 2, 6, 5}, gen), randn({2, 3, 5, 7}, gen), gen);
  }
  SUBCASE("batch folded into M (3-d @ 2-d)") {
    check_against_rounded(mm, randn({2, 9, 5}, gen), randn({5, 7}, gen), gen);
  }
}

TEST_CASE("autocast: linear (x, weight, bias) under the guard") {
  Generator gen(6);
  Tensor x = randn({2, 3, 16}, gen), w = randn({12, 16}, gen), bias = randn({12}, gen);
  x.set_requires_grad(true);
  w.set_requires_grad(true);
  bias.set_requires_grad(true);
  Tensor seed = randn({2, 3, 12}, gen);
  {
    AutocastGuard guard(DType::bf16);
    backward(linear(x, w, bias), seed);
  }
  Tensor xr = rounded(x), wr = rounded(w), sr = rounded(seed);
  Tensor y_ref = add(matmul(xr, transpose(wr, 0, 1)), bias.detach());
  CHECK(rel_err(x.grad(), matmul(sr, wr)) <= 1e-6);
  CHECK(rel_err(w.grad(), matmul(transpose(reshape(sr, {6, 12}), 0, 1), reshape(xr, {6, 16}))) <= 1e-6);
  CHECK(rel_err(bias.grad(), sum(seed, {0, 1})) <= 1e-6);  // the bias add stays f32
  AutocastGuard guard(DType::bf16);
  NoGradGuard no_grad;
  CHECK(rel_err(linear(x, w, bias), y_ref) <= 1e-6);
}

TEST_CASE("autocast: the forward decides: backward outside the guard keeps bf16, and the reverse") {
  Generator gen(7);
  Tensor a0 = randn({4, 6}, gen), b0 = randn({6, 5}, gen), w = randn({4, 5}, gen);
  auto grad_a = [&](bool forward_bf16, bool backward_bf16) {
    Tensor a = a0.clone(), b = b0.clone();
    a.set_requires_grad(true);
    Tensor y;
    {
      AutocastGuard g(forward_bf16 ? DType::bf16 : DType::f32);
      y = matmul(a, b);
    }
    AutocastGuard g(backward_bf16 ? DType::bf16 : DType::f32);
    backward(y, w);
    return a.grad();
  };
  Tensor bf16_ref = matmul(rounded(w), transpose(rounded(b0), 0, 1));
  Tensor f32_ref = matmul(w, transpose(b0, 0, 1));
  CHECK(rel_err(grad_a(true, false), bf16_ref) <= 1e-6);
  CHECK(rel_err(grad_a(false, true), f32_ref) <= 1e-6);
  CHECK(rel_err(grad_a(false, true), bf16_ref) >= 1e-4);
}

TEST_CASE("autocast: f64 operands are never cast") {
  Generator gen(8);
  Tensor a = randn({3, 5}, gen, DType::f64), b = randn({5, 7}, gen, DType::f64);
  Tensor plain = matmul(a, b);
  AutocastGuard guard(DType::bf16);
  Tensor under = matmul(a, b);
  CHECK(under.dtype() == DType::f64);
  CHECK(under.to_vector<double>() == plain.to_vector<double>());
}

TEST_CASE("autocast: the cast cache shares a live copy of the same elements and nothing else") {
  Generator gen(9);
  Tensor x = randn({4, 6}, gen);
  std::vector<float> want;
  for (float v : x.to_vector<float>()) want.push_back(float(bf16(v)));
  {
    AutocastGuard guard(DType::bf16);
    Tensor c1 = autocast_bf16_operand(x);
    CHECK(c1.dtype() == DType::bf16);
    CHECK(c1.to_vector<float>() == want);
    const Storage* s1 = c1.storage().get();
    CHECK(autocast_bf16_operand(x).storage().get() == s1);                   // same elements, copy alive
    CHECK(autocast_bf16_operand(reshape(x, {4, 6})).storage().get() == s1);  // another handle, same elements
    CHECK(autocast_bf16_operand(x.slice(0, 1, 3)).storage().get() != s1);    // other elements
    x.add_(Tensor::scalar(1.0));                                             // a new version
    Tensor c3 = autocast_bf16_operand(x);
    CHECK(c3.storage().get() != s1);
    CHECK(c3.to_vector<float>()[0] == float(bf16(x.to_vector<float>()[0])));
    std::weak_ptr<Storage> s3 = c3.storage();
    c3 = Tensor();  // no one holds the copy: the cache does not keep it
    CHECK(s3.expired());
    CHECK(autocast_bf16_operand(x).to_vector<float>()[0] == float(bf16(x.to_vector<float>()[0])));
  }
  CHECK(autocast_bf16_operand(x).storage() !=
        autocast_bf16_operand(x).storage());  // no cache outside a guard
  // a transposed weight keeps its layout: the copy is a straight conversion in memory order
  Tensor w = randn({5, 3}, gen);
  Tensor wt = transpose(w, 0, 1);
  Tensor ct = autocast_bf16_operand(wt);
  CHECK(ct.strides() == wt.strides());
  CHECK(ct.to_vector<float>() == rounded(wt).to_vector<float>());
}

TEST_CASE("autocast: a kept copy first read through a reshaped view serves the next consumer too") {
  // matmul folds (B, T, C) into (B·T, C): the tape then holds a view of the copy, not the kept handle.
  // The q projection's read must not end the copy's life in the cache before k and v read it (on the
  // H200 the k and up projections re-cast x in every layer: 24 casts of 12.6M elements a step).
  Generator gen(10);
  Tensor x = randn({2, 3, 8}, gen);
  AutocastGuard guard(DType::bf16);
  Tensor x16 = cast(x, DType::bf16);
  autocast_keep_bf16(x, x16);
  Tensor q_view = autocast_bf16_operand(reshape(x, {6, 8}));  // the first consumer (q's matmul)
  CHECK(q_view.storage() == x16.storage());
  const Storage* kept = x16.storage().get();
  x16 = Tensor();  // only the first consumer's view holds the copy now, as the tape does
  CHECK(autocast_bf16_operand(reshape(x, {6, 8})).storage().get() == kept);  // k's matmul: a hit
  CHECK(autocast_bf16_operand(x).storage().get() == kept);                   // and in x's own shape
  std::weak_ptr<Storage> w = q_view.storage();
  q_view = Tensor();  // nothing holds a view any more: the cache does not keep the copy alive
  CHECK(w.expired());
}

namespace {

// out and the gradients of q, k, v (and gate for sparse) of f(q, k, v, gate) for the seed w.
template <typename F>
std::vector<Tensor> attention_grads(F f, const std::vector<Tensor>& in, const Tensor& w, bool bf16) {
  std::vector<Tensor> x;
  for (const Tensor& t : in) x.push_back(t.detach().clone().set_requires_grad(true));
  std::vector<Tensor> r;
  {
    AutocastGuard guard(bf16 ? DType::bf16 : DType::f32);
    r.push_back(f(x));
    backward(r[0], w);
  }
  for (const Tensor& t : x) r.push_back(t.grad());
  tape_clear();
  return r;
}

template <typename F>
void check_attention(F f, const std::vector<Tensor>& in, const Tensor& w, size_t rounded_inputs) {
  std::vector<Tensor> in_r = in;
  for (size_t i = 0; i < rounded_inputs; ++i) in_r[i] = rounded(in[i]);
  const std::vector<Tensor> got = attention_grads(f, in, w, true);
  const std::vector<Tensor> ref = attention_grads(f, in_r, rounded(w), false);
  const std::vector<Tensor> plain = attention_grads(f, in, w, false);
  for (size_t i = 0; i < got.size(); ++i) {
    CHECK(got[i].dtype() == DType::f32);
    CHECK(rel_err(got[i], ref[i]) <= 1e-6);
    const double e = rel_err(got[i], plain[i]);
    CHECK(e >= 1e-5);  // rounding happened
    CHECK(e <= 3e-2);
  }
}

}  // namespace

TEST_CASE("autocast: attention and sparse_attention run on bf16-rounded q, k, v and dout") {
  Generator gen(21);
  for (int64_t D : {64, 24}) {
    INFO("D = " << D);
    std::vector<Tensor> in = {randn({2, 4, 70, D}, gen), randn({2, 2, 90, D}, gen),
                              randn({2, 2, 90, D}, gen)};
    Tensor w = randn({2, 4, 70, D}, gen);
    check_attention([](const std::vector<Tensor>& x) { return attention(x[0], x[1], x[2], true); }, in, w, 3);

    std::vector<Tensor> sin = {randn({1, 2, 150, D}, gen), randn({1, 1, 150, D}, gen),
                               randn({1, 1, 150, D}, gen), rand_uniform({1, 150}, gen)};
    std::vector<uint8_t> s(150);
    for (size_t i = 0; i < s.size(); ++i) s[i] = i % 3 == 0;
    Tensor sel = Tensor::from_vector(s, {1, 150});
    Tensor sw = randn({1, 2, 150, D}, gen);
    check_attention(
        [&](const std::vector<Tensor>& x) { return sparse_attention(x[0], x[1], x[2], sel, x[3], 16, 2); },
        sin, sw, 3);
  }
}

TEST_CASE("autocast: f64 attention is never cast") {
  Generator gen(22);
  std::vector<Tensor> in = {randn({1, 2, 30, 64}, gen, DType::f64), randn({1, 2, 30, 64}, gen, DType::f64),
                            randn({1, 2, 30, 64}, gen, DType::f64)};
  Tensor w = randn({1, 2, 30, 64}, gen, DType::f64);
  auto f = [](const std::vector<Tensor>& x) { return attention(x[0], x[1], x[2], true); };
  const std::vector<Tensor> got = attention_grads(f, in, w, true), plain = attention_grads(f, in, w, false);
  for (size_t i = 0; i < got.size(); ++i) {
    CHECK(got[i].dtype() == DType::f64);
    CHECK(rel_err(got[i], plain[i]) == 0.0);
  }
}

TEST_CASE(
    "autocast: the backward's gate, up, attention-output, q and k gradients reach their GEMMs without a "
    "cast") {
  // Per layer, swiglu's backward writes the gate and up gradients in bf16 only (the gradients of bf16
  // inputs: the GEMMs read them as they are), add_rmsnorm keeps a bf16 copy of the gradient of its delta
  // (the attention's output projection) and rope of the q and k gradients (in the projections' memory
  // order): the one GEMM operand of the backward cast is the v projection's gradient (attention's dv, f32),
  // none with the stacked projections (linear_stacked converts dv as it gathers the three gradients).
  // Each cast was one kernel over the activation (H200 profile 2026-12-02).
  TransformerConfig cfg = sra::test::tiny_decoder_config(3, 5);
  Transformer model(cfg);
  Generator gen(36);
  std::vector<int64_t> in(2 * 9), tg(2 * 9);
  for (size_t i = 0; i < in.size(); ++i)
    in[i] = int64_t(gen.next_below(40)), tg[i] = int64_t(gen.next_below(40));
  Tensor inputs = Tensor::from_vector(in, {2, 9}), tgts = Tensor::from_vector(tg, {2, 9});
  for (const bool stacked : {false, true}) {
    CAPTURE(stacked);
    set_stacked_projections(stacked);
    model.zero_grad();
    AutocastGuard guard(DType::bf16);
    Tensor loss = model.loss(inputs, tgts);
    const AutocastStats before = autocast_stats();
    backward(loss);
    const AutocastStats after = autocast_stats();
    set_stacked_projections(false);
    CHECK(after.casts - before.casts == uint64_t(stacked ? 0 : cfg.n_layers));
    CHECK(after.kept_hits - before.kept_hits >= uint64_t(3 * cfg.n_layers));
    for (auto& [name, p] : model.named_parameters()) {
      CAPTURE(name);
      REQUIRE(p.grad().defined());
      for (float v : p.grad().to_vector<float>()) CHECK(std::isfinite(v));
    }
  }
}
