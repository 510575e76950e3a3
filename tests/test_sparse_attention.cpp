// sparse_attention: forward and the gradients of q, k, v and gate against a naive f64 reference (explicit
// mask and gate weights, plain loops) over edge shapes (T not a multiple of the tile, window 1, window ≥ T,
// no sinks, more sinks than the window, none / all selected, zero gates, GQA, odd D, many far tiles), in
// f64 and f32; the hard path against dense attention built from matmul/masked_fill/softmax and against
// sra::attention; non-contiguous inputs; bitwise thread-count determinism; a long sequence; errors.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "autograd/sparse_attention.h"
#include "core/parallel.h"
#include "tests/cpu_time.h"

using namespace sra;

namespace {

struct Dims {
  int64_t B, H, Hkv, T, D, window, sinks;
  double frac;  // fraction of selected tokens
};

std::string describe(const Dims& s) {
  return "B=" + std::to_string(s.B) + " H=" + std::to_string(s.H) + " Hkv=" + std::to_string(s.Hkv) +
         " T=" + std::to_string(s.T) + " D=" + std::to_string(s.D) + " window=" + std::to_string(s.window) +
         " sinks=" + std::to_string(s.sinks) + " selected=" + std::to_string(s.frac);
}

struct Inputs {
  Tensor q, k, v, selected, gate, dout;  // f64 (selected u8)
};

Inputs random_inputs(const Dims& s, uint64_t seed, double zero_gate_frac = 0.0) {
  Generator gen(seed);
  Inputs in;
  in.q = randn({s.B, s.H, s.T, s.D}, gen, DType::f64);
  in.k = randn({s.B, s.Hkv, s.T, s.D}, gen, DType::f64);
  in.v = randn({s.B, s.Hkv, s.T, s.D}, gen, DType::f64);
  in.dout = randn({s.B, s.H, s.T, s.D}, gen, DType::f64);
  const std::vector<double> u = rand_uniform({s.B, s.T}, gen, DType::f64).to_vector<double>();
  const std::vector<double> w = rand_uniform({s.B, s.T}, gen, DType::f64).to_vector<double>();
  std::vector<uint8_t> sel(u.size());
  std::vector<double> gate(u.size());
  for (size_t i = 0; i < u.size(); ++i) {
    sel[i] = u[i] < s.frac ? 1 : 0;
    gate[i] = w[i] < zero_gate_frac ? 0.0 : 0.5 + 1.5 * w[i];
  }
  in.selected = Tensor::from_vector(sel, {s.B, s.T});
  in.gate = Tensor::from_vector(gate, {s.B, s.T});
  return in;
}

struct Reference {
  std::vector<double> out, dq, dk, dv, dgate;
};

// The weight of key j for query i of batch row b: 0 when j ∉ A(i), gate_j for crit(i), 1 otherwise.
double key_weight(const Dims& s, const std::vector<uint8_t>& sel, const std::vector<double>& gate, int64_t b,
                  int64_t i, int64_t j) {
  if (j > i) return 0.0;
  if (j < s.sinks || j > i - s.window) return 1.0;  // sink or window
  return sel[size_t(b * s.T + j)] ? gate[size_t(b * s.T + j)] : 0.0;
}
bool is_crit(const Dims& s, const std::vector<uint8_t>& sel, int64_t b, int64_t i, int64_t j) {
  return j >= s.sinks && j <= i - s.window && sel[size_t(b * s.T + j)] != 0;
}

// Plain loops in f64 over every (i, j ≤ i) with the explicit mask.
Reference naive(const Inputs& in, const Dims& s, double scale) {
  const std::vector<double> q = in.q.to_vector<double>(), k = in.k.to_vector<double>(),
                            v = in.v.to_vector<double>(), dout = in.dout.to_vector<double>(),
                            gate = in.gate.to_vector<double>();
  const std::vector<uint8_t> sel = in.selected.to_vector<uint8_t>();
  Reference r;
  r.out.assign(q.size(), 0.0), r.dq.assign(q.size(), 0.0), r.dk.assign(k.size(), 0.0);
  r.dv.assign(v.size(), 0.0), r.dgate.assign(gate.size(), 0.0);
  const int64_t D = s.D;
  std::vector<double> e(size_t(s.T)), w(size_t(s.T)), dp(size_t(s.T));
  for (int64_t b = 0; b < s.B; ++b)
    for (int64_t h = 0; h < s.H; ++h) {
      const int64_t g = h / (s.H / s.Hkv);
      for (int64_t i = 0; i < s.T; ++i) {
        const size_t qi = size_t(((b * s.H + h) * s.T + i) * D);
        double mx = -INFINITY;
        for (int64_t j = 0; j <= i; ++j) {
          w[size_t(j)] = key_weight(s, sel, gate, b, i, j);
          const bool allowed = j < s.sinks || j > i - s.window || is_crit(s, sel, b, i, j);
          if (!allowed) {
            e[size_t(j)] = -INFINITY;
            continue;
          }
          const size_t kj = size_t(((b * s.Hkv + g) * s.T + j) * D);
          double acc = 0;
          for (int64_t d = 0; d < D; ++d) acc += q[qi + size_t(d)] * k[kj + size_t(d)];
          e[size_t(j)] = acc * scale;
          mx = std::max(mx, e[size_t(j)]);
        }
        double z = 0;
        for (int64_t j = 0; j <= i; ++j) z += w[size_t(j)] * (e[size_t(j)] = std::exp(e[size_t(j)] - mx));
        double delta = 0;
        for (int64_t j = 0; j <= i; ++j) {
          const double p = w[size_t(j)] * e[size_t(j)] / z;
          const size_t vj = size_t(((b * s.Hkv + g) * s.T + j) * D);
          double acc = 0;
          for (int64_t d = 0; d < D; ++d) {
            r.out[qi + size_t(d)] += p * v[vj + size_t(d)];
            acc += dout[qi + size_t(d)] * v[vj + size_t(d)];
          }
          dp[size_t(j)] = acc;
          delta += p * acc;
        }
        for (int64_t j = 0; j <= i; ++j) {
          const double p = w[size_t(j)] * e[size_t(j)] / z;
          const double ds = p * (dp[size_t(j)] - delta) * scale;
          const size_t kv = size_t(((b * s.Hkv + g) * s.T + j) * D);
          for (int64_t d = 0; d < D; ++d) {
            r.dq[qi + size_t(d)] += ds * k[kv + size_t(d)];
            r.dk[kv + size_t(d)] += ds * q[qi + size_t(d)];
            r.dv[kv + size_t(d)] += p * dout[qi + size_t(d)];
          }
          if (is_crit(s, sel, b, i, j))
            r.dgate[size_t(b * s.T + j)] += e[size_t(j)] / z * (dp[size_t(j)] - delta);
        }
      }
    }
  return r;
}

void check_close(const std::vector<double>& got, const std::vector<double>& want, double tol,
                 const std::string& what) {
  REQUIRE(got.size() == want.size());
  double worst = 0;
  size_t at = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double err = std::abs(got[i] - want[i]) / (1.0 + std::abs(want[i]));
    if (!(err <= worst)) worst = err, at = i;  // NaN counts as worst
  }
  INFO(what << ": worst relative error " << worst << " at " << at);
  CHECK(worst <= tol);
}

