// The RMSNorm dispatchers: the one switch from a device to its kernel (contracts in rmsnorm.h).
#include "kernels/rmsnorm/rmsnorm.h"

#include <algorithm>

#include "core/check.h"
#include "kernels/common/dtype_switch.h"
#include "kernels/common/widen.h"
#include "kernels/common/zero_bytes.h"

namespace sra::kern {

void rmsnorm(Device d, const RmsnormArgs& a) {
  if (a.n == 0 || a.c == 0) return;
  if (d.is_cuda()) return rmsnorm_cuda(a, d.index);
  SRA_ASSERT((a.residual == nullptr) == (a.sum == nullptr), "rmsnorm residual without sum");
  for_float(a.dtype, "rmsnorm", "cpu", [&](auto t) {
    using T = decltype(t);
    const T* x = static_cast<const T*>(a.x);
    if (a.residual != nullptr) {  // s = x + residual first
      T* s = static_cast<T*>(a.sum);
      const T* r = static_cast<const T*>(a.residual);
      for (int64_t i = 0; i < a.n * a.c; ++i) s[i] = x[i] + r[i];
      x = s;
    }
    rmsnorm_cpu<T>(static_cast<T*>(a.y), static_cast<T*>(a.rstd), x, static_cast<const T*>(a.w), a.n, a.c,
                   a.eps);
  });
  if (a.y16 != nullptr) {
    SRA_CHECK(a.dtype == DType::f32, "[rmsnorm] a bf16 copy needs f32, got ", dtype_name(a.dtype));
    narrow_bf16(a.y16, static_cast<const float*>(a.y), a.n * a.c);
  }
}

void rmsnorm_backward(Device d, const RmsnormBackwardArgs& a) {
  if (a.n == 0) {  // no rows: gx is empty, gw = 0
    if (a.gw != nullptr) zero_bytes(d, a.gw, size_t(a.c) * dtype_size(a.dtype));
    return;
  }
  SRA_CHECK(a.gx16 == nullptr || a.dtype == DType::f32, "[rmsnorm] a bf16 gradient copy needs f32, got ",
            dtype_name(a.dtype));
  if (d.is_cuda()) return rmsnorm_backward_cuda(a, d.index);
  for_float(a.dtype, "rmsnorm", "cpu", [&](auto t) {
    using T = decltype(t);
    rmsnorm_backward_cpu<T>(static_cast<T*>(a.gx), static_cast<T*>(a.gw), static_cast<const T*>(a.gy),
                            static_cast<const T*>(a.x), static_cast<const T*>(a.w),
                            static_cast<const T*>(a.rstd), a.n, a.c);
    if (a.gsum != nullptr && a.gx != nullptr) {  // gx = gsum + gx, the tape's order
      T* gx = static_cast<T*>(a.gx);
      const T* gs = static_cast<const T*>(a.gsum);
      for (int64_t i = 0; i < a.n * a.c; ++i) gx[i] = gs[i] + gx[i];
    }
  });
  if (a.gx16 != nullptr && a.gx != nullptr) narrow_bf16(a.gx16, static_cast<const float*>(a.gx), a.n * a.c);
}

size_t rmsnorm_backward_scratch_bytes(Device d, int64_t n, int64_t c) {
  if (!d.is_cuda()) return 0;
  return size_t(std::min(n, kRmsnormGwChunks) * c) * sizeof(double);
}

}  // namespace sra::kern
