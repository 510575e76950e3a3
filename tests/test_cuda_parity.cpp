// CPU-vs-CUDA parity over the op table (tests/op_cases.cpp): for every case, in f64 and f32, the output
// and every input gradient (backward from a random seed gradient w) computed on the GPU match the CPU's:
// ‖gpu − cpu‖ / ‖cpu‖ ≤ 1e-12 (f64) or 1e-5 (f32). The CPU kernels are the oracle.
//
// kNotOnCudaYet lists the cases that still reach an op without a CUDA kernel (the port is under way,
// issue "CUDA backend"). The test fails when any other case fails or differs, and also when a listed
// case starts to pass, so the list only shrinks; done when it is empty. Skipped without a GPU.
// SRA_TEST_TRACE=1 prints each case's name to stderr before it runs (to name one that crashes).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iostream>
#include <set>
#include <sstream>

#include "autograd/fused_ops.h"
#include "compare_util.h"
#include "core/cuda_runtime.h"
#include "tests/gradcheck.h"

using namespace sra;
using namespace sra::test;

namespace {

const std::set<std::string> kNotOnCudaYet = {
#include "tests/cuda_not_yet.inc"
};

// NaN where the CPU has NaN (ops outside their domain) is agreement.
double parity_err(const Tensor& gpu, const Tensor& cpu) {
  return test::rel_err(gpu, cpu, 1e-300, /*skip_shared_nan=*/true);
}

struct Run {
  Tensor y;
  std::vector<Tensor> grads;
};

Run run_case(const OpCase& c, std::vector<Tensor> xs, const Tensor& w, Device dev) {
  for (size_t i = 0; i < xs.size(); ++i) {
    xs[i] = xs[i].to(dev).detach();
    if (differentiable(c.inputs[i])) xs[i].set_requires_grad(true);
  }
  tape_clear();
  Run r;
  r.y = c.fn(xs);
  if (r.y.requires_grad() && w.defined()) backward(r.y, w.to(dev));
  for (const Tensor& x : xs) r.grads.push_back(x.requires_grad() ? x.grad() : Tensor());
  tape_clear();
  return r;
}

// "" when the case matches, else what differs or what threw; "n/a" when the case does not run in `dt`
// on the CPU either (a case that builds f64 tensors of its own).
std::string parity(const OpCase& c, DType dt) {
  std::vector<Tensor> xs = make_inputs(c, 11, dt);
  Tensor y0;
  try {
    NoGradGuard g;
    y0 = c.fn(xs);
  } catch (const Error&) {
    if (dt == DType::f64) throw;  // every case runs in f64 (the gradchecks do)
    return "n/a";
  }
  Generator wg(12);
  Tensor w = is_floating(y0.dtype()) ? randn(y0.shape(), wg, y0.dtype()) : Tensor();
  Run cpu = run_case(c, xs, w, Device::cpu());
  Run gpu;
  try {
    gpu = run_case(c, xs, w, Device::cuda(0));
  } catch (const Error& e) {
    return std::string("threw: ") + e.what();
  }
  const double tol = dt == DType::f64 ? 1e-12 : 1e-5;
  std::ostringstream why;
  if (gpu.y.device() != Device::cuda(0)) why << "output on " << gpu.y.device().str() << "; ";
  double e = parity_err(gpu.y, cpu.y);
  if (!(e <= tol)) why << "output rel err " << e << "; ";
  for (size_t i = 0; i < xs.size(); ++i) {
    if (!cpu.grads[i].defined()) continue;
    double eg = gpu.grads[i].defined() ? parity_err(gpu.grads[i], cpu.grads[i]) : INFINITY;
    if (!(eg <= tol)) why << "grad " << i << " rel err " << eg << "; ";
  }
  return why.str();
}

}  // namespace

TEST_CASE("cuda: parity with the CPU for every op case" * doctest::skip(!cuda::available())) {
  std::vector<std::string> newly_ok;
  for (const OpCase& c : op_cases()) {
    bool all_ok = true;
    bool listed = kNotOnCudaYet.count(c.name) > 0;
    for (DType dt : {DType::f64, DType::f32}) {
      INFO(c.name << " (" << std::string(dtype_name(dt)) << ")");
      if (std::getenv("SRA_TEST_TRACE"))
        std::cerr << "parity: " << c.name << " " << dtype_name(dt) << std::endl;
      std::string why = parity(c, dt);
      if (why == "n/a") continue;
      all_ok = all_ok && why.empty();
      if (listed) continue;
      INFO(why);
      CHECK(why.empty());
    }
    if (listed && all_ok) newly_ok.push_back(c.name);
  }
  INFO("these cases now pass on CUDA: remove them from tests/cuda_not_yet.inc");
  for (const std::string& n : newly_ok) MESSAGE(n);
  CHECK(newly_ok.empty());
}