Tensor leaf(const Tensor& x, DType dt) {
  Tensor t = x.to(dt).clone().detach();
  t.set_requires_grad(true);
  return t;
}

struct Result {
  std::vector<double> out, dq, dk, dv, dgate;
};

Result run(const Inputs& in, const Dims& s, DType dt, double scale = 0.0) {
  Tensor q = leaf(in.q, dt), k = leaf(in.k, dt), v = leaf(in.v, dt), gate = leaf(in.gate, dt);
  Tensor out = sparse_attention(q, k, v, in.selected, gate, s.window, s.sinks, scale);
  CHECK(out.dtype() == dt);
  CHECK(out.shape() == in.q.shape());
  backward(out, in.dout.to(dt));
  return {out.to_vector<double>(), q.grad().to_vector<double>(), k.grad().to_vector<double>(),
          v.grad().to_vector<double>(), gate.grad().to_vector<double>()};
}

void check_result(const Result& got, const Reference& ref, double tol) {
  check_close(got.out, ref.out, tol, "out");
  check_close(got.dq, ref.dq, tol, "dq");
  check_close(got.dk, ref.dk, tol, "dk");
  check_close(got.dv, ref.dv, tol, "dv");
  check_close(got.dgate, ref.dgate, tol, "dgate");
}

const Dims kShapes[] = {
    {1, 1, 1, 1, 4, 1, 0, 0.5},        // one token
    {2, 2, 2, 37, 8, 5, 2, 0.3},       // T not a multiple of anything
    {1, 2, 1, 70, 8, 1, 3, 0.2},       // window 1, GQA
    {1, 2, 2, 50, 8, 64, 2, 0.3},      // window ≥ T: dense causal
    {2, 2, 1, 45, 5, 7, 0, 0.4},       // no sinks, odd D
    {1, 2, 2, 60, 8, 3, 10, 0.3},      // more sinks than the window
    {1, 1, 1, 90, 4, 9, 2, 0.0},       // nothing selected
    {1, 2, 2, 90, 4, 9, 2, 1.0},       // everything selected
    {1, 6, 2, 77, 8, 6, 1, 0.25},      // GQA, groups of 3
    {2, 4, 2, 200, 24, 70, 4, 0.15},   // several query tiles, D not a multiple of 16
    {1, 2, 1, 300, 16, 20, 3, 0.5},    // several far tiles
    {1, 2, 2, 150, 8, 10, 80, 0.1},    // sinks span more than one far tile
    {1, 1, 1, 130, 64, 64, 4, 0.2},    // D = 64, window of one tile
    {1, 1, 1, 129, 3, 200, 150, 0.5},  // window and sinks ≥ T
};

}  // namespace

