// attention: forward and the gradients of q, k, v against a naive f64 reference (full T×S scores with the
// causal mask, plain loops) for tile-boundary sizes, decode (T = 1), KV cache (S > T), grouped-query and
// non-causal shapes, in f64 and f32, on both backward paths (two passes over tiles, fused per kv head);
// non-contiguous inputs; bitwise thread-count determinism; errors; a long sequence checked on sampled rows.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "core/parallel.h"

using namespace sra;

namespace {

struct Dims {
  int64_t B, H, Hkv, T, S, D;
  bool causal;
};

std::string describe(const Dims& s) {
  return "B=" + std::to_string(s.B) + " H=" + std::to_string(s.H) + " Hkv=" + std::to_string(s.Hkv) +
         " T=" + std::to_string(s.T) + " S=" + std::to_string(s.S) + " D=" + std::to_string(s.D) +
         (s.causal ? " causal" : " non-causal");
}

struct Reference {
  std::vector<double> out, dq, dk, dv;
};

// Plain loops in f64: q, dout (B, H, T, D); k, v (B, Hkv, S, D). Builds the full score row per query.
Reference naive_attention(const std::vector<double>& q, const std::vector<double>& k,
                          const std::vector<double>& v, const std::vector<double>& dout, const Dims& s,
                          double scale) {
  Reference r;
  r.out.assign(q.size(), 0.0);
  r.dq.assign(q.size(), 0.0);
  r.dk.assign(k.size(), 0.0);
  r.dv.assign(v.size(), 0.0);
  const int64_t D = s.D;
  std::vector<double> p(size_t(s.S)), dp(size_t(s.S));
  for (int64_t b = 0; b < s.B; ++b) {
    for (int64_t h = 0; h < s.H; ++h) {
      const int64_t g = h / (s.H / s.Hkv);
      for (int64_t t = 0; t < s.T; ++t) {
        const double* qt = &q[size_t(((b * s.H + h) * s.T + t) * D)];
        const double* dot = &dout[size_t(((b * s.H + h) * s.T + t) * D)];
        double* ot = &r.out[size_t(((b * s.H + h) * s.T + t) * D)];
        double* dqt = &r.dq[size_t(((b * s.H + h) * s.T + t) * D)];
        const int64_t n = s.causal ? t + s.S - s.T + 1 : s.S;  // visible keys [0, n)
        double mx = -INFINITY;
        for (int64_t j = 0; j < n; ++j) {
          const double* kj = &k[size_t(((b * s.Hkv + g) * s.S + j) * D)];
          double acc = 0;
          for (int64_t d = 0; d < D; ++d) acc += qt[d] * kj[d];
          p[j] = acc * scale;
          mx = std::max(mx, p[j]);
        }
        double z = 0;
        for (int64_t j = 0; j < n; ++j) z += (p[j] = std::exp(p[j] - mx));
        double delta = 0;
        for (int64_t j = 0; j < n; ++j) {
          p[j] /= z;
          const double* vj = &v[size_t(((b * s.Hkv + g) * s.S + j) * D)];
          double acc = 0;
          for (int64_t d = 0; d < D; ++d) {
            ot[d] += p[j] * vj[d];
            acc += dot[d] * vj[d];
          }
          dp[j] = acc;
          delta += p[j] * acc;
        }
        for (int64_t j = 0; j < n; ++j) {
          const double ds = p[j] * (dp[j] - delta) * scale;
          const size_t kv = size_t(((b * s.Hkv + g) * s.S + j) * D);
          for (int64_t d = 0; d < D; ++d) {
            dqt[d] += ds * k[kv + d];
            r.dk[kv + d] += ds * qt[d];
            r.dv[kv + d] += p[j] * dot[d];
          }
        }
      }
    }
  }
  return r;
}

void check_close(const std::vector<double>& got, const std::vector<double>& want, double tol,
                 const char* what) {
  REQUIRE(got.size() == want.size());
  double worst = 0;
  size_t at = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    double err = std::abs(got[i] - want[i]) / (1.0 + std::abs(want[i]));
    if (!(err <= worst)) worst = err, at = i;  // NaN counts as worst
  }
  INFO(what << ": worst relative error " << worst << " at " << at);
  CHECK(worst <= tol);
}

