#include <algorithm>
#include <cmath>
#include <vector>

#include "core/parallel.h"
#include "kernels/rope/rope.h"

namespace sra::kern {

template <typename T>
void rope_cpu(T* out, const T* x, const int64_t* pos, bool pos_per_batch, int64_t b, int64_t h, int64_t t,
              int64_t d, double theta, bool inverse, const RopeScaling& scaling) {
  int64_t half = d / 2, npos = pos_per_batch ? b * t : t;
  std::vector<double> inv_freq(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) inv_freq[i] = rope_inv_freq(i, d, theta, scaling);
  // cos/sin table per position row: (npos, half).
  std::vector<T> cs(static_cast<size_t>(npos * half)), sn(static_cast<size_t>(npos * half));
  parallel_for(npos, grain_for(half, 4096), [&](int64_t lo, int64_t hi) {
    for (int64_t p = lo; p < hi; ++p) {
      for (int64_t i = 0; i < half; ++i) {
        double a = double(pos[p]) * inv_freq[i];
        cs[p * half + i] = T(std::cos(a));
        sn[p * half + i] = T(inverse ? -std::sin(a) : std::sin(a));
      }
    }
  });
  parallel_for(b * h * t, grain_for(d, 16384), [&](int64_t lo, int64_t hi) {
    for (int64_t row = lo; row < hi; ++row) {
      int64_t ti = row % t, bi = row / (h * t);
      int64_t p = pos_per_batch ? bi * t + ti : ti;
      const T* c = cs.data() + p * half;
      const T* s = sn.data() + p * half;
      const T* xr = x + row * d;
      T* o = out + row * d;
      for (int64_t i = 0; i < half; ++i) {
        T x0 = xr[i], x1 = xr[i + half];
        o[i] = x0 * c[i] - x1 * s[i];
        o[i + half] = x1 * c[i] + x0 * s[i];
      }
    }
  });
}

template void rope_cpu<float>(float*, const float*, const int64_t*, bool, int64_t, int64_t, int64_t, int64_t,
                              double, bool, const RopeScaling&);
template void rope_cpu<double>(double*, const double*, const int64_t*, bool, int64_t, int64_t, int64_t,
                               int64_t, double, bool, const RopeScaling&);

}  // namespace sra::kern