TEST_CASE("sparse_attention: forward and gradients match a naive reference (f64)") {
  for (const Dims& s : kShapes) {
    INFO(describe(s));
    Inputs in = random_inputs(s, 17 + uint64_t(s.T));
    check_result(run(in, s, DType::f64), naive(in, s, 1.0 / std::sqrt(double(s.D))), 1e-11);
  }
}

TEST_CASE("sparse_attention: forward and gradients match a naive reference (f32)") {
  for (const Dims& s : kShapes) {
    INFO(describe(s));
    Inputs in = random_inputs(s, 23 + uint64_t(s.T));
    check_result(run(in, s, DType::f32), naive(in, s, 1.0 / std::sqrt(double(s.D))), 5e-5);
  }
}

TEST_CASE("sparse_attention: zero gates weigh their keys 0 and still get the gate gradient") {
  const Dims s{2, 2, 1, 80, 8, 6, 2, 0.6};
  Inputs in = random_inputs(s, 5, 0.4);
  check_result(run(in, s, DType::f64, 0.3), naive(in, s, 0.3), 1e-11);
  // A selected token with gate 0 is, in the forward, the same as an unselected one.
  std::vector<uint8_t> sel = in.selected.to_vector<uint8_t>();
  const std::vector<double> gate = in.gate.to_vector<double>();
  for (size_t i = 0; i < sel.size(); ++i)
    if (gate[i] == 0.0) sel[i] = 0;
  Tensor a = sparse_attention(in.q, in.k, in.v, in.selected, in.gate, s.window, s.sinks);
  Tensor b =
      sparse_attention(in.q, in.k, in.v, Tensor::from_vector(sel, {s.B, s.T}), in.gate, s.window, s.sinks);
  check_close(a.to_vector<double>(), b.to_vector<double>(), 1e-14, "gate 0 vs unselected");
}