struct Inputs {
  Tensor q, k, v, dout;
};

Inputs random_inputs(const Dims& s, uint64_t seed) {
  Generator gen(seed);
  Inputs in;
  in.q = randn({s.B, s.H, s.T, s.D}, gen, DType::f64);
  in.k = randn({s.B, s.Hkv, s.S, s.D}, gen, DType::f64);
  in.v = randn({s.B, s.Hkv, s.S, s.D}, gen, DType::f64);
  in.dout = randn({s.B, s.H, s.T, s.D}, gen, DType::f64);
  return in;
}

Tensor leaf(const Tensor& x, DType dt) {
  Tensor t = x.to(dt).clone().detach();
  t.set_requires_grad(true);
  return t;
}

// Runs forward + backward in `dt` and compares with the reference.
void check_against_naive(const Dims& s, DType dt, double tol) {
  Inputs in = random_inputs(s, 7 + uint64_t(s.T * 31 + s.S));
  const double scale = 1.0 / std::sqrt(double(s.D));
  Reference ref = naive_attention(in.q.to_vector<double>(), in.k.to_vector<double>(),
                                  in.v.to_vector<double>(), in.dout.to_vector<double>(), s, scale);
  Tensor q = leaf(in.q, dt), k = leaf(in.k, dt), v = leaf(in.v, dt);
  Tensor out = attention(q, k, v, s.causal);
  CHECK(out.dtype() == dt);
  CHECK(out.shape() == Shape{s.B, s.H, s.T, s.D});
  backward(out, in.dout.to(dt));
  check_close(out.to_vector<double>(), ref.out, tol, "out");
  check_close(q.grad().to_vector<double>(), ref.dq, tol, "dq");
  check_close(k.grad().to_vector<double>(), ref.dk, tol, "dk");
  check_close(v.grad().to_vector<double>(), ref.dv, tol, "dv");
}

const Dims kShapes[] = {
    {1, 1, 1, 1, 1, 4, true},       // one query, one key
    {2, 2, 2, 5, 5, 4, true},       // tiny causal
    {1, 4, 2, 70, 70, 8, true},     // GQA, T past one tile
    {1, 2, 1, 1, 37, 8, true},      // decode step: T = 1, S > 1
    {2, 2, 1, 67, 130, 16, true},   // KV cache S > T, both not multiples of the tile
    {1, 2, 2, 45, 100, 4, false},   // non-causal, S > T
    {1, 2, 2, 90, 40, 4, false},    // non-causal, S < T
    {1, 3, 3, 129, 129, 64, true},  // three query tiles, D = 64
    {1, 2, 2, 10, 200, 5, false},   // odd D
    {1, 2, 2, 65, 65, 24, true},    // D not a multiple of 16
    {4, 8, 4, 70, 90, 8, true},     // 16 (batch, kv head) pairs: fused backward, GQA, cache
    {8, 2, 2, 33, 33, 16, false},   // fused backward, non-causal
    {4, 4, 4, 130, 130, 4, true},   // fused backward, several tiles
};

}  // namespace

TEST_CASE("attention: forward and gradients match a naive reference (f64)") {
  for (const Dims& s : kShapes) {
    INFO(describe(s));
    check_against_naive(s, DType::f64, 1e-11);
  }
}

TEST_CASE("attention: forward and gradients match a naive reference (f32)") {
  for (const Dims& s : kShapes) {
    INFO(describe(s));
    check_against_naive(s, DType::f32, 2e-5);
  }
}