// The strided copy kernel (core/strided_copy_cuda.cu) against the CPU's copy, byte for byte: dense casts
// (the flat path, with more elements than one grid-stride round), views whose dims merge or do not
// (slices, a step slice, transposes, a permutation, broadcast, size-1 dims with odd strides), a strided
// destination, and the conversions between f32, f64 and bf16 with NaN, ±inf, subnormals and values that
// round up to inf in bf16.
TEST_CASE("cuda: strided copies and casts equal the CPU's bit for bit" * doctest::skip(!cuda::available())) {
  const Device gpu = Device::cuda(0);
  Generator gen(77);
  std::vector<float> v = randn({3, 5, 64, 37}, gen).to_vector<float>();
  const float specials[] = {NAN, INFINITY, -INFINITY, 1e-40f, -3e-39f, 3.3961e38f, -0.0f, 1.00390625f};
  for (size_t i = 0; i < std::size(specials); ++i) v[i * 97] = specials[i];
  const Tensor base = Tensor::from_vector(v, {3, 5, 64, 37});
  const Tensor big = randn({(int64_t(1) << 22) + (int64_t(1) << 20) + 3}, gen);
  using View = std::function<Tensor(const Tensor&)>;
  const std::vector<std::pair<const char*, View>> views = {
      {"dense", [](const Tensor& t) { return t; }},
      {"rows", [](const Tensor& t) { return t.narrow(2, 3, 50); }},
      {"step slice", [](const Tensor& t) { return t.slice(3, 1, 37, 3); }},
      {"transpose", [](const Tensor& t) { return t.transpose(1, 2); }},
      {"permute",
       [](const Tensor& t) {
         return t.permute({2, 0, 3, 1});
       }},
      {"broadcast",
       [](const Tensor& t) {
         return t.narrow(1, 2, 1).expand({3, 5, 64, 37});
       }},
      {"size-1 dims", [](const Tensor& t) { return t.narrow(0, 1, 1).narrow(3, 4, 1).unsqueeze(2); }},
  };
  auto same_bytes = [](const Tensor& a, const Tensor& b) {
    const Tensor x = a.contiguous(), y = b.to(Device::cpu()).contiguous();
    return x.dtype() == y.dtype() && x.shape() == y.shape() &&
           std::memcmp(x.raw(), y.raw(), size_t(x.numel()) * dtype_size(x.dtype())) == 0;
  };
  for (DType src : {DType::f32, DType::bf16, DType::f64}) {
    const Tensor b_cpu = base.to(src), b_gpu = b_cpu.to(gpu);
    for (DType dst : {DType::f32, DType::bf16, DType::f64}) {
      for (const auto& [name, f] : views) {
        CAPTURE(name);
        CAPTURE(dtype_name(src));
        CAPTURE(dtype_name(dst));
        CHECK(same_bytes(f(b_cpu).to(dst), f(b_gpu).to(dst)));
      }
      Tensor d_cpu = Tensor::zeros({37, 64, 5, 3}, dst).permute({3, 2, 1, 0});  // a strided destination
      Tensor d_gpu = Tensor::zeros({37, 64, 5, 3}, dst, gpu).permute({3, 2, 1, 0});
      d_cpu.copy_(b_cpu);
      d_gpu.copy_(b_gpu);
      CHECK(same_bytes(d_cpu, d_gpu));
    }
  }
  const Tensor big_gpu = big.to(gpu);
  CHECK(same_bytes(big.to(DType::bf16), big_gpu.to(DType::bf16)));
  CHECK(same_bytes(big.to(DType::bf16).to(DType::f32), big_gpu.to(DType::bf16).to(DType::f32)));
}