TEST_CASE("sparse_attention: the hard path equals dense attention with the explicit mask") {
  for (const Dims& s : {Dims{2, 3, 3, 70, 8, 5, 3, 0.2}, Dims{1, 2, 2, 130, 16, 64, 0, 0.1}}) {
    INFO(describe(s));
    Inputs in = random_inputs(s, 31);
    in.gate = Tensor::ones({s.B, s.T}, DType::f64);
    const double scale = 1.0 / std::sqrt(double(s.D));
    Result sparse = run(in, s, DType::f64);
    check_result(sparse, naive(in, s, scale), 1e-11);
    // Dense: softmax(q·kᵀ·scale with the disallowed entries at −inf)·v, from matmul/masked_fill/softmax.
    const std::vector<uint8_t> sel = in.selected.to_vector<uint8_t>();
    const std::vector<double> ones(size_t(s.B * s.T), 1.0);
    std::vector<uint8_t> blocked(size_t(s.B * s.T * s.T));
    for (int64_t b = 0; b < s.B; ++b)
      for (int64_t i = 0; i < s.T; ++i)
        for (int64_t j = 0; j < s.T; ++j)
          blocked[size_t((b * s.T + i) * s.T + j)] = key_weight(s, sel, ones, b, i, j) == 0.0 ? 1 : 0;
    Tensor q = leaf(in.q, DType::f64), k = leaf(in.k, DType::f64), v = leaf(in.v, DType::f64);
    Tensor scores = mul(matmul(q, transpose(k, 2, 3)), scale);
    scores = masked_fill(scores, Tensor::from_vector(blocked, {s.B, 1, s.T, s.T}), -INFINITY);
    Tensor out = matmul(softmax(scores, -1), v);
    backward(out, in.dout);
    check_close(sparse.out, out.to_vector<double>(), 1e-12, "out vs dense");
    check_close(sparse.dq, q.grad().to_vector<double>(), 1e-12, "dq vs dense");
    check_close(sparse.dk, k.grad().to_vector<double>(), 1e-12, "dk vs dense");
    check_close(sparse.dv, v.grad().to_vector<double>(), 1e-12, "dv vs dense");
  }
}

TEST_CASE("sparse_attention: every token selected, or window >= T, is dense causal attention") {
  for (const Dims& s : {Dims{1, 4, 2, 150, 16, 20, 4, 1.0}, Dims{2, 2, 1, 100, 8, 100, 0, 0.3},
                        Dims{1, 2, 2, 70, 8, 500, 3, 0.5}}) {
    INFO(describe(s));
    Inputs in = random_inputs(s, 41);
    if (s.frac == 1.0) in.gate = Tensor::ones({s.B, s.T}, DType::f64);  // window ≥ T: gates are unused
    Result sparse = run(in, s, DType::f64);
    Tensor q = leaf(in.q, DType::f64), k = leaf(in.k, DType::f64), v = leaf(in.v, DType::f64);
    Tensor out = attention(q, k, v, true);
    backward(out, in.dout);
    check_close(sparse.out, out.to_vector<double>(), 1e-12, "out vs attention");
    check_close(sparse.dq, q.grad().to_vector<double>(), 1e-12, "dq vs attention");
    check_close(sparse.dk, k.grad().to_vector<double>(), 1e-12, "dk vs attention");
    check_close(sparse.dv, v.grad().to_vector<double>(), 1e-12, "dv vs attention");
    if (s.window >= s.T) check_close(sparse.dgate, std::vector<double>(sparse.dgate.size(), 0.0), 0, "dgate");
  }
}

