// The router kernels on the CPU (contracts in router.h): the oracles of router_cuda.cu.
#include <cmath>
#include <vector>

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

template <typename T>
void router_scores_cpu(const RouterScoresArgs& a) {
  const T *h = static_cast<const T*>(a.h), *g = static_cast<const T*>(a.norm_w);
  const T *up_w = static_cast<const T*>(a.up_w), *up_b = static_cast<const T*>(a.up_b);
  const T *down_w = static_cast<const T*>(a.down_w), *down_b = static_cast<const T*>(a.down_b);
  T* out = static_cast<T*>(a.s);
  std::vector<T> n(size_t(a.c)), act(size_t(a.hidden));
  for (int64_t r = 0; r < a.rows; ++r) {
    const T* x = h + r * a.c;
    double ss = 0;
    for (int64_t i = 0; i < a.c; ++i) ss += double(x[i]) * double(x[i]);
    const T rs = T(1.0 / std::sqrt(ss / double(a.c) + a.eps));
    for (int64_t i = 0; i < a.c; ++i) n[size_t(i)] = x[i] * rs * g[i];
    for (int64_t j = 0; j < a.hidden; ++j) {
      double acc = 0;
      for (int64_t i = 0; i < a.c; ++i) acc += double(up_w[j * a.c + i]) * double(n[size_t(i)]);
      const T u = T(acc) + up_b[j];
      act[size_t(j)] = u * (T(1) / (T(1) + std::exp(-u)));
    }
    double acc = 0;
    for (int64_t j = 0; j < a.hidden; ++j) acc += double(down_w[j]) * double(act[size_t(j)]);
    out[r] = T(acc) + down_b[0];
  }
}

template void router_scores_cpu<float>(const RouterScoresArgs&);
template void router_scores_cpu<double>(const RouterScoresArgs&);

}  // namespace sra::kern
