// The softmax dispatchers: the one switch from a device to its kernel (contracts in softmax.h).
#include "kernels/softmax/softmax.h"

#include "core/check.h"
#include "kernels/common/dtype_switch.h"

namespace sra::kern {

void softmax(Device d, const SoftmaxArgs& a) {
  if (a.outer * a.r * a.inner == 0) return;
  if (d.is_cuda()) return softmax_cuda(a, d.index);
  for_float(a.dtype, "softmax", "cpu", [&](auto t) {
    using T = decltype(t);
    softmax_cpu<T>(static_cast<T*>(a.y), static_cast<const T*>(a.x), a.outer, a.r, a.inner, a.log);
  });
}

void softmax_backward(Device d, const SoftmaxBackwardArgs& a) {
  if (a.outer * a.r * a.inner == 0) return;
  if (d.is_cuda()) return softmax_backward_cuda(a, d.index);
  for_float(a.dtype, "softmax", "cpu", [&](auto t) {
    using T = decltype(t);
    softmax_backward_cpu<T>(static_cast<T*>(a.gx), static_cast<const T*>(a.gy), static_cast<const T*>(a.y),
                            a.outer, a.r, a.inner, a.log);
  });
}

}  // namespace sra::kern
