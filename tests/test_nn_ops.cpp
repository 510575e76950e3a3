// Softmax family, cross-entropy, embedding, rmsnorm, rope and dropout: forward values against naive
// references, numerical stability, error messages, and bitwise thread-count determinism.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "autograd/ops.h"
#include "core/parallel.h"

using namespace sra;

namespace {

std::vector<double> vals(const Tensor& t) {
  return t.to_vector<double>();
}

Tensor normal(const Shape& s, uint64_t seed, DType dt = DType::f64) {
  Generator g(seed);
  return randn(s, g, dt);
}

void check_close(const Tensor& a, const Tensor& b, double tol) {
  REQUIRE(a.shape() == b.shape());
  std::vector<double> va = vals(a), vb = vals(b);
  for (size_t i = 0; i < va.size(); ++i) {
    INFO("element " << i);
    CHECK(va[i] == doctest::Approx(vb[i]).epsilon(tol).scale(1.0));
  }
}

template <typename T>
bool bitwise_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.to_vector<T>() == b.to_vector<T>();
}

// Runs f with 1 and then 2 threads, restoring the thread count.
template <typename F>
void with_threads(int n, F f) {
  int prev = num_threads();
  set_num_threads(n);
  f();
  set_num_threads(prev);
}

}  // namespace

TEST_CASE("nn: softmax matches a naive reference and rows sum to 1") {
  Tensor x = normal({3, 4, 5}, 1);
  for (int64_t dim : {0, 1, 2}) {
    Tensor y = softmax(x, dim);
    Tensor naive = exp(x) / sum(exp(x), {dim}, true);
    check_close(y, naive, 1e-12);
    std::vector<double> s = vals(sum(y, {dim}));
    for (double v : s) CHECK(v == doctest::Approx(1.0).epsilon(1e-12));
    Tensor ly = log_softmax(x, dim);
    check_close(ly, log(naive), 1e-12);
  }
  // Many strided columns (inner > the kernel's column block) and a gradient through that path.
  Tensor wide = normal({5, 130}, 3);
  check_close(softmax(wide, 0), exp(wide) / sum(exp(wide), {0}, true), 1e-12);
  check_close(log_softmax(wide, 0), log(exp(wide) / sum(exp(wide), {0}, true)), 1e-12);
  Tensor wl = wide.clone(), wr = wide.clone();
  wl.set_requires_grad(true);
  wr.set_requires_grad(true);
  Tensor gw = normal({5, 130}, 4);
  backward(log_softmax(wl, 0), gw);
  backward(log(exp(wr) / sum(exp(wr), {0}, true)), gw);
  check_close(wl.grad(), wr.grad(), 1e-10);
  Tensor xf = normal({7, 33}, 2, DType::f32);
  for (double v : vals(sum(softmax(xf, -1), {1}))) CHECK(v == doctest::Approx(1.0).epsilon(1e-6));
}

TEST_CASE("nn: softmax and log_softmax are stable for large inputs") {
  for (DType dt : {DType::f32, DType::f64}) {
    Tensor x = Tensor::from_vector(std::vector<double>{1000, 1001, 1002, -1000, 0, 1000}, {2, 3}).to(dt);
    std::vector<double> y = vals(softmax(x, -1));
    double z = 1 + std::exp(1.0) + std::exp(2.0);
    CHECK(y[0] == doctest::Approx(1 / z).epsilon(1e-6));
    CHECK(y[2] == doctest::Approx(std::exp(2.0) / z).epsilon(1e-6));
    CHECK(y[3] == 0.0);
    CHECK(y[5] == doctest::Approx(1.0).epsilon(1e-6));
    std::vector<double> ly = vals(log_softmax(x, -1));
    CHECK(ly[0] == doctest::Approx(-std::log(z)).epsilon(1e-6));
    CHECK(ly[3] == doctest::Approx(-2000.0).epsilon(1e-6));
    for (double v : ly) CHECK(std::isfinite(v));
  }
}

TEST_CASE("nn: cross_entropy equals -mean log_softmax at the targets") {
  Tensor logits = normal({5, 7}, 3);
  std::vector<int64_t> t = {0, 6, 3, 3, 1};
  Tensor targets = Tensor::from_vector(t, {5});
  double loss = cross_entropy(logits, targets).item();
  std::vector<double> ls = vals(log_softmax(logits, 1));
  double ref = 0;
  for (int64_t n = 0; n < 5; ++n) ref -= ls[n * 7 + t[n]];
  CHECK(loss == doctest::Approx(ref / 5).epsilon(1e-12));
  // i32 targets give the same loss.
  CHECK(cross_entropy(logits, targets.to(DType::i32)).item() == doctest::Approx(ref / 5).epsilon(1e-12));
  // f32 logits at a large offset stay finite and accurate.
  Tensor big = add(logits, 1000.0).to(DType::f32);
  CHECK(cross_entropy(big, targets).item() == doctest::Approx(ref / 5).epsilon(1e-4));
}

