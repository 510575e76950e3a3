// Reductions over the middle axis of a contiguous (outer, R, inner) view:
//   sum:  out[o, i] = Σ_r x[o, r, i]                 (accumulated in double for float inputs)
//   max:  out[o, i] = max_r x[o, r, i], idx[o, i] = the first r attaining it (NaN wins)
// Summation order is fixed by (outer, R, inner) alone, never by the thread count.
// Callers use the dispatchers sum / max (reduce.cpp); reduce_cuda.cu follows the CPU reference.
#pragma once
#include <cstdint>

#include "core/device.h"
#include "core/dtype.h"

namespace sra::kern {

struct ReduceArgs {  // pointers on the call's device; x contiguous (outer, r, inner), out (outer, inner)
  DType dtype;       // f32 | f64
  void* out;
  const void* x;
  int64_t outer, r, inner;
};

void sum(Device device, const ReduceArgs& args);                // r == 0 writes zeros
void max(Device device, const ReduceArgs& args, int64_t* idx);  // r >= 1

void sum_cuda(const ReduceArgs& args, int device);
void max_cuda(const ReduceArgs& args, int64_t* idx, int device);

template <typename T>
void sum_cpu(T* out, const T* x, int64_t outer, int64_t r, int64_t inner);
template <typename T>
void max_cpu(T* out, int64_t* idx, const T* x, int64_t outer, int64_t r, int64_t inner);

}  // namespace sra::kern
