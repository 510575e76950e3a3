// CUDA softmax family and indexing kernels at shapes the op table's tiny cases do not reach: rows longer
// than a block (softmax, cross_entropy), more rows than the loss-sum block has threads, repeated indices,
// ties and NaN in topk, long scans. Against the CPU: within rounding where the CUDA order differs (block
// trees, or exp's last bit), bitwise where kernels/*/ *.h promise the CPU's arithmetic in its order
// (index_select / index_add, gather / scatter_add, topk, cumsum, max). Every CUDA result is computed twice
// and must repeat bitwise (deterministic), and cross_entropy with device targets must not sync the host.
// Skipped without a GPU.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

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

struct Result {
  Tensor y, gx;
};

// y = f(x) and x's gradient for the seed w, on x's device.
template <typename F>
Result run(F f, const Tensor& x0, const Tensor& w, Device dev) {
  Tensor x = x0.to(dev).detach();
  x.set_requires_grad(true);
  tape_clear();
  Result r;
  r.y = f(x);
  backward(r.y, w.to(dev));
  r.gx = x.grad();
  tape_clear();
  return r;
}

// CPU vs CUDA (tolerance tol, or bitwise when tol == 0) and CUDA vs CUDA (bitwise), output and gradient.
template <typename F>
void check_parity(const char* what, F f, const Tensor& x, double tol) {
  Tensor y0;
  {
    NoGradGuard g;
    y0 = f(x);
  }
  Generator wg(5);
  Tensor w = randn(y0.shape(), wg, y0.dtype());
  Result cpu = run(f, x, w, Device::cpu());
  Result a = run(f, x, w, kGpu), b = run(f, x, w, kGpu);
  std::string label = std::string(what) + " " + dtype_name(x.dtype());
  INFO(label);
  CHECK(a.y.device() == kGpu);
  CHECK(same_values(a.y, b.y));
  CHECK(same_values(a.gx, b.gx));
  if (tol == 0) {
    CHECK(same_values(a.y, cpu.y));
    CHECK(same_values(a.gx, cpu.gx));
  } else {
    CHECK(rel_err(a.y, cpu.y) <= tol);
    CHECK(rel_err(a.gx, cpu.gx) <= tol);
  }
}

Tensor random_ids(int64_t n, int64_t limit, uint64_t seed, int64_t ignore_every = 0) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  uint64_t s = seed;
  for (int64_t i = 0; i < n; ++i) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    v[size_t(i)] = int64_t((s >> 33) % uint64_t(limit));
    if (ignore_every > 0 && i % ignore_every == 3) v[size_t(i)] = -100;
  }
  return Tensor::from_vector(v, {n});
}

}  // namespace

TEST_CASE("cuda: softmax family at large shapes matches the CPU and repeats bitwise" *
          doctest::skip(no_gpu())) {
  for (DType dt : {DType::f64, DType::f32}) {
    double tol = dt == DType::f64 ? 1e-12 : 1e-5;
    Generator gen(21);
    Tensor rows = mul(randn({37, 3001}, gen, dt), 4.0);  // rows longer than a block
    check_parity(
        "softmax rows", [](const Tensor& x) { return softmax(x, -1); }, rows, tol);
    check_parity(
        "log_softmax rows", [](const Tensor& x) { return log_softmax(x, -1); }, rows, tol);
    Tensor mid = mul(randn({3, 700, 9}, gen, dt), 4.0);  // strided lines (the CPU's order; exp may differ)
    check_parity(
        "softmax middle", [](const Tensor& x) { return softmax(x, 1); }, mid, tol);
    check_parity(
        "log_softmax middle", [](const Tensor& x) { return log_softmax(x, 1); }, mid, tol);

    Tensor logits = mul(randn({613, 1000}, gen, dt), 3.0);  // more rows than the loss-sum block has threads
    Tensor t = random_ids(613, 1000, 7, 10);
    for (Device td : {Device::cpu(), kGpu}) {
      Tensor tt = t.to(td);  // on the GPU: the CPU run takes a CPU copy (targets follow the logits)
      auto ce = [tt](const Tensor& x) {
        return cross_entropy(x, tt.device().is_cpu() ? tt : tt.to(x.device()));
      };
      check_parity("cross_entropy", ce, logits, tol);
    }
  }
}

