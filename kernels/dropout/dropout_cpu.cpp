#include "core/parallel.h"
#include "core/rng.h"
#include "kernels/dropout/dropout.h"

namespace sra::kern {

template <typename T>
void dropout_cpu(T* y, uint8_t* mask, const T* x, int64_t n, double p, uint64_t base, uint64_t stream,
                 uint64_t key) {
  T scale = T(1.0 / (1.0 - p));
  parallel_for(n, 8192, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      float u = uniform_open_f32(philox4x32(base + uint64_t(i), stream, key)[0]);
      bool keep = double(u) >= p;
      mask[i] = keep ? 1 : 0;
      y[i] = keep ? x[i] * scale : T(0);
    }
  });
}

template <typename T>
void dropout_apply_cpu(T* y, const T* x, const uint8_t* mask, int64_t n, double scale) {
  T s = T(scale);
  parallel_for(n, 16384, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) y[i] = mask[i] ? x[i] * s : T(0);
  });
}

template void dropout_cpu<float>(float*, uint8_t*, const float*, int64_t, double, uint64_t, uint64_t,
                                 uint64_t);
template void dropout_cpu<double>(double*, uint8_t*, const double*, int64_t, double, uint64_t, uint64_t,
                                  uint64_t);
template void dropout_apply_cpu<float>(float*, const float*, const uint8_t*, int64_t, double);
template void dropout_apply_cpu<double>(double*, const double*, const uint8_t*, int64_t, double);

}  // namespace sra::kern
