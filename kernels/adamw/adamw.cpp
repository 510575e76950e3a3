// The AdamW dispatchers: the one switch from a device to its kernel (contracts in adamw.h).
#include "kernels/adamw/adamw.h"

#include "core/check.h"

namespace sra::kern {

namespace {
template <typename F>
auto cpu_dtype(DType dt, const char* op, F&& f) {
  if (dt == DType::f32) return f(float{});
  SRA_CHECK(dt == DType::f64, "[", op, "] dtype ", dtype_name(dt), " is not supported on cpu (f32 or f64)");
  return f(double{});
}
}  // namespace

void adamw(Device d, const AdamWArgs& a) {
  if (d.is_cuda()) return adamw_cuda(a, d.index);
  cpu_dtype(a.dtype, "adamw", [&](auto t) {
    using T = decltype(t);
    adamw_cpu<T>(static_cast<T*>(a.p), static_cast<const T*>(a.g), static_cast<T*>(a.m), static_cast<T*>(a.v),
                 a.n, a.step);
  });
}

void sum_squares(Device d, const SumSquaresArgs& a) {
  if (d.is_cuda()) return sum_squares_cuda(a, d.index);
  a.acc[0] += cpu_dtype(a.dtype, "clip_grad_norm", [&](auto t) {
    using T = decltype(t);
    return sum_squares_cpu<T>(static_cast<const T*>(a.g), a.n);
  });
}

}  // namespace sra::kern