TEST_CASE("attention: non-contiguous inputs (a (B, T, H, D) layout transposed) give the same results") {
  const Dims s{2, 4, 2, 37, 50, 8, true};
  Generator gen(3);
  Tensor qx = randn({s.B, s.T, s.H, s.D}, gen, DType::f64).set_requires_grad(true);
  Tensor kx = randn({s.B, s.S, s.Hkv, s.D}, gen, DType::f64).set_requires_grad(true);
  Tensor vx = randn({s.B, s.S, s.Hkv, s.D}, gen, DType::f64).set_requires_grad(true);
  Tensor dout = randn({s.B, s.H, s.T, s.D}, gen, DType::f64);
  Tensor q = transpose(qx, 1, 2), k = transpose(kx, 1, 2), v = transpose(vx, 1, 2);
  REQUIRE(!q.is_contiguous());
  Tensor out = attention(q, k, v);
  backward(out, dout);
  const double scale = 1.0 / std::sqrt(double(s.D));
  Reference ref = naive_attention(q.to_vector<double>(), k.to_vector<double>(), v.to_vector<double>(),
                                  dout.to_vector<double>(), s, scale);
  check_close(out.to_vector<double>(), ref.out, 1e-11, "out");
  REQUIRE(qx.grad().shape() == qx.shape());
  check_close(transpose(qx.grad(), 1, 2).to_vector<double>(), ref.dq, 1e-11, "dq");
  check_close(transpose(kx.grad(), 1, 2).to_vector<double>(), ref.dk, 1e-11, "dk");
  check_close(transpose(vx.grad(), 1, 2).to_vector<double>(), ref.dv, 1e-11, "dv");
}

TEST_CASE("attention: scale 0 means 1/sqrt(D); an explicit scale is used as given") {
  const Dims s{1, 2, 1, 9, 12, 16, true};
  Inputs in = random_inputs(s, 11);
  Tensor a = attention(in.q, in.k, in.v, true, 0.0);
  Tensor b = attention(in.q, in.k, in.v, true, 0.25);
  CHECK(a.to_vector<double>() == b.to_vector<double>());
  Reference ref = naive_attention(in.q.to_vector<double>(), in.k.to_vector<double>(),
                                  in.v.to_vector<double>(), in.dout.to_vector<double>(), s, 0.7);
  check_close(attention(in.q, in.k, in.v, true, 0.7).to_vector<double>(), ref.out, 1e-12, "out (scale 0.7)");
}

TEST_CASE("attention: results are bitwise identical with 1 and 2 threads") {
  const int saved = num_threads();
  for (const Dims& s : {Dims{1, 4, 2, 150, 200, 32, true}, Dims{4, 4, 4, 100, 100, 32, true},
                        Dims{1, 1, 1, 300, 300, 16, false}}) {
    INFO(describe(s));
    Inputs in = random_inputs(s, 5);
    std::vector<std::vector<float>> runs[2];
    for (int threads = 1; threads <= 2; ++threads) {
      set_num_threads(threads);
      Tensor q = leaf(in.q, DType::f32), k = leaf(in.k, DType::f32), v = leaf(in.v, DType::f32);
      Tensor out = attention(q, k, v, s.causal);
      backward(out, in.dout.to(DType::f32));
      runs[threads - 1] = {out.to_vector<float>(), q.grad().to_vector<float>(), k.grad().to_vector<float>(),
                           v.grad().to_vector<float>()};
    }
    set_num_threads(saved);
    for (int i = 0; i < 4; ++i) CHECK(runs[0][size_t(i)] == runs[1][size_t(i)]);
  }
  set_num_threads(saved);
}