TEST_CASE("cuda: cross_entropy with device targets does not sync; bad targets give NaN" *
          doctest::skip(no_gpu())) {
  Generator gen(3);
  Tensor x = randn({300, 500}, gen, DType::f32).to(kGpu).detach();
  x.set_requires_grad(true);
  Tensor t = random_ids(300, 500, 11, 7).to(kGpu);
  uint64_t syncs = cuda::stats(0).host_syncs;
  Tensor loss = cross_entropy(x, t);
  backward(loss);
  CHECK(cuda::stats(0).host_syncs == syncs);
  CHECK(std::isfinite(loss.item()));
  tape_clear();
  // an out-of-range target on the device is not dereferenced: the loss is NaN
  Tensor bad = Tensor::from_vector(std::vector<int64_t>{1, 500, -100}, {3}).to(kGpu);
  CHECK(std::isnan(cross_entropy(x.detach().slice(0, 0, 3), bad).item()));
  // all rows ignored: 0, and a zero gradient
  Tensor none = Tensor::from_vector(std::vector<int64_t>{-100, -100}, {2}).to(kGpu);
  CHECK(cross_entropy(x.detach().slice(0, 0, 2), none).item() == 0.0);
}

TEST_CASE("cuda: index kernels at large shapes match the CPU bitwise and repeat" * doctest::skip(no_gpu())) {
  for (DType dt : {DType::f64, DType::f32}) {
    Generator gen(8);
    Tensor x = randn({300, 64}, gen, dt);
    Tensor rep = random_ids(5000, 300, 1);  // many repeats: index_add accumulates in order
    check_parity(
        "index_select", [rep](const Tensor& v) { return index_select(v, 0, rep); }, x, 0);
    Tensor x3 = randn({4, 50, 33}, gen, dt);
    Tensor rep1 = random_ids(400, 50, 2);
    check_parity(
        "index_select dim1", [rep1](const Tensor& v) { return index_select(v, 1, rep1); }, x3, 0);

    Tensor g2 = randn({200, 500}, gen, dt);
    Tensor gi = reshape(random_ids(200 * 300, 500, 3), {200, 300});
    check_parity(
        "gather dim1", [gi](const Tensor& v) { return gather(v, 1, gi); }, g2, 0);
    Tensor gi0 = reshape(random_ids(700 * 500, 200, 4), {700, 500});
    check_parity(
        "gather dim0", [gi0](const Tensor& v) { return gather(v, 0, gi0); }, g2, 0);

    // topk with ties (values on a coarse grid) and a NaN
    std::vector<double> tv = randn({50, 1000}, gen, DType::f64).to_vector<double>();
    for (double& v : tv) v = std::round(v * 2.0) / 2.0;
    tv[17] = NAN;
    Tensor tk = cast(Tensor::from_vector(tv, {50, 1000}), dt);
    for (int64_t k : {int64_t(1), int64_t(37), int64_t(1000)}) {
      auto [vc, ic] = topk(tk, k, -1);
      auto [vg, ig] = topk(tk.to(kGpu), k, -1);
      CHECK(same_values(vg, vc));
      CHECK(host_values(ig) == host_values(ic));
    }
    Tensor tk0 = randn({300, 4, 5}, gen, dt);
    check_parity(
        "topk dim0", [](const Tensor& v) { return topk(v, 20, 0).first; }, tk0, 0);

    Tensor cs = randn({4, 3000, 3}, gen, dt);
    check_parity(
        "cumsum", [](const Tensor& v) { return cumsum(v, 1); }, cs, 0);
    check_parity(
        "max", [](const Tensor& v) { return max(v, 1).first; }, cs, 0);
  }
}
