// Inclusive prefix sum over the middle axis of a contiguous (outer, R, inner) view:
//   forward  y[o, r, i] = Σ_{s ≤ r} x[o, s, i]
//   reverse  y[o, r, i] = Σ_{s ≥ r} x[o, s, i]   (cumsum's backward)
// Running sums are kept in double and stored in T; the order is fixed, whatever the thread count.
// CUDA (cumsum_cuda.cu): one thread per line (o, i) scans r in the CPU's order: bitwise equal to it.
// Callers use the dispatcher cumsum (cumsum.cpp).
#pragma once
#include <cstdint>

#include "core/device.h"
#include "core/dtype.h"

namespace sra::kern {

struct CumsumArgs {  // pointers on the call's device; x, y contiguous (outer, r, inner)
  DType dtype;       // f32 | f64
  void* y;
  const void* x;
  int64_t outer, r, inner;
  bool reverse;  // suffix sums (the backward)
};

void cumsum(Device device, const CumsumArgs& args);
void cumsum_cuda(const CumsumArgs& args, int device);

template <typename T>
void cumsum_cpu(T* y, const T* x, int64_t outer, int64_t r, int64_t inner, bool reverse);

}  // namespace sra::kern