TEST_CASE("nn: cross_entropy skips ignore_index rows in value and gradient") {
  Tensor logits = normal({4, 3}, 4);
  logits.set_requires_grad(true);
  Tensor targets = Tensor::from_vector(std::vector<int64_t>{2, -100, 0, -100}, {4});
  Tensor loss = cross_entropy(logits, targets);
  std::vector<double> ls = vals(log_softmax(logits.detach(), 1));
  CHECK(loss.item() == doctest::Approx(-(ls[0 * 3 + 2] + ls[2 * 3 + 0]) / 2).epsilon(1e-12));
  backward(mul(loss, 3.0));
  std::vector<double> g = vals(logits.grad()), p = vals(softmax(logits.detach(), 1));
  for (int64_t n = 0; n < 4; ++n) {
    for (int64_t v = 0; v < 3; ++v) {
      double want = 0;
      if (n == 0) want = 3.0 * (p[n * 3 + v] - (v == 2)) / 2;
      if (n == 2) want = 3.0 * (p[n * 3 + v] - (v == 0)) / 2;
      CHECK(g[n * 3 + v] == doctest::Approx(want).epsilon(1e-12).scale(1.0));
    }
  }
  // Every target ignored: loss 0, zero gradient.
  Tensor l2 = normal({2, 3}, 5);
  l2.set_requires_grad(true);
  Tensor none = cross_entropy(l2, Tensor::from_vector(std::vector<int64_t>{7, 7}, {2}), 7);
  CHECK(none.item() == 0.0);
  backward(none);
  for (double v : vals(l2.grad())) CHECK(v == 0.0);
}

TEST_CASE("nn: cross_entropy errors") {
  Tensor logits = Tensor::zeros({3, 5}, DType::f32);
  CHECK_THROWS_WITH_AS(cross_entropy(logits, Tensor::from_vector(std::vector<int64_t>{0, 5, 1}, {3})),
                       "[cross_entropy] target 5 at row 1 is out of range [0, 5) (ignore_index -100)", Error);
  CHECK_THROWS_WITH_AS(cross_entropy(logits, Tensor::from_vector(std::vector<int64_t>{0, 1, -1}, {3})),
                       "[cross_entropy] target -1 at row 2 is out of range [0, 5) (ignore_index -100)",
                       Error);
  CHECK_THROWS_WITH_AS(cross_entropy(logits, Tensor::from_vector(std::vector<int64_t>{0, 1}, {2})),
                       "[cross_entropy] targets shape [2] does not match logits [3, 5] (expected [3])",
                       Error);
  CHECK_THROWS_AS(cross_entropy(logits, Tensor::zeros({3}, DType::f32)), Error);
}

TEST_CASE("nn: embedding looks up rows, checks ids and accumulates gradients") {
  Tensor w = normal({4, 3}, 6);
  w.set_requires_grad(true);
  Tensor ids = Tensor::from_vector(std::vector<int64_t>{2, 0, 2, 3, 2, 1}, {2, 3});
  Tensor y = embedding(w, ids);
  CHECK(y.shape() == Shape{2, 3, 3});
  std::vector<double> wv = vals(w.detach()), yv = vals(y);
  std::vector<int64_t> iv = ids.to_vector<int64_t>();
  for (size_t j = 0; j < iv.size(); ++j)
    for (int64_t c = 0; c < 3; ++c) CHECK(yv[j * 3 + c] == wv[iv[j] * 3 + c]);
  Tensor g = normal({2, 3, 3}, 7);
  backward(y, g);
  std::vector<double> gv = vals(g), gw = vals(w.grad());
  for (int64_t v = 0; v < 4; ++v) {
    for (int64_t c = 0; c < 3; ++c) {
      double want = 0;
      for (size_t j = 0; j < iv.size(); ++j)
        if (iv[j] == v) want += gv[j * 3 + c];
      CHECK(gw[v * 3 + c] == doctest::Approx(want).epsilon(1e-14));
    }
  }
  CHECK_THROWS_WITH_AS(embedding(w, Tensor::from_vector(std::vector<int64_t>{1, 2, 9, 0}, {2, 2})),
                       "[embedding] id 9 at position [1, 0] is out of range [0, 4) for weight [4, 3]", Error);
  CHECK_THROWS_WITH_AS(embedding(w, Tensor::from_vector(std::vector<int32_t>{-1}, {1})),
                       "[embedding] id -1 at position [0] is out of range [0, 4) for weight [4, 3]", Error);
}

