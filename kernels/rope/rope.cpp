// The RoPE dispatcher: the one switch from a device to its kernel (contract in rope.h).
#include "kernels/rope/rope.h"

#include "core/check.h"

namespace sra::kern {

void rope(Device d, const RopeArgs& a) {
  if (a.b * a.h * a.t * a.d == 0) return;
  if (d.is_cuda()) return rope_cuda(a, d.index);
  if (a.dtype == DType::f32) {
    return rope_cpu<float>(static_cast<float*>(a.out), static_cast<const float*>(a.x), a.pos, a.pos_per_batch,
                           a.b, a.h, a.t, a.d, a.theta, a.inverse);
  }
  SRA_CHECK(a.dtype == DType::f64, "[rope] dtype ", dtype_name(a.dtype),
            " is not supported on cpu (f32 or f64)");
  rope_cpu<double>(static_cast<double*>(a.out), static_cast<const double*>(a.x), a.pos, a.pos_per_batch, a.b,
                   a.h, a.t, a.d, a.theta, a.inverse);
}

}  // namespace sra::kern