TEST_CASE("attention: records nothing without grad; empty query sets give empty outputs, dk = dv = 0") {
  tape_clear();
  const Dims s{1, 2, 2, 4, 6, 4, true};
  Inputs in = random_inputs(s, 2);
  Tensor out = attention(in.q, in.k, in.v);
  CHECK(tape_size() == 0);
  CHECK(!out.requires_grad());
  Tensor empty = attention(Tensor::zeros({1, 2, 0, 4}, DType::f32), Tensor::zeros({1, 2, 3, 4}, DType::f32),
                           Tensor::zeros({1, 2, 3, 4}, DType::f32));
  CHECK(empty.shape() == Shape{1, 2, 0, 4});
  // backward with no queries: dk = dv = 0 (written by the dispatcher, no kernel runs)
  Tensor q0 = Tensor::zeros({1, 2, 0, 4}, DType::f64), k0 = Tensor::full({1, 2, 3, 4}, 1.0, DType::f64);
  Tensor v0 = Tensor::full({1, 2, 3, 4}, 1.0, DType::f64);
  q0.set_requires_grad(true), k0.set_requires_grad(true), v0.set_requires_grad(true);
  backward(attention(q0, k0, v0, false), Tensor::zeros({1, 2, 0, 4}, DType::f64));
  CHECK(k0.grad().to_vector<double>() == std::vector<double>(24, 0.0));
  CHECK(v0.grad().to_vector<double>() == std::vector<double>(24, 0.0));
  CHECK(q0.grad().shape() == Shape{1, 2, 0, 4});
  tape_clear();
}

TEST_CASE("attention: errors name the op and the shapes") {
  auto z = [](Shape s, DType dt = DType::f32) { return Tensor::zeros(s, dt); };
  CHECK_THROWS_WITH_AS(
      attention(z({2, 4, 8}), z({2, 1, 4, 8}), z({2, 1, 4, 8})),
      "[attention] q must be (B, H, T, D) and k, v (B, Hkv, S, D); got q [2, 4, 8], k [2, 1, 4, 8], "
      "v [2, 1, 4, 8]",
      Error);
  CHECK_THROWS_WITH_AS(attention(z({1, 2, 4, 8}), z({1, 2, 4, 8}), z({1, 2, 5, 8})),
                       "[attention] k [1, 2, 4, 8] and v [1, 2, 5, 8] must have the same shape", Error);
  CHECK_THROWS_WITH_AS(
      attention(z({1, 2, 4, 8}), z({1, 2, 4, 6}), z({1, 2, 4, 6})),
      "[attention] q [1, 2, 4, 8] does not match k [1, 2, 4, 6] (batch and head dim must agree)", Error);
  CHECK_THROWS_WITH_AS(
      attention(z({2, 2, 4, 8}), z({1, 2, 4, 8}), z({1, 2, 4, 8})),
      "[attention] q [2, 2, 4, 8] does not match k [1, 2, 4, 8] (batch and head dim must agree)", Error);
  CHECK_THROWS_WITH_AS(
      attention(z({1, 6, 4, 8}), z({1, 4, 4, 8}), z({1, 4, 4, 8})),
      "[attention] q heads 6 are not a multiple of kv heads 4: q [1, 6, 4, 8], k [1, 4, 4, 8]", Error);
  CHECK_THROWS_WITH_AS(
      attention(z({1, 2, 5, 8}), z({1, 2, 4, 8}), z({1, 2, 4, 8})),
      "[attention] causal attention needs at least as many keys as queries (S >= T): q [1, 2, 5, 8], "
      "k [1, 2, 4, 8]",
      Error);
  CHECK_NOTHROW(attention(z({1, 2, 5, 8}), z({1, 2, 4, 8}), z({1, 2, 4, 8}), false));
  CHECK_THROWS_WITH_AS(attention(z({1, 2, 5, 8}), z({1, 2, 0, 8}), z({1, 2, 0, 8}), false),
                       "[attention] no keys to attend to: q [1, 2, 5, 8], k [1, 2, 0, 8]", Error);
  CHECK_THROWS_WITH_AS(attention(z({1, 2, 4, 8}), z({1, 2, 4, 8}, DType::f64), z({1, 2, 4, 8})),
                       "[attention] dtype mismatch: q f32, k f64, v f32", Error);
  CHECK_THROWS_WITH_AS(attention(z({1, 2, 4, 8}, DType::i64), z({1, 2, 4, 8}), z({1, 2, 4, 8})),
                       doctest::Contains("[attention] q has dtype i64"), Error);
}