TEST_CASE("sparse_attention: non-contiguous inputs give the same results") {
  const Dims s{2, 4, 2, 75, 8, 9, 2, 0.3};
  Inputs in = random_inputs(s, 3);
  // (B, T, H, D) layouts transposed to (B, H, T, D); selected and gate as transposed (T, B).
  Tensor qx = leaf(transpose(in.q, 1, 2).contiguous(), DType::f64);
  Tensor kx = leaf(transpose(in.k, 1, 2).contiguous(), DType::f64);
  Tensor vx = leaf(transpose(in.v, 1, 2).contiguous(), DType::f64);
  Tensor gx = leaf(transpose(in.gate, 0, 1).contiguous(), DType::f64);
  Tensor sel = transpose(transpose(in.selected, 0, 1).contiguous(), 0, 1);
  Tensor q = transpose(qx, 1, 2), k = transpose(kx, 1, 2), v = transpose(vx, 1, 2),
         gate = transpose(gx, 0, 1);
  REQUIRE(!q.is_contiguous());
  REQUIRE(!gate.is_contiguous());
  REQUIRE(!sel.is_contiguous());
  Tensor out = sparse_attention(q, k, v, sel, gate, s.window, s.sinks);
  backward(out, in.dout);
  Reference ref = naive(in, s, 1.0 / std::sqrt(double(s.D)));
  check_close(out.to_vector<double>(), ref.out, 1e-11, "out");
  check_close(transpose(qx.grad(), 1, 2).to_vector<double>(), ref.dq, 1e-11, "dq");
  check_close(transpose(kx.grad(), 1, 2).to_vector<double>(), ref.dk, 1e-11, "dk");
  check_close(transpose(vx.grad(), 1, 2).to_vector<double>(), ref.dv, 1e-11, "dv");
  check_close(transpose(gx.grad(), 0, 1).to_vector<double>(), ref.dgate, 1e-11, "dgate");
}

TEST_CASE("sparse_attention: results are bitwise identical with 1 and 2 threads") {
  const int saved = num_threads();
  for (const Dims& s : {Dims{2, 4, 2, 700, 32, 50, 4, 0.1}, Dims{1, 2, 1, 1000, 16, 300, 70, 0.3}}) {
    INFO(describe(s));
    Inputs in = random_inputs(s, 5);
    std::vector<std::vector<float>> runs[2];
    for (int threads = 1; threads <= 2; ++threads) {
      set_num_threads(threads);
      Tensor q = leaf(in.q, DType::f32), k = leaf(in.k, DType::f32), v = leaf(in.v, DType::f32);
      Tensor gate = leaf(in.gate, DType::f32);
      Tensor out = sparse_attention(q, k, v, in.selected, gate, s.window, s.sinks);
      backward(out, in.dout.to(DType::f32));
      runs[threads - 1] = {out.to_vector<float>(), q.grad().to_vector<float>(), k.grad().to_vector<float>(),
                           v.grad().to_vector<float>(), gate.grad().to_vector<float>()};
    }
    set_num_threads(saved);
    for (size_t i = 0; i < 5; ++i) CHECK(runs[0][i] == runs[1][i]);
  }
  set_num_threads(saved);
}

TEST_CASE("sparse_attention: records only when an input requires grad; empty shapes") {
  tape_clear();
  const Dims s{1, 2, 2, 10, 4, 3, 1, 0.5};
  Inputs in = random_inputs(s, 2);
  Tensor out = sparse_attention(in.q, in.k, in.v, in.selected, in.gate, s.window, s.sinks);
  CHECK(tape_size() == 0);
  CHECK(!out.requires_grad());
  // Only q requires grad: gradients reach q; the gate needs none.
  Tensor q = leaf(in.q, DType::f64);
  backward(sum(sparse_attention(q, in.k, in.v, in.selected, in.gate, s.window, s.sinks)));
  CHECK(q.grad().shape() == q.shape());
  Tensor e =
      sparse_attention(Tensor::zeros({1, 2, 0, 4}), Tensor::zeros({1, 1, 0, 4}), Tensor::zeros({1, 1, 0, 4}),
                       Tensor::zeros({1, 0}, DType::u8), Tensor::zeros({1, 0}), 4, 2);
  CHECK(e.shape() == Shape{1, 2, 0, 4});
}

