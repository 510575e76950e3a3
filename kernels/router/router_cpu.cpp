#include <cmath>

#include "kernels/router/router.h"

namespace sra::kern {

template <typename T>
void perturbed_scores_cpu(double* u, const T* s, const T* noise, int64_t n, double tau) {
  for (int64_t i = 0; i < n; ++i) u[i] = std::fma(tau, double(noise[i]), double(s[i]));
}

void threshold_step_cpu(const ThresholdStepArgs& a) {
  const double theta = a.theta[0];
  const double c = a.toward_value ? theta : a.target;
  a.theta[0] = std::fma(a.lr, a.value[0] - c, theta);
}

template void perturbed_scores_cpu<float>(double*, const float*, const float*, int64_t, double);
template void perturbed_scores_cpu<double>(double*, const double*, const double*, int64_t, double);

}  // namespace sra::kern
