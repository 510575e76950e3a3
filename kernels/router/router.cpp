// The router kernels' dispatchers: the one switch from a device to its kernel (contract in router.h).
#include "kernels/router/router.h"

#include "core/check.h"
#include "kernels/common/dtype_switch.h"

namespace sra::kern {

void perturbed_scores(Device d, const PerturbedScoresArgs& a) {
  if (a.n == 0) return;
  if (d.is_cuda()) return perturbed_scores_cuda(a, d.index);
  for_float(a.dtype, "router", "cpu", [&](auto t) {
    using T = decltype(t);
    perturbed_scores_cpu<T>(a.u, static_cast<const T*>(a.s), static_cast<const T*>(a.noise), a.n, a.tau);
  });
}

void router_scores(Device d, const RouterScoresArgs& a) {
  if (a.rows == 0) return;
  if (d.is_cuda()) return router_scores_cuda(a, d.index);
  for_float(a.dtype, "router", "cpu", [&](auto t) { router_scores_cpu<decltype(t)>(a); });
}

void threshold_step(Device d, const ThresholdStepArgs& a) {
  if (d.is_cuda()) return threshold_step_cuda(a, d.index);
  threshold_step_cpu(a);
}

}  // namespace sra::kern
