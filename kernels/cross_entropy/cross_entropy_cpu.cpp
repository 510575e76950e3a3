#include <algorithm>
#include <cmath>
#include <vector>

#include "core/parallel.h"
#include "kernels/cross_entropy/cross_entropy.h"
#include "kernels/cross_entropy/row_lse_cpu.h"

namespace sra::kern {

template <typename T>
double cross_entropy_cpu(T* mx, T* ls, const T* x, const int64_t* t, int64_t n, int64_t v,
                         int64_t ignore_index) {
  std::vector<double> loss(static_cast<size_t>(n), 0.0);
  parallel_for(n, grain_for(v, 16384), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const T* row = x + r * v;
      T m;
      double s;
      row_max_sumexp_cpu(row, v, m, s);
      mx[r] = m;
      ls[r] = T(std::log(s));
      if (t[r] != ignore_index) loss[r] = (double(m) - double(row[t[r]])) + std::log(s);
    }
  });
  double total = 0;
  for (int64_t r = 0; r < n; ++r) total += loss[r];
  return total;
}

template <typename T>
void cross_entropy_backward_cpu(T* gx, const T* x, const T* mx, const T* ls, const int64_t* t, int64_t n,
                                int64_t v, int64_t ignore_index, double scale) {
  parallel_for(n, grain_for(v, 16384), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      T* out = gx + r * v;
      if (t[r] == ignore_index) {
        std::fill(out, out + v, T(0));
        continue;
      }
      const T* row = x + r * v;
      T sc = T(scale), m = mx[r], l = ls[r];
      for (int64_t k = 0; k < v; ++k) out[k] = std::exp((row[k] - m) - l) * sc;
      out[t[r]] = T((double(std::exp((row[t[r]] - m) - l)) - 1.0) * scale);
    }
  });
}

template double cross_entropy_cpu<float>(float*, float*, const float*, const int64_t*, int64_t, int64_t,
                                         int64_t);
template double cross_entropy_cpu<double>(double*, double*, const double*, const int64_t*, int64_t, int64_t,
                                          int64_t);
template void cross_entropy_backward_cpu<float>(float*, const float*, const float*, const float*,
                                                const int64_t*, int64_t, int64_t, int64_t, double);
template void cross_entropy_backward_cpu<double>(double*, const double*, const double*, const double*,
                                                 const int64_t*, int64_t, int64_t, int64_t, double);

}  // namespace sra::kern
