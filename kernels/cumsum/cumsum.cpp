// The cumsum dispatcher: the one switch from a device to its kernel (contract in cumsum.h).
#include "kernels/cumsum/cumsum.h"

#include "core/check.h"

namespace sra::kern {

namespace {
template <typename F>
void cpu_dtype(DType dt, const char* op, F&& f) {
  if (dt == DType::f32) return f(float{});
  SRA_CHECK(dt == DType::f64, "[", op, "] dtype ", dtype_name(dt), " is not supported on cpu (f32 or f64)");
  f(double{});
}
}  // namespace

void cumsum(Device d, const CumsumArgs& a) {
  if (a.outer * a.r * a.inner == 0) return;
  if (d.is_cuda()) return cumsum_cuda(a, d.index);
  cpu_dtype(a.dtype, "cumsum", [&](auto t) {
    using T = decltype(t);
    cumsum_cpu<T>(static_cast<T*>(a.y), static_cast<const T*>(a.x), a.outer, a.r, a.inner, a.reverse);
  });
}

}  // namespace sra::kern