// RoPE at shapes the op table's tiny cases do not reach: several position tiles per batch row with a
// partial last one, pair counts that do not divide the kernel's 512-pair table (d = 24, 64, 128, 1200),
// positions per batch row, Llama 3 scaling, a strided (head-split) input, and the backward (the inverse
// rotation): output and input gradient equal the CPU's up to the last bit of cos/sin.
TEST_CASE("cuda: rope over many position tiles matches the CPU" * doctest::skip(!cuda::available())) {
  const Device gpu = Device::cuda(0);
  Generator gen(91);
  kern::RopeScaling llama3;
  llama3.llama3 = true;
  llama3.original_max_position = 64;
  struct Case {
    int64_t b, h, t, d;
    bool per_batch, scaled;
  };
  for (const Case& c : {Case{2, 3, 301, 64, false, false}, Case{3, 5, 77, 24, true, false},
                        Case{1, 2, 33, 128, false, true}, Case{2, 1, 5, 1200, true, false}}) {
    CAPTURE(c.t);
    CAPTURE(c.d);
    for (DType dt : {DType::f64, DType::f32}) {
      Tensor x = randn({c.b, c.t, c.h, c.d}, gen, dt);  // (B, T, H, D): read through the head split
      std::vector<int64_t> p(size_t(c.per_batch ? c.b * c.t : c.t));
      for (size_t i = 0; i < p.size(); ++i) p[i] = c.per_batch ? int64_t((i * 7919) % 5000) : int64_t(i);
      Tensor pos = Tensor::from_vector(p, c.per_batch ? Shape{c.b, c.t} : Shape{c.t});
      Tensor w = randn({c.b, c.h, c.t, c.d}, gen, dt);
      std::vector<Tensor> out, grad;
      for (Device d : {Device::cpu(), gpu}) {
        Tensor xi = x.to(d).detach().set_requires_grad(true);
        Tensor y = rope(transpose(xi, 1, 2), pos.to(d), 50000.0, c.scaled ? llama3 : kern::RopeScaling{});
        backward(y, w.to(d));
        out.push_back(y.detach().to(Device::cpu()));
        grad.push_back(xi.grad().to(Device::cpu()));
        tape_clear();
      }
      const double tol = dt == DType::f64 ? 1e-12 : 1e-6;
      CHECK(rel_err(out[1], out[0]) <= tol);
      CHECK(rel_err(grad[1], grad[0]) <= tol);
    }
  }
}

// RMSNorm's two CUDA row layouts (one warp per row up to C = 4096, one block per row above) on rows the op
// table's cases do not reach, plain and with the fused residual add (add_rmsnorm): y, s and every
// gradient equal the CPU's up to rounding; a second run on the GPU gives the same bits.
TEST_CASE("cuda: rmsnorm and add_rmsnorm rows of 768 and 5000 match the CPU" *
          doctest::skip(!cuda::available())) {
  const Device gpu = Device::cuda(0);
  Generator gen(93);
  for (int64_t c : {768, 5000}) {
    CAPTURE(c);
    const int64_t n = 37;
    Tensor x = randn({n, c}, gen), delta = randn({n, c}, gen), w = randn({c}, gen);
    Tensor gy = randn({n, c}, gen), gs = randn({n, c}, gen);
    std::vector<std::vector<Tensor>> runs;
    for (Device d : {Device::cpu(), gpu, gpu}) {
      Tensor xi = x.to(d).detach().set_requires_grad(true), di = delta.to(d).detach().set_requires_grad(true);
      Tensor wi = w.to(d).detach().set_requires_grad(true);
      Tensor y = rmsnorm(xi, wi);
      auto [s2, y2] = add_rmsnorm(xi, di, wi);
      backward(sum(add(add(mul(y, gy.to(d)), mul(y2, gy.to(d))), mul(s2, gs.to(d)))));
      std::vector<Tensor> r;
      for (const Tensor& t : {y.detach(), y2.detach(), s2.detach(), xi.grad(), di.grad(), wi.grad()})
        r.push_back(t.to(Device::cpu()));
      runs.push_back(r);
      tape_clear();
    }
    for (size_t i = 0; i < runs[0].size(); ++i) {
      CAPTURE(i);
      CHECK(rel_err(runs[1][i], runs[0][i]) <= 1e-5);
      CHECK(runs[2][i].to_vector<float>() == runs[1][i].to_vector<float>());
    }
  }
}