TEST_CASE("nn: embedding backward is bitwise independent of the thread count") {
  Tensor w = normal({50, 64}, 8, DType::f32);
  Generator gi(9);
  Tensor u = rand_uniform({4000}, gi, DType::f64);
  std::vector<int64_t> ids;
  for (double v : vals(u)) ids.push_back(int64_t(v * v * 50));  // skewed: many repeats of small ids
  Tensor idx = Tensor::from_vector(ids, {4000});
  Tensor g = normal({4000, 64}, 10, DType::f32);
  Tensor g1, g2;
  for (int threads : {1, 2}) {
    with_threads(threads, [&] {
      Tensor wl = w.detach().clone();
      wl.set_requires_grad(true);
      backward(embedding(wl, idx), g);
      (threads == 1 ? g1 : g2) = wl.grad();
    });
  }
  CHECK(bitwise_equal<float>(g1, g2));
}

TEST_CASE("nn: rmsnorm matches the composite and its gradients") {
  Tensor x = normal({2, 3, 8}, 11), w = normal({8}, 12);
  x.set_requires_grad(true);
  w.set_requires_grad(true);
  Tensor g = normal({2, 3, 8}, 13);
  double eps = 1e-5;
  Tensor y = rmsnorm(x, w, eps);
  backward(y, g);
  Tensor gx = x.grad(), gw = w.grad();
  x.zero_grad();
  w.zero_grad();
  Tensor ref = mul(mul(x, rsqrt(add(mean(mul(x, x), {-1}, true), eps))), w);
  check_close(y, ref, 1e-12);
  backward(ref, g);
  check_close(gx, x.grad(), 1e-10);
  check_close(gw, w.grad(), 1e-10);
  CHECK_THROWS_WITH_AS(rmsnorm(x.detach(), Tensor::ones({7}, DType::f64)),
                       "[rmsnorm] weight shape [7] does not match the last dim of input [2, 3, 8]", Error);
}

TEST_CASE("nn: rmsnorm forward and backward are bitwise independent of the thread count") {
  Tensor x = normal({300, 96}, 14, DType::f32), w = normal({96}, 15, DType::f32);
  Tensor g = normal({300, 96}, 16, DType::f32);
  std::vector<Tensor> out[2];
  for (int k = 0; k < 2; ++k) {
    with_threads(k + 1, [&] {
      Tensor xl = x.detach().clone(), wl = w.detach().clone();
      xl.set_requires_grad(true);
      wl.set_requires_grad(true);
      Tensor y = rmsnorm(xl, wl);
      backward(y, g);
      out[k] = {y.detach(), xl.grad(), wl.grad()};
    });
  }
  for (int i = 0; i < 3; ++i) CHECK(bitwise_equal<float>(out[0][i], out[1][i]));
}

namespace {
// Naive rotate_half RoPE built from other ops: x·cos + rotate_half(x)·sin.
Tensor naive_rope(const Tensor& x, const std::vector<std::vector<int64_t>>& pos, double theta) {
  int64_t b = x.size(0), t = x.size(2), d = x.size(3), h = d / 2;
  std::vector<double> c(size_t(b * t * d)), s(size_t(b * t * d));
  for (int64_t bi = 0; bi < b; ++bi)
    for (int64_t ti = 0; ti < t; ++ti)
      for (int64_t i = 0; i < d; ++i) {
        int64_t p = pos.size() == 1 ? pos[0][ti] : pos[bi][ti];
        double a = double(p) / std::pow(theta, double(2 * (i % h)) / double(d));
        c[(bi * t + ti) * d + i] = std::cos(a);
        s[(bi * t + ti) * d + i] = std::sin(a);
      }
  Tensor ct = Tensor::from_vector(c, {b, 1, t, d}), st = Tensor::from_vector(s, {b, 1, t, d});
  Tensor rot = concat({neg(slice(x, 3, h, d)), slice(x, 3, 0, h)}, 3);
  return add(mul(x, ct), mul(rot, st));
}
}  // namespace

