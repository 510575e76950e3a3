// Indexing ops (index_select, gather, scatter_add, masked_fill, where, topk, cumsum, gt, eq) against
// naive references and their error messages; the Philox generator (known answers) and the random
// factories: reproducibility, thread-count independence and distribution moments.
#include <doctest/doctest.h>

#include <cmath>
#include <numbers>
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

Tensor i64(std::vector<int64_t> v, const Shape& s) {
  return Tensor::from_vector(v, s);
}

}  // namespace

TEST_CASE("index: index_select and gather pick the indexed elements") {
  Tensor x = normal({3, 4, 2}, 1);
  std::vector<double> xv = vals(x);
  Tensor sel = index_select(x, 1, i64({3, 0, 3}, {3}));
  CHECK(sel.shape() == Shape{3, 3, 2});
  std::vector<double> sv = vals(sel);
  int64_t pick[3] = {3, 0, 3};
  for (int64_t a = 0; a < 3; ++a)
    for (int64_t j = 0; j < 3; ++j)
      for (int64_t c = 0; c < 2; ++c) CHECK(sv[(a * 3 + j) * 2 + c] == xv[(a * 4 + pick[j]) * 2 + c]);

  Tensor m = Tensor::from_vector(std::vector<double>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, {3, 4});
  Tensor g1 = gather(m, 1, Tensor::from_vector(std::vector<int32_t>{3, 0, 1, 1, 2, 2}, {3, 2}));
  CHECK(vals(g1) == std::vector<double>{3, 0, 5, 5, 10, 10});
  Tensor g0 = gather(m, 0, i64({2, 0, 1, 1, 0, 2, 2, 2}, {4, 2}));
  CHECK(vals(g0) == std::vector<double>{8, 1, 4, 5, 0, 9, 8, 9});
}

