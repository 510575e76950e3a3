// The AdamW dispatchers: the one switch from a device to its kernel (contracts in adamw.h).
#include "kernels/adamw/adamw.h"

#include <algorithm>

#include "core/check.h"
#include "kernels/common/dtype_switch.h"

namespace sra::kern {

void adamw(Device d, const AdamWArgs& a) {
  if (d.is_cuda()) return adamw_cuda(a, d.index);
  AdamWStep st = a.step;
  if (a.scale_dev) st.grad_scale = a.scale_dev[0];  // host memory on the CPU
  for_float(a.dtype, "adamw", "cpu", [&](auto t) {
    using T = decltype(t);
    adamw_cpu<T>(static_cast<T*>(a.p), static_cast<const T*>(a.g), static_cast<T*>(a.m), static_cast<T*>(a.v),
                 a.n, st);
  });
}

void adamw_multi(Device d, const AdamWMultiArgs& a) {
  if (d.is_cuda()) return adamw_multi_cuda(a, d.index);
  for (int64_t i = 0; i < a.count; ++i) {
    const AdamWTensor& t = a.tensors[i];
    AdamWStep st = a.step;
    st.weight_decay = t.weight_decay;
    adamw(d, {a.dtype, t.p, t.g, t.m, t.v, t.n, st, a.scale_dev});
  }
}

int64_t sum_squares_multi_scratch(const SumSquaresTensor* tensors, int64_t count) {
  int64_t total = 0;
  for (int64_t i = 0; i < count; ++i)
    total += std::min<int64_t>(kSumSquaresBlocks, (tensors[i].n + 255) / 256);
  return total;
}

void sum_squares_multi(Device d, const SumSquaresMultiArgs& a) {
  if (d.is_cuda()) return sum_squares_multi_cuda(a, d.index);
  for (int64_t i = 0; i < a.count; ++i)
    sum_squares(d, {a.dtype, a.tensors[i].g, a.tensors[i].n, a.acc, nullptr});
}

void clip_scale(Device d, const ClipScaleArgs& a) {
  if (d.is_cuda()) return clip_scale_cuda(a, d.index);
  clip_norm_scale(a.sum_sq[0], a.max_norm, a.out);
}

void sum_squares(Device d, const SumSquaresArgs& a) {
  if (d.is_cuda()) return sum_squares_cuda(a, d.index);
  a.acc[0] += for_float(a.dtype, "clip_grad_norm", "cpu", [&](auto t) {
    using T = decltype(t);
    return sum_squares_cpu<T>(static_cast<const T*>(a.g), a.n);
  });
}

}  // namespace sra::kern