// Sums with few outputs and a long reduced axis (a bias gradient: (B·T, C) → (C), a whole-tensor sum), the
// shapes the two-pass chunked CUDA sum takes (kernels/reduce/reduce.h), and one just under its threshold:
// equal to the CPU's up to rounding in f64 and f32, and the same bits on a second GPU run. The bias
// gradient also comes through autograd's broadcast add.
TEST_CASE("cuda: long sums over few outputs match the CPU" * doctest::skip(!cuda::available())) {
  const Device gpu = Device::cuda(0);
  Generator gen(94);
  struct SumCase {
    std::vector<int64_t> shape, dims;
  };
  const std::vector<SumCase> cases = {{{4096, 96}, {0}}, {{3, 5000, 7}, {1}}, {{100003}, {0}},
                                      {{2, 70, 5}, {1}}, {{63, 40}, {0}},     {{8, 2048, 3}, {0, 1}},
                                      {{20000, 1}, {0}}};
  for (DType dt : {DType::f64, DType::f32}) {
    for (const SumCase& c : cases) {
      CAPTURE(shape_str(c.shape));
      Tensor x = randn(c.shape, gen, dt);
      Tensor want = sum(x, c.dims, false);
      Tensor a = sum(x.to(gpu), c.dims, false).to(Device::cpu());
      Tensor b = sum(x.to(gpu), c.dims, false).to(Device::cpu());
      CHECK(rel_err(a, want) <= (dt == DType::f64 ? 1e-12 : 1e-6));
      CHECK(a.to(DType::f64).to_vector<double>() == b.to(DType::f64).to_vector<double>());
    }
  }
  Tensor x = randn({4096, 96}, gen), bias = randn({96}, gen), gy = randn({4096, 96}, gen);
  std::vector<Tensor> grads;
  for (Device d : {Device::cpu(), gpu}) {
    Tensor bi = bias.to(d).detach().set_requires_grad(true);
    backward(sum(mul(add(x.to(d), bi), gy.to(d))));
    grads.push_back(bi.grad().to(Device::cpu()));
    tape_clear();
  }
  CHECK(rel_err(grads[1], grads[0]) <= 1e-6);
}

// max / argmax along rows (the greedy decode's argmax over a 32k vocabulary: one block per row on CUDA)
// and along a middle axis: values and indices equal the CPU's exactly, with ties (the first index wins),
// ±inf, NaN (the first NaN wins) and a row shorter than the block.
TEST_CASE("cuda: max and argmax over long rows match the CPU exactly" * doctest::skip(!cuda::available())) {
  const Device gpu = Device::cuda(0);
  Generator gen(95);
  for (DType dt : {DType::f64, DType::f32}) {
    Tensor x = randn({6, 32768}, gen, dt);
    std::vector<double> v = x.to(DType::f64).to_vector<double>();
    auto at = [&](int64_t row, int64_t col) -> double& { return v[size_t(row * 32768 + col)]; };
    at(1, 70) = at(1, 30000) = 50;  // a tie: index 70
    at(2, 5) = INFINITY, at(2, 6) = INFINITY;
    at(3, 900) = NAN, at(3, 40) = NAN, at(3, 20000) = 99;  // the first NaN: index 40
    for (int64_t c = 0; c < 32768; ++c) at(4, c) = -INFINITY;
    at(5, 32767) = 10;  // the last element
    x = Tensor::from_vector<double>(v, {6, 32768}).to(dt);
    for (const Tensor& t : {x, x.narrow(1, 0, 100), x.reshape({6, 64, 512})}) {
      for (int64_t dim : {int64_t(-1), int64_t(1)}) {
        if (dim == 1 && t.dim() == 2) continue;
        CAPTURE(shape_str(t.shape()));
        CAPTURE(dim);
        auto [cv, ci] = max(t, dim);
        auto [gv, gi] = max(t.to(gpu), dim);
        CHECK(gi.to(Device::cpu()).to_vector<int64_t>() == ci.to_vector<int64_t>());
        std::vector<double> a = gv.to(Device::cpu()).to(DType::f64).to_vector<double>();
        std::vector<double> b = cv.to(DType::f64).to_vector<double>();
        REQUIRE(a.size() == b.size());
        for (size_t i = 0; i < a.size(); ++i) CHECK((a[i] == b[i] || (a[i] != a[i] && b[i] != b[i])));
      }
    }
    CHECK(argmax(x, 1).to_vector<int64_t>()[1] == 70);
    CHECK(argmax(x, 1).to_vector<int64_t>()[3] == 40);
  }
}
