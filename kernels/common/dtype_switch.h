// The one dtype switch of the dispatchers (kernels/<op>/<op>.cpp) and the CUDA entries (<op>_cuda.cu, host
// code): calls f(T{}) with T the C++ type of dt, or throws "[op] dtype X is not supported on <device>".
//   for_float(dt, op, device, f)  f32 → float, f64 → double (the compute kernels)
//   for_any(dt, op, device, f)    also i32, i64, u8 (comparisons, selections)
#pragma once
#include <cstdint>

#include "core/check.h"
#include "core/dtype.h"

namespace sra::kern {

template <typename F>
auto for_float(DType dt, const char* op, const char* device, F&& f) {  // returns what f returns
  if (dt == DType::f32) return f(float{});
  SRA_CHECK(dt == DType::f64, "[", op, "] dtype ", dtype_name(dt), " is not supported on ", device,
            " (f32 or f64)");
  return f(double{});
}

template <typename F>
void for_any(DType dt, const char* op, const char* device, F&& f) {
  switch (dt) {
    case DType::f32:
      return f(float{});
    case DType::f64:
      return f(double{});
    case DType::i32:
      return f(int32_t{});
    case DType::i64:
      return f(int64_t{});
    case DType::u8:
      return f(uint8_t{});
    default:
      SRA_CHECK(false, "[", op, "] dtype ", dtype_name(dt), " is not supported on ", device);
  }
}

}  // namespace sra::kern
