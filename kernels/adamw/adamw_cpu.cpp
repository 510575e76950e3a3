#include <cmath>

#include "core/parallel.h"
#include "kernels/adamw/adamw.h"

namespace sra::kern {

template <typename T>
void adamw_cpu(T* p, const T* g, T* m, T* v, int64_t n, const AdamWStep& s) {
  const double bc1 = 1.0 - std::pow(s.beta1, double(s.t));
  const double bc2 = 1.0 - std::pow(s.beta2, double(s.t));
  const T b1 = T(s.beta1), b2 = T(s.beta2), decay = T(1.0 - s.lr * s.weight_decay);
  const T step = T(s.lr / bc1), inv_sqrt_bc2 = T(1.0 / std::sqrt(bc2)), eps = T(s.eps), gs = T(s.grad_scale);
  parallel_for(n, 16384, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      T gi = g[i] * gs;
      T mi = b1 * m[i] + (T(1) - b1) * gi;
      T vi = b2 * v[i] + (T(1) - b2) * gi * gi;
      m[i] = mi;
      v[i] = vi;
      p[i] = p[i] * decay - step * mi / (std::sqrt(vi) * inv_sqrt_bc2 + eps);
    }
  });
}

template <typename T>
double sum_squares_cpu(const T* g, int64_t n) {
  double a0 = 0, a1 = 0;
  int64_t i = 0;
  for (; i + 2 <= n; i += 2) {
    a0 += double(g[i]) * double(g[i]);
    a1 += double(g[i + 1]) * double(g[i + 1]);
  }
  for (; i < n; ++i) a0 += double(g[i]) * double(g[i]);
  return a0 + a1;
}

template void adamw_cpu<float>(float*, const float*, float*, float*, int64_t, const AdamWStep&);
template void adamw_cpu<double>(double*, const double*, double*, double*, int64_t, const AdamWStep&);
template double sum_squares_cpu<float>(const float*, int64_t);
template double sum_squares_cpu<double>(const double*, int64_t);

}  // namespace sra::kern
