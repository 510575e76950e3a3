#include <algorithm>
#include <cmath>
#include <vector>

#include "core/parallel.h"
#include "kernels/rmsnorm/rmsnorm.h"

namespace sra::kern {

template <typename T>
void rmsnorm_cpu(T* y, T* rstd, const T* x, const T* w, int64_t n, int64_t c, double eps) {
  parallel_for(n, grain_for(c, 16384), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const T* xr = x + r * c;
      T* yr = y + r * c;
      double ss = 0;
      for (int64_t i = 0; i < c; ++i) ss += double(xr[i]) * double(xr[i]);
      T rs = T(1.0 / std::sqrt(ss / double(c) + eps));
      rstd[r] = rs;
      for (int64_t i = 0; i < c; ++i) yr[i] = xr[i] * rs * w[i];
    }
  });
}

template <typename T>
void rmsnorm_backward_cpu(T* gx, T* gw, const T* gy, const T* x, const T* w, const T* rstd, int64_t n,
                          int64_t c) {
  if (gx) {
    parallel_for(n, grain_for(c, 16384), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const T* xr = x + r * c;
        const T* gr = gy + r * c;
        T* out = gx + r * c;
        double dot = 0;
        for (int64_t i = 0; i < c; ++i) dot += double(gr[i]) * double(w[i]) * double(xr[i]);
        double rs = double(rstd[r]);
        T a = T(rs), k = T(rs * rs * rs * dot / double(c));
        for (int64_t i = 0; i < c; ++i) out[i] = a * (gr[i] * w[i]) - xr[i] * k;
      }
    });
  }
  if (gw) {
    const int64_t chunk = 64;
    int64_t chunks = (c + chunk - 1) / chunk;
    parallel_for(chunks, 1, [&](int64_t b, int64_t e) {
      std::vector<double> acc(static_cast<size_t>(chunk));
      for (int64_t w0 = b; w0 < e; ++w0) {
        int64_t c0 = w0 * chunk, m = std::min(chunk, c - c0);
        std::fill(acc.begin(), acc.begin() + m, 0.0);
        for (int64_t r = 0; r < n; ++r) {
          const T* xr = x + r * c + c0;
          const T* gr = gy + r * c + c0;
          double rs = double(rstd[r]);
          for (int64_t i = 0; i < m; ++i) acc[i] += double(gr[i]) * double(xr[i]) * rs;
        }
        for (int64_t i = 0; i < m; ++i) gw[c0 + i] = T(acc[i]);
      }
    });
  }
}

template void rmsnorm_cpu<float>(float*, float*, const float*, const float*, int64_t, int64_t, double);
template void rmsnorm_cpu<double>(double*, double*, const double*, const double*, int64_t, int64_t, double);
template void rmsnorm_backward_cpu<float>(float*, float*, const float*, const float*, const float*,
                                          const float*, int64_t, int64_t);
template void rmsnorm_backward_cpu<double>(double*, double*, const double*, const double*, const double*,
                                           const double*, int64_t, int64_t);

}  // namespace sra::kern
