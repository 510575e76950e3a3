// Inclusive prefix sum over the middle axis of a contiguous (outer, R, inner) view:
//   forward  y[o, r, i] = Σ_{s ≤ r} x[o, s, i]
//   reverse  y[o, r, i] = Σ_{s ≥ r} x[o, s, i]   (cumsum's backward)
// Running sums are kept in double and stored in T; the order is fixed, whatever the thread count.
#pragma once
#include <cstdint>

namespace sra::kern {

template <typename T>
void cumsum_cpu(T* y, const T* x, int64_t outer, int64_t r, int64_t inner, bool reverse);

}  // namespace sra::kern