TEST_CASE("nn: rope matches a naive rotate_half implementation and preserves pair norms") {
  Tensor x = normal({2, 3, 4, 8}, 17);
  std::vector<int64_t> p1 = {0, 1, 5, 200};
  Tensor y = rope(x, Tensor::from_vector(p1, {4}));
  check_close(y, naive_rope(x, {p1}, 10000.0), 1e-12);
  std::vector<std::vector<int64_t>> p2 = {{3, 4, 5, 6}, {0, 0, 9, 1000}};
  Tensor y2 = rope(x, Tensor::from_vector(std::vector<int32_t>{3, 4, 5, 6, 0, 0, 9, 1000}, {2, 4}), 500.0);
  check_close(y2, naive_rope(x, p2, 500.0), 1e-12);
  // Each rotated pair (i, i + D/2) keeps its norm; position 0 is the identity.
  std::vector<double> xv = vals(x), yv = vals(y);
  for (size_t row = 0; row < xv.size() / 8; ++row)
    for (size_t i = 0; i < 4; ++i) {
      size_t a = row * 8 + i, b = a + 4;
      CHECK(yv[a] * yv[a] + yv[b] * yv[b] == doctest::Approx(xv[a] * xv[a] + xv[b] * xv[b]).epsilon(1e-12));
      if (row % 4 == 0) CHECK(yv[a] == xv[a]);
    }
  // Backward is the inverse rotation: rope of the gradient by −angle brings y back to x.
  Tensor xr = x.detach().clone();
  xr.set_requires_grad(true);
  Tensor pos = Tensor::from_vector(p1, {4});
  backward(rope(xr, pos), y);
  check_close(xr.grad(), x, 1e-12);
  CHECK_THROWS_WITH_AS(rope(normal({1, 1, 3, 5}, 1), Tensor::from_vector(std::vector<int64_t>{0, 1, 2}, {3})),
                       "[rope] input must be (B, H, T, D) with D even, got shape [1, 1, 3, 5]", Error);
  CHECK_THROWS_WITH_AS(
      rope(x, Tensor::from_vector(std::vector<int64_t>{0, 1, 2}, {3})),
      "[rope] positions shape [3] does not match input [2, 3, 4, 8] (expected [4] or [2, 4])", Error);
}

TEST_CASE("nn: dropout keeps about 1-p, scales by 1/(1-p) and reuses its mask in backward") {
  for (DType dt : {DType::f32, DType::f64}) {
    double p = 0.3;
    int64_t n = 100000;
    Tensor x = Tensor::ones({n}, dt);
    x.set_requires_grad(true);
    Generator gen(21);
    Tensor y = dropout(x, p, gen);
    CHECK(gen.offset() == uint64_t(n));
    std::vector<double> yv = vals(y);
    int64_t kept = 0;
    for (double v : yv) {
      if (v != 0) {
        ++kept;
        CHECK(v == doctest::Approx(1 / (1 - p)).epsilon(1e-6));
      }
    }
    double frac = double(kept) / double(n), sd = std::sqrt(p * (1 - p) / double(n));
    CHECK(std::fabs(frac - (1 - p)) < 5 * sd);
    Tensor g = normal({n}, 22, dt);
    backward(y, g);
    std::vector<double> gx = vals(x.grad()), gv = vals(g);
    for (int64_t i = 0; i < n; ++i) CHECK(gx[i] == doctest::Approx(yv[i] * gv[i]).epsilon(1e-6));
  }
  // Same generator state → same mask; eval mode and p = 0 are the identity and draw nothing.
  Tensor x = normal({1000}, 23);
  Generator a(5), b(5);
  CHECK(bitwise_equal<double>(dropout(x, 0.5, a), dropout(x, 0.5, b)));
  Generator c(5);
  CHECK(dropout(x, 0.5, c, false).id() == x.id());
  CHECK(dropout(x, 0.0, c).id() == x.id());
  CHECK(c.offset() == 0);
  CHECK_THROWS_WITH_AS(dropout(x, 1.0, c), "[dropout] p must be in [0, 1), got 1", Error);
  CHECK_THROWS_AS(dropout(x, -0.1, c), Error);
}

TEST_CASE("nn: softmax and cross_entropy are bitwise independent of the thread count") {
  Tensor x = normal({64, 300}, 24, DType::f32);
  Tensor t = Tensor::from_vector(std::vector<int64_t>(64, 17), {64});
  Tensor g = normal({64, 300}, 25, DType::f32);
  std::vector<Tensor> out[2];
  for (int k = 0; k < 2; ++k) {
    with_threads(k + 1, [&] {
      Tensor xl = x.detach().clone();
      xl.set_requires_grad(true);
      Tensor s = softmax(xl, 0);
      Tensor ce = cross_entropy(xl, t);
      backward(add(sum(mul(s, g)), ce));
      out[k] = {s.detach(), ce.detach(), xl.grad()};
    });
  }
  for (int i = 0; i < 3; ++i) CHECK(bitwise_equal<float>(out[0][i], out[1][i]));
}
