// The SwiGLU dispatchers: the one switch from a device to its kernel (contract in swiglu.h).
#include "kernels/swiglu/swiglu.h"

#include "kernels/common/dtype_switch.h"

namespace sra::kern {

void swiglu(Device d, const SwigluArgs& a) {
  if (a.n == 0) return;
  if (d.is_cuda()) return swiglu_cuda(a, d.index);
  for_float(a.dtype, "swiglu", "cpu", [&](auto tag) { swiglu_cpu<decltype(tag)>(a); });
}

void swiglu_backward(Device d, const SwigluBackwardArgs& a) {
  if (a.n == 0) return;
  if (d.is_cuda()) return swiglu_backward_cuda(a, d.index);
  for_float(a.dtype, "swiglu", "cpu", [&](auto tag) { swiglu_backward_cpu<decltype(tag)>(a); });
}

}  // namespace sra::kern