TEST_CASE("sparse_attention: errors name the op and the shapes") {
  auto z = [](Shape s, DType dt = DType::f32) { return Tensor::zeros(s, dt); };
  const Tensor sel = z({1, 4}, DType::u8), gate = Tensor::ones({1, 4});
  CHECK_THROWS_WITH_AS(
      sparse_attention(z({1, 4, 8}), z({1, 1, 4, 8}), z({1, 1, 4, 8}), sel, gate, 2, 1),
      "[sparse_attention] q must be (B, H, T, D) and k, v (B, Hkv, T, D); got q [1, 4, 8], k [1, 1, 4, 8], "
      "v [1, 1, 4, 8]",
      Error);
  CHECK_THROWS_WITH_AS(sparse_attention(z({1, 2, 4, 8}), z({1, 2, 4, 8}), z({1, 2, 5, 8}), sel, gate, 2, 1),
                       "[sparse_attention] k [1, 2, 4, 8] and v [1, 2, 5, 8] must have the same shape",
                       Error);
  CHECK_THROWS_WITH_AS(
      sparse_attention(z({1, 2, 4, 8}), z({1, 2, 5, 8}), z({1, 2, 5, 8}), sel, gate, 2, 1),
      "[sparse_attention] q [1, 2, 4, 8] does not match k [1, 2, 5, 8] (batch, positions and "
      "head dim must agree)",
      Error);
  CHECK_THROWS_WITH_AS(
      sparse_attention(z({1, 2, 4, 8}), z({2, 2, 4, 8}), z({2, 2, 4, 8}), sel, gate, 2, 1),
      "[sparse_attention] q [1, 2, 4, 8] does not match k [2, 2, 4, 8] (batch, positions and "
      "head dim must agree)",
      Error);
  CHECK_THROWS_WITH_AS(
      sparse_attention(z({1, 2, 4, 8}), z({1, 2, 4, 6}), z({1, 2, 4, 6}), sel, gate, 2, 1),
      "[sparse_attention] q [1, 2, 4, 8] does not match k [1, 2, 4, 6] (batch, positions and "
      "head dim must agree)",
      Error);
  CHECK_THROWS_WITH_AS(
      sparse_attention(z({1, 6, 4, 8}), z({1, 4, 4, 8}), z({1, 4, 4, 8}), sel, gate, 2, 1),
      "[sparse_attention] q heads 6 are not a multiple of kv heads 4: q [1, 6, 4, 8], k [1, 4, 4, 8]", Error);
  CHECK_THROWS_WITH_AS(
      sparse_attention(z({1, 2, 4, 8}), z({1, 2, 4, 8}), z({1, 2, 4, 8}), z({1, 4}), gate, 2, 1),
      "[sparse_attention] selected must be u8 [1, 4] (B, T) for q [1, 2, 4, 8]; got f32 [1, 4]", Error);
  CHECK_THROWS_WITH_AS(
      sparse_attention(z({1, 2, 4, 8}), z({1, 2, 4, 8}), z({1, 2, 4, 8}), z({4}, DType::u8), gate, 2, 1),
      "[sparse_attention] selected must be u8 [1, 4] (B, T) for q [1, 2, 4, 8]; got u8 [4]", Error);
  CHECK_THROWS_WITH_AS(
      sparse_attention(z({1, 2, 4, 8}), z({1, 2, 4, 8}), z({1, 2, 4, 8}), sel, z({1, 5}), 2, 1),
      "[sparse_attention] gate must be [1, 4] (B, T) for q [1, 2, 4, 8]; got [1, 5]", Error);
  CHECK_THROWS_WITH_AS(
      sparse_attention(z({1, 2, 4, 8}), z({1, 2, 4, 8}), z({1, 2, 4, 8}), sel, z({1, 4}, DType::f64), 2, 1),
      "[sparse_attention] gate has dtype f64 but q has f32; they must match", Error);
  CHECK_THROWS_WITH_AS(
      sparse_attention(z({1, 2, 4, 8}), z({1, 2, 4, 8}), z({1, 2, 4, 8}), sel, z({1, 4}, DType::i64), 2, 1),
      "[sparse_attention] gate has dtype i64; expected f32 or f64", Error);
  CHECK_THROWS_WITH_AS(
      sparse_attention(z({1, 2, 4, 8}), z({1, 2, 4, 8}, DType::f64), z({1, 2, 4, 8}), sel, gate, 2, 1),
      "[sparse_attention] dtype mismatch: q f32, k f64, v f32", Error);
  CHECK_THROWS_WITH_AS(sparse_attention(z({1, 2, 4, 8}), z({1, 2, 4, 8}), z({1, 2, 4, 8}), sel, gate, 0, 1),
                       "[sparse_attention] window must be >= 1, got 0", Error);
  CHECK_THROWS_WITH_AS(sparse_attention(z({1, 2, 4, 8}), z({1, 2, 4, 8}), z({1, 2, 4, 8}), sel, gate, 2, -1),
                       "[sparse_attention] n_sinks must be >= 0, got -1", Error);
  CHECK_THROWS_WITH_AS(sparse_attention(z({1, 2, 4, 0}), z({1, 2, 4, 0}), z({1, 2, 4, 0}), sel, gate, 2, 1),
                       "[sparse_attention] head dim is 0: q [1, 2, 4, 0]", Error);
  const Tensor sel2 = Tensor::from_vector(std::vector<uint8_t>{1, 0, 1, 1}, {1, 4});
  CHECK_THROWS_WITH_AS(
      sparse_attention(z({1, 2, 4, 8}), z({1, 2, 4, 8}), z({1, 2, 4, 8}), sel2,
                       Tensor::from_vector(std::vector<float>{1, 1, -0.5f, 1}, {1, 4}), 2, 1),
      "[sparse_attention] the gate of a selected token must be finite and >= 0; got -0.5 at [0, 2]", Error);
  // A sink's gate is unused, so it is not checked.
  CHECK_NOTHROW(sparse_attention(z({1, 2, 4, 8}), z({1, 2, 4, 8}), z({1, 2, 4, 8}), sel2,
                                 Tensor::from_vector(std::vector<float>{NAN, 1, 1, 1}, {1, 4}), 2, 1));
}

