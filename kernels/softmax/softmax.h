// Softmax over the middle axis of a contiguous (outer, R, inner) view (R = the softmax dim), per line
// x[o, ·, i] with m = max_r x and s = Σ_r exp(x − m) (accumulated in double):
//   softmax      y = exp(x − m) / s             backward  gx = y · (gy − Σ_r gy·y)
//   log_softmax  y = (x − m) − log s             backward  gx = gy − exp(y) · Σ_r gy
// T = float or double; each line is handled by one thread in a fixed order.
#pragma once
#include <cstdint>

namespace sra::kern {

template <typename T>
void softmax_cpu(T* y, const T* x, int64_t outer, int64_t r, int64_t inner, bool log);
template <typename T>
void softmax_backward_cpu(T* gx, const T* gy, const T* y, int64_t outer, int64_t r, int64_t inner, bool log);

}  // namespace sra::kern
