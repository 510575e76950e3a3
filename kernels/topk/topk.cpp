// The topk dispatcher: the one switch from a device to its kernel (contract in topk.h).
#include "kernels/topk/topk.h"

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

void topk(Device d, const TopkArgs& a) {
  if (a.outer * a.k * a.inner == 0) return;
  if (d.is_cuda()) return topk_cuda(a, d.index);
  cpu_dtype(a.dtype, "topk", [&](auto t) {
    using T = decltype(t);
    topk_cpu<T>(static_cast<T*>(a.values), a.indices, static_cast<const T*>(a.x), a.outer, a.r, a.inner, a.k);
  });
}

}  // namespace sra::kern
