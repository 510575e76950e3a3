// SwiGLU's gate on the CPU (contract in swiglu.h): the oracle's arithmetic, parallel over elements.
#include <cmath>

#include "core/parallel.h"
#include "kernels/swiglu/swiglu.h"

namespace sra::kern {

namespace {
template <typename T>
inline T sigm(T x) {
  return T(1) / (T(1) + std::exp(-x));
}
}  // namespace

template <typename T>
void swiglu_cpu(const SwigluArgs& p) {
  auto* y = static_cast<T*>(p.y);
  auto* y16 = static_cast<bf16*>(p.y16);
  const auto* a = static_cast<const T*>(p.a);
  const auto* b = static_cast<const T*>(p.b);
  parallel_for(p.n, 16384, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) {
      const T v = (a[i] * sigm(a[i])) * b[i];
      y[i] = v;
      if (y16) y16[i] = bf16(float(v));
    }
  });
}

template <typename T>
void swiglu_backward_cpu(const SwigluBackwardArgs& p) {
  auto* ga = static_cast<T*>(p.ga);
  auto* gb = static_cast<T*>(p.gb);
  const auto* gy = static_cast<const T*>(p.gy);
  const auto* a = static_cast<const T*>(p.a);
  const auto* b = static_cast<const T*>(p.b);
  parallel_for(p.n, 16384, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) {
      const T u = a[i], sg = sigm(u);
      if (ga) ga[i] = (gy[i] * b[i]) * (sg * (T(1) + u * (T(1) - sg)));
      if (gb) gb[i] = gy[i] * (u * sg);
    }
  });
}

template void swiglu_cpu<float>(const SwigluArgs&);
template void swiglu_cpu<double>(const SwigluArgs&);
template void swiglu_backward_cpu<float>(const SwigluBackwardArgs&);
template void swiglu_backward_cpu<double>(const SwigluBackwardArgs&);

}  // namespace sra::kern