TEST_CASE("sparse_attention: a long sequence (T = 8192, window 64, ~5% selected) is fast and matches") {
  const Dims s{1, 2, 1, 8192, 16, 64, 4, 0.05};
  Inputs in = random_inputs(s, 9);
  // "Fast" is judged against dense causal attention on the same shapes, in CPU time on one thread (not
  // wall time, which a loaded machine stretches; one thread, so that no OpenMP wait is counted; see
  // tests/cpu_time.h): the sparse path must use under a third of dense's CPU (measured: ~10x less, 27 vs
  // 283 ms), which a path that touched all T×T pairs could not.
  // The better of two runs each: process CPU time also counts other threads of the process that happen to
  // run (a GPU machine's test run once measured 0.51 s for a sparse pass that takes 0.17).
  const int saved = num_threads();
  set_num_threads(1);
  Result got;
  double sparse_s = 1e30, dense_s = 1e30;
  for (int rep = 0; rep < 2; ++rep) {
    double t0 = sra::testing::process_cpu_seconds();
    got = run(in, s, DType::f32);
    sparse_s = std::min(sparse_s, sra::testing::process_cpu_seconds() - t0);
    Tensor q = leaf(in.q, DType::f32), k = leaf(in.k, DType::f32), v = leaf(in.v, DType::f32);
    t0 = sra::testing::process_cpu_seconds();
    backward(attention(q, k, v), in.dout.to(DType::f32));
    dense_s = std::min(dense_s, sra::testing::process_cpu_seconds() - t0);
  }
  set_num_threads(saved);
  MESSAGE("T=8192 forward + backward, CPU: sparse_attention " << sparse_s << " s, dense attention " << dense_s
                                                              << " s");
  CHECK(sparse_s * 3 < dense_s);
  Reference ref = naive(in, s, 0.25);
  // Sampled query rows (out, dq) of both heads; every key (dk, dv, dgate: the far keys sum over all rows).
  std::vector<double> a, b;
  for (int64_t h = 0; h < s.H; ++h)
    for (int64_t i : {0, 1, 63, 64, 65, 1000, 4095, 4096, 8191})
      for (int64_t d = 0; d < s.D; ++d) {
        const size_t at = size_t((h * s.T + i) * s.D + d);
        a.push_back(got.out[at]), b.push_back(ref.out[at]);
        a.push_back(got.dq[at]), b.push_back(ref.dq[at]);
      }
  check_close(a, b, 1e-4, "out, dq (sampled rows)");
  check_close(got.dk, ref.dk, 1e-4, "dk");
  check_close(got.dv, ref.dv, 1e-4, "dv");
  check_close(got.dgate, ref.dgate, 1e-4, "dgate");
}
