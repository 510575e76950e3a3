// topk over the middle axis of a contiguous (outer, R, inner) view → values, indices (outer, k, inner):
// for each (o, i) the k largest x[o, ·, i] in descending order; equal values keep the lower index first;
// NaN ranks above every number (as in PyTorch). T = float or double.
// The order is strict and total (NaN, then larger values, then lower index), so the result is unique: the
// CPU (partial sort per line) and CUDA (topk_cuda.cu: one thread per line (o, i) keeps its top k sorted in
// the outputs by insertion, scanning r in order) agree bitwise. Callers use the dispatcher topk (topk.cpp).
#pragma once
#include <cstdint>

#include "core/device.h"
#include "core/dtype.h"

namespace sra::kern {

struct TopkArgs {  // pointers on the call's device; x contiguous (outer, r, inner), outputs (outer, k, inner)
  DType dtype;     // f32 | f64
  void* values;
  int64_t* indices;
  const void* x;
  int64_t outer, r, inner, k;  // 0 <= k <= r
};

void topk(Device device, const TopkArgs& args);
void topk_cuda(const TopkArgs& args, int device);

template <typename T>
void topk_cpu(T* values, int64_t* indices, const T* x, int64_t outer, int64_t r, int64_t inner, int64_t k);

}  // namespace sra::kern
