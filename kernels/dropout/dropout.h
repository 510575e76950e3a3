// Inverted dropout with a counter-based mask. Element i draws u = uniform_open_f32(w0) from
// w = philox4x32(counter = base + i, stream, key) (core/rng.h; the same u for f32 and f64, so the mask
// does not depend on the dtype or the thread count):
//   forward   mask[i] = u ≥ p,  y[i] = mask[i] ? x[i] · scale : 0,  scale = 1 / (1 − p)
//   apply     y[i] = mask[i] ? x[i] · scale : 0  (the backward, with the saved mask: gx = apply(gy))
// T = float or double.
#pragma once
#include <cstdint>

namespace sra::kern {

template <typename T>
void dropout_cpu(T* y, uint8_t* mask, const T* x, int64_t n, double p, uint64_t base, uint64_t stream,
                 uint64_t key);
template <typename T>
void dropout_apply_cpu(T* y, const T* x, const uint8_t* mask, int64_t n, double scale);

}  // namespace sra::kern
