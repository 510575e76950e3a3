// Reductions over the middle axis of a contiguous (outer, R, inner) view:
//   sum:  out[o, i] = Σ_r x[o, r, i]                 (accumulated in double for float inputs)
//   max:  out[o, i] = max_r x[o, r, i], idx[o, i] = the first r attaining it (NaN wins)
// Summation order is fixed by (outer, R, inner) alone, never by the thread count.
#pragma once
#include <cstdint>

namespace sra::kern {

template <typename T>
void sum_cpu(T* out, const T* x, int64_t outer, int64_t r, int64_t inner);
template <typename T>
void max_cpu(T* out, int64_t* idx, const T* x, int64_t outer, int64_t r, int64_t inner);

}  // namespace sra::kern
