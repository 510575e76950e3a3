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
#include <iostream>
#include <set>
#include <sstream>

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
