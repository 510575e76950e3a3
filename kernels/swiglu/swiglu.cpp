// The SwiGLU dispatchers: the one switch from a device to its kernel (contract in swiglu.h).
#include "kernels/swiglu/swiglu.h"

#include "core/check.h"
#include "kernels/common/dtype_switch.h"
#include "kernels/common/widen.h"

namespace sra::kern {

void swiglu(Device d, const SwigluArgs& a) {
  if (a.n == 0) return;
  if (d.is_cuda()) return swiglu_cuda(a, d.index);
  for_float(a.dtype, "swiglu", "cpu", [&](auto tag) { swiglu_cpu<decltype(tag)>(a); });
}

void swiglu_backward(Device d, const SwigluBackwardArgs& a) {
  if (a.n == 0) return;
  SRA_CHECK((a.ga16 == nullptr && a.gb16 == nullptr) || a.dtype == DType::f32,
            "[swiglu] bf16 gradient copies need f32, got ", dtype_name(a.dtype));
  if (d.is_cuda()) return swiglu_backward_cuda(a, d.index);
  for_float(a.dtype, "swiglu", "cpu", [&](auto tag) { swiglu_backward_cpu<decltype(tag)>(a); });
  if (a.ga16 != nullptr && a.ga != nullptr) narrow_bf16(a.ga16, static_cast<const float*>(a.ga), a.n);
  if (a.gb16 != nullptr && a.gb != nullptr) narrow_bf16(a.gb16, static_cast<const float*>(a.gb), a.n);
}

}  // namespace sra::kern