TEST_CASE("index: scatter_add adds duplicates and leaves x untouched") {
  Tensor x = Tensor::ones({2, 4}, DType::f64);
  Tensor src = Tensor::from_vector(std::vector<double>{1, 2, 3, 10, 20, 30}, {2, 3});
  Tensor out = scatter_add(x, 1, i64({0, 0, 3, 2, 1, 2}, {2, 3}), src);
  CHECK(vals(out) == std::vector<double>{4, 1, 1, 4, 1, 21, 41, 1});
  CHECK(vals(x) == std::vector<double>(8, 1.0));
  // src larger than index: only the index-shaped window is used, and its gradient is zero outside.
  Tensor big = normal({3, 5}, 2);
  big.set_requires_grad(true);
  Tensor o2 = scatter_add(Tensor::zeros({2, 4}, DType::f64), 0, i64({1, 0, 1}, {1, 3}), big);
  std::vector<double> bv = vals(big.detach());
  CHECK(vals(o2) == std::vector<double>{0, bv[1], 0, 0, bv[0], 0, bv[2], 0});
  backward(sum(o2));
  CHECK(vals(big.grad()) == std::vector<double>{1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
}

TEST_CASE("index: scatter_add is bitwise independent of the thread count") {
  Generator gi(3);
  Tensor u = rand_uniform({200, 64}, gi, DType::f64);
  std::vector<int64_t> idx;
  for (double v : vals(u)) idx.push_back(int64_t(v * v * 8));
  Tensor index = i64(idx, {200, 64});
  Tensor src = normal({200, 64}, 4, DType::f32), x = normal({8, 64}, 5, DType::f32);
  Tensor r[2];
  for (int k = 0; k < 2; ++k) {
    int prev = num_threads();
    set_num_threads(k + 1);
    r[k] = scatter_add(x, 0, index, src);
    set_num_threads(prev);
  }
  CHECK(r[0].to_vector<float>() == r[1].to_vector<float>());
}

TEST_CASE("index: errors name the op, the position and the value") {
  Tensor x = Tensor::zeros({3, 4}, DType::f32);
  CHECK_THROWS_WITH_AS(index_select(x, 0, i64({0, 3}, {2})),
                       "[index_select] index value 3 at position [1] is out of range [0, 3)", Error);
  CHECK_THROWS_WITH_AS(gather(x, 1, i64({0, 1, 2, -1}, {2, 2})),
                       "[gather] index value -1 at position [1, 1] is out of range [0, 4)", Error);
  CHECK_THROWS_WITH_AS(scatter_add(x, 0, i64({5}, {1, 1}), Tensor::ones({1, 1}, DType::f32)),
                       "[scatter_add] index value 5 at position [0, 0] is out of range [0, 3)", Error);
  CHECK_THROWS_WITH_AS(gather(x, 1, i64({0, 0, 0, 0, 0}, {5, 1})),
                       "[gather] index shape [5, 1] does not fit input [3, 4] outside dim 1", Error);
  CHECK_THROWS_WITH_AS(scatter_add(x, 1, i64({0, 0, 0}, {1, 3}), Tensor::ones({1, 2}, DType::f32)),
                       "[scatter_add] index shape [1, 3] does not fit src [1, 2]", Error);
  CHECK_THROWS_WITH_AS(index_select(x, 0, i64({0}, {1, 1})),
                       "[index_select] index must be 1-D, got shape [1, 1]", Error);
  CHECK_THROWS_WITH_AS(topk(x, 5, 1), "[topk] k = 5 out of range for dim 1 of size 4 in shape [3, 4]", Error);
  CHECK_THROWS_AS(gather(x, 0, Tensor::zeros({1, 1}, DType::f32)), Error);
}

TEST_CASE("index: masked_fill and where broadcast") {
  Tensor x = Tensor::from_vector(std::vector<double>{1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor row_mask = Tensor::from_vector(std::vector<uint8_t>{1, 0, 1}, {3});
  CHECK(vals(masked_fill(x, row_mask, -9)) == std::vector<double>{-9, 2, -9, -9, 5, -9});
  CHECK_THROWS_WITH_AS(masked_fill(x, Tensor::zeros({2}, DType::u8), 0),
                       "[masked_fill] mask shape [2] cannot be broadcast to input [2, 3]", Error);
  Tensor cond = Tensor::from_vector(std::vector<uint8_t>{1, 0}, {2, 1});
  Tensor b = Tensor::from_vector(std::vector<double>{-1, -2, -3}, {3});
  Tensor w = where(cond, x, b);
  CHECK(vals(w) == std::vector<double>{1, 2, 3, -1, -2, -3});
  CHECK_THROWS_AS(where(Tensor::zeros({2, 1}, DType::f32), x, b), Error);
}

TEST_CASE("index: topk sorts descending with ties to the lower index") {
  Tensor x = Tensor::from_vector(std::vector<double>{1, 3, 3, 2, 3, 0, 5, 5, 1, 5}, {2, 5});
  auto [v, i] = topk(x, 3, 1);
  CHECK(vals(v) == std::vector<double>{3, 3, 3, 5, 5, 5});
  CHECK(i.to_vector<int64_t>() == std::vector<int64_t>{1, 2, 4, 1, 2, 4});
  CHECK(i.dtype() == DType::i64);
  auto [v0, i0] = topk(x, 1, 0);
  CHECK(vals(v0) == std::vector<double>{1, 5, 5, 2, 5});
  CHECK(i0.to_vector<int64_t>() == std::vector<int64_t>{0, 1, 1, 0, 1});
  Tensor withnan = Tensor::from_vector(std::vector<float>{1, NAN, 4}, {3});
  auto [vn, in] = topk(withnan, 2, 0);
  CHECK(in.to_vector<int64_t>() == std::vector<int64_t>{1, 2});
  // Gradient of the values lands on the chosen indices.
  Tensor xg = x.detach().clone();
  xg.set_requires_grad(true);
  backward(sum(topk(xg, 2, 1).first));
  CHECK(vals(xg.grad()) == std::vector<double>{0, 1, 1, 0, 0, 0, 1, 1, 0, 0});
}

TEST_CASE("index: cumsum, gt and eq") {
  Tensor x = Tensor::from_vector(std::vector<double>{1, 2, 3, 4, 5, 6}, {2, 3});
  CHECK(vals(cumsum(x, 1)) == std::vector<double>{1, 3, 6, 4, 9, 15});
  CHECK(vals(cumsum(x, 0)) == std::vector<double>{1, 2, 3, 5, 7, 9});
  Tensor xg = x.clone();
  xg.set_requires_grad(true);
  backward(sum(cumsum(xg, 1)));
  CHECK(vals(xg.grad()) == std::vector<double>{3, 2, 1, 3, 2, 1});
  Tensor g = gt(x, 3.5);
  CHECK(g.dtype() == DType::u8);
  CHECK(g.to_vector<uint8_t>() == std::vector<uint8_t>{0, 0, 0, 1, 1, 1});
  Tensor e = eq(i64({1, 2, 3, 1, 2, 3}, {2, 3}), i64({1, 5, 3}, {3}));
  CHECK(e.to_vector<uint8_t>() == std::vector<uint8_t>{1, 0, 1, 1, 0, 1});
  CHECK_THROWS_AS(eq(x, x.to(DType::f32)), Error);
}

TEST_CASE("random: philox4x32 known answers (Random123)") {
  auto z = philox4x32(0, 0, 0);
  CHECK(z == std::array<uint32_t, 4>{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u});
  auto f = philox4x32(~0ull, ~0ull, ~0ull);
  CHECK(f == std::array<uint32_t, 4>{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu});
}

TEST_CASE("random: factories are reproducible, counter-based and thread-count independent") {
  for (DType dt : {DType::f32, DType::f64}) {
    Generator a(42), b(42), c(43);
    Tensor ua = rand_uniform({1000}, a, dt), ub = rand_uniform({1000}, b, dt),
           uc = rand_uniform({1000}, c, dt);
    CHECK(vals(ua) == vals(ub));
    CHECK(vals(ua) != vals(uc));
    CHECK(a.offset() == 1000);
    // Two draws continue the counter: draw(400) then draw(600) == draw(1000).
    Generator d(42);
    std::vector<double> first = vals(rand_uniform({400}, d, dt)), second = vals(randn({600}, d, dt));
    Generator e(42);
    std::vector<double> whole_u = vals(rand_uniform({1000}, e, dt));
    Generator e2(42);
    std::vector<double> whole_n = vals(randn({1000}, e2, dt));
    for (int i = 0; i < 400; ++i) CHECK(first[i] == whole_u[i]);
    for (int i = 0; i < 600; ++i) CHECK(second[i] == whole_n[400 + i]);
    // Different streams differ.
    Generator s0(42, 0), s1(42, 1);
    CHECK(vals(randn({100}, s0, dt)) != vals(randn({100}, s1, dt)));
    // Element i depends only on (seed, stream, offset + i).
    Generator f(7);
    f.set_state(7, 123);
    auto w = philox4x32(123 + 5, 0, 7);
    double u5 = dt == DType::f32 ? double(uniform_open_f32(w[0])) : uniform_open_f64(w[0], w[1]);
    CHECK(vals(rand_uniform({10}, f, dt))[5] == u5);
  }
  using Factory = Tensor (*)(const Shape&, Generator&, DType, Device);
  Factory fs[] = {rand_uniform, randn, gumbel_noise, logistic_noise};
  for (Factory fn : fs) {
    for (DType dt : {DType::f32, DType::f64}) {
      std::vector<double> r[2];
      for (int k = 0; k < 2; ++k) {
        int prev = num_threads();
        set_num_threads(k + 1);
        Generator g(99, 3);
        r[k] = vals(fn({50000}, g, dt, Device::cpu()));
        set_num_threads(prev);
      }
      CHECK(r[0] == r[1]);
    }
  }
  Generator g(1);
  CHECK_THROWS_WITH_AS(randn({2}, g, DType::i64), "[randn] dtype i64 is not supported (f32 or f64)", Error);
}

TEST_CASE("random: moments of uniform, normal, Gumbel and logistic samples") {
  const int64_t n = 100000;
  const double pi2 = std::numbers::pi * std::numbers::pi, euler = 0.5772156649015329;
  struct Want {
    Tensor (*fn)(const Shape&, Generator&, DType, Device);
    double mean, var, kurtosis;  // kurtosis = μ4 / σ⁴, for the standard error of the variance
    const char* name;
  };
  Want wants[] = {{rand_uniform, 0.5, 1.0 / 12, 1.8, "uniform"},
                  {randn, 0.0, 1.0, 3.0, "normal"},
                  {gumbel_noise, euler, pi2 / 6, 5.4, "gumbel"},
                  {logistic_noise, 0.0, pi2 / 3, 4.2, "logistic"}};
  for (const Want& w : wants) {
    for (DType dt : {DType::f32, DType::f64}) {
      Generator g(2024);
      std::vector<double> v = vals(w.fn({n}, g, dt, Device::cpu()));
      double m = 0, s2 = 0;
      for (double x : v) m += x;
      m /= double(n);
      for (double x : v) s2 += (x - m) * (x - m);
      s2 /= double(n - 1);
      INFO(w.name << " " << dtype_name(dt) << " mean " << m << " var " << s2);
      double se_mean = std::sqrt(w.var / double(n));
      double se_var = w.var * std::sqrt((w.kurtosis - 1) / double(n));
      CHECK(std::fabs(m - w.mean) < 5 * se_mean);
      CHECK(std::fabs(s2 - w.var) < 5 * se_var);
      if (w.fn == rand_uniform)
        for (double x : v) REQUIRE((x > 0 && x < 1));
    }
  }
}
