// The RoPE dispatcher: the one switch from a device to its kernel (contract in rope.h).
#include "kernels/rope/rope.h"

#include "kernels/common/dtype_switch.h"

namespace sra::kern {

void rope(Device d, const RopeArgs& a) {
  if (a.b * a.h * a.t * a.d == 0) return;
  if (d.is_cuda()) return rope_cuda(a, d.index);
  for_float(a.dtype, "rope", "cpu", [&](auto t) {
    using T = decltype(t);
    rope_cpu<T>(static_cast<T*>(a.out), static_cast<const T*>(a.x), a.pos, a.pos_per_batch, a.b, a.h, a.t,
                a.d, a.theta, a.inverse, a.scaling);
  });
}

}  // namespace sra::kern
