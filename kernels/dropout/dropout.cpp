// The dropout dispatchers: the one switch from a device to its kernel (contracts in dropout.h).
#include "kernels/dropout/dropout.h"

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

void dropout(Device d, const DropoutArgs& a) {
  if (a.n == 0) return;
  if (d.is_cuda()) return dropout_cuda(a, d.index);
  cpu_dtype(a.dtype, "dropout", [&](auto t) {
    using T = decltype(t);
    dropout_cpu<T>(static_cast<T*>(a.y), a.mask, static_cast<const T*>(a.x), a.n, a.p, a.base, a.stream,
                   a.key);
  });
}

void dropout_apply(Device d, const DropoutApplyArgs& a) {
  if (a.n == 0) return;
  if (d.is_cuda()) return dropout_apply_cuda(a, d.index);
  cpu_dtype(a.dtype, "dropout", [&](auto t) {
    using T = decltype(t);
    dropout_apply_cpu<T>(static_cast<T*>(a.y), static_cast<const T*>(a.x), a.mask, a.n, a.scale);
  });
}

}  // namespace sra::kern
