#include <algorithm>
#include <cmath>
#include <vector>

#include "core/parallel.h"
#include "kernels/rope/rope.h"

namespace sra::kern {

template <typename T>
void rope_cpu(const RopeArgs& a) {
  auto* out = static_cast<T*>(a.out);
  const auto* x = static_cast<const T*>(a.x);
  const int64_t* pos = a.pos;
  const bool pos_per_batch = a.pos_per_batch, inverse = a.inverse;
  const int64_t b = a.b, h = a.h, t = a.t, d = a.d;
  const double theta = a.theta;
  int64_t half = d / 2, npos = pos_per_batch ? b * t : t;
  std::vector<double> inv_freq(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) inv_freq[i] = rope_inv_freq(i, d, theta, a.scaling);
  // cos/sin table per position row: (npos, half).
  std::vector<T> cs(static_cast<size_t>(npos * half)), sn(static_cast<size_t>(npos * half));
  parallel_for(npos, grain_for(half, 4096), [&](int64_t lo, int64_t hi) {
    for (int64_t p = lo; p < hi; ++p) {
      for (int64_t i = 0; i < half; ++i) {
        double ang = double(pos[p]) * inv_freq[i];
        cs[p * half + i] = T(std::cos(ang));
        sn[p * half + i] = T(inverse ? -std::sin(ang) : std::sin(ang));
      }
    }
  });
  parallel_for(b * h * t, grain_for(d, 16384), [&](int64_t lo, int64_t hi) {
    for (int64_t row = lo; row < hi; ++row) {
      int64_t ti = row % t, hd = (row / t) % h, bi = row / (h * t);
      int64_t p = pos_per_batch ? bi * t + ti : ti;
      const T* c = cs.data() + p * half;
      const T* s = sn.data() + p * half;
      const T* xr = x + bi * a.xs[0] + hd * a.xs[1] + ti * a.xs[2];
      T* o = out + bi * a.os[0] + hd * a.os[1] + ti * a.os[2];
      for (int64_t i = 0; i < half; ++i) {
        T x0 = xr[i], x1 = xr[i + half];
        o[i] = x0 * c[i] - x1 * s[i];
        o[i + half] = x1 * c[i] + x0 * s[i];
      }
    }
  });
}

template void rope_cpu<float>(const RopeArgs&);
template void rope_cpu<double>(const RopeArgs&);

}  // namespace sra::kern