TEST_CASE("attention: a long causal sequence (T = S = 4096) matches the reference on sampled rows") {
  const Dims s{1, 1, 1, 4096, 4096, 16, true};
  Inputs in = random_inputs(s, 9);
  Tensor q = leaf(in.q, DType::f32), k = leaf(in.k, DType::f32), v = leaf(in.v, DType::f32);
  Tensor out = attention(q, k, v);
  backward(out, in.dout.to(DType::f32));
  const std::vector<double> Q = in.q.to_vector<double>(), K = in.k.to_vector<double>(),
                            V = in.v.to_vector<double>(), dO = in.dout.to_vector<double>();
  const std::vector<double> got_out = out.to_vector<double>(), got_dq = q.grad().to_vector<double>(),
                            got_dk = k.grad().to_vector<double>(), got_dv = v.grad().to_vector<double>();
  const int64_t D = s.D, n = s.T;
  const double scale = 0.25;
  // Per query row i: P over keys [0, i], out, dS (naive, f64).
  auto row = [&](int64_t i, std::vector<double>& p, std::vector<double>& ds, std::vector<double>& o) {
    p.assign(size_t(i + 1), 0.0), ds.assign(size_t(i + 1), 0.0), o.assign(size_t(D), 0.0);
    double mx = -INFINITY, z = 0, delta = 0;
    for (int64_t j = 0; j <= i; ++j) {
      double acc = 0;
      for (int64_t d = 0; d < D; ++d) acc += Q[size_t(i * D + d)] * K[size_t(j * D + d)];
      mx = std::max(mx, p[size_t(j)] = acc * scale);
    }
    for (int64_t j = 0; j <= i; ++j) z += (p[size_t(j)] = std::exp(p[size_t(j)] - mx));
    for (int64_t j = 0; j <= i; ++j) {
      p[size_t(j)] /= z;
      double acc = 0;
      for (int64_t d = 0; d < D; ++d) {
        o[size_t(d)] += p[size_t(j)] * V[size_t(j * D + d)];
        acc += dO[size_t(i * D + d)] * V[size_t(j * D + d)];
      }
      ds[size_t(j)] = acc;
      delta += p[size_t(j)] * acc;
    }
    for (int64_t j = 0; j <= i; ++j) ds[size_t(j)] = p[size_t(j)] * (ds[size_t(j)] - delta) * scale;
  };
  std::vector<double> p, ds, o;
  double worst = 0;
  for (int64_t i : {int64_t(0), int64_t(1), int64_t(63), int64_t(64), int64_t(2047), int64_t(4095)}) {
    row(i, p, ds, o);
    for (int64_t d = 0; d < D; ++d) {
      double dq = 0;
      for (int64_t j = 0; j <= i; ++j) dq += ds[size_t(j)] * K[size_t(j * D + d)];
      worst = std::max(worst, std::abs(got_out[size_t(i * D + d)] - o[size_t(d)]));
      worst = std::max(worst, std::abs(got_dq[size_t(i * D + d)] - dq));
    }
  }
  // Keys near the end: dk, dv sum over the rows that see them.
  const int64_t keys[] = {3900, 4000, 4095};
  std::vector<double> dk(3 * size_t(D), 0.0), dv(3 * size_t(D), 0.0);
  for (int64_t i = keys[0]; i < n; ++i) {
    row(i, p, ds, o);
    for (int64_t t = 0; t < 3; ++t) {
      if (keys[t] > i) continue;
      for (int64_t d = 0; d < D; ++d) {
        dk[size_t(t * D + d)] += ds[size_t(keys[t])] * Q[size_t(i * D + d)];
        dv[size_t(t * D + d)] += p[size_t(keys[t])] * dO[size_t(i * D + d)];
      }
    }
  }
  for (int64_t t = 0; t < 3; ++t)
    for (int64_t d = 0; d < D; ++d) {
      worst = std::max(worst, std::abs(got_dk[size_t(keys[t] * D + d)] - dk[size_t(t * D + d)]));
      worst = std::max(worst, std::abs(got_dv[size_t(keys[t] * D + d)] - dv[size_t(t * D + d)]));
    }
  CHECK(worst < 1e-4);
}
