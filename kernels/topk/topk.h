// topk over the middle axis of a contiguous (outer, R, inner) view → values, indices (outer, k, inner):
// for each (o, i) the k largest x[o, ·, i] in descending order; equal values keep the lower index first;
// NaN ranks above every number (as in PyTorch). T = float or double.
#pragma once
#include <cstdint>

namespace sra::kern {

template <typename T>
void topk_cpu(T* values, int64_t* indices, const T* x, int64_t outer, int64_t r, int64_t inner, int64_t k);

}  // namespace sra::kern
