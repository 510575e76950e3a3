// The RoPE dispatcher: the one switch from a device to its kernel (contract in rope.h).
#include "kernels/rope/rope.h"

#include "kernels/common/dtype_switch.h"
#include "kernels/common/widen.h"

namespace sra::kern {

void rope(Device d, const RopeArgs& a) {
  if (a.b * a.h * a.t * a.d == 0) return;
  SRA_CHECK(a.out16 == nullptr || a.dtype == DType::f32, "[rope] a bf16 copy needs f32, got ",
            dtype_name(a.dtype));
  if (d.is_cuda()) return rope_cuda(a, d.index);
  for_float(a.dtype, "rope", "cpu", [&](auto t) { rope_cpu<decltype(t)>(a); });
  if (a.out16 != nullptr) narrow_bf16(a.out16, static_cast<const float*>(a.out), a.b * a.h * a.t * a.d);
}

}  // namespace sra::kern
