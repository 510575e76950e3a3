// Counter-based noise (Philox4x32-10, core/rng.h). Element i of a draw uses the block
// w = philox4x32(counter = base + i, stream, key) and nothing else, so values never depend on the thread
// count and a CUDA kernel reproduces them. With u(w) = uniform_open_f32(w0) for f32 and
// uniform_open_f64(w0, w1) for f64 (both in (0, 1)):
//   uniform   y = u(w)
//   normal    y = √(−2 ln u1) · cos(2π u2)  (Box–Muller; u1 = u(w), u2 from the block's other words:
//             uniform_open_f32(w1) for f32, uniform_open_f64(w2, w3) for f64)
//   gumbel    y = −ln(−ln u)
//   logistic  y = ln u − ln(1 − u)
// The transforms are evaluated in double and rounded to T once.
#pragma once
#include <cstdint>

namespace sra::kern {

enum class Noise { uniform, normal, gumbel, logistic };

template <typename T>
void random_cpu(Noise kind, T* out, int64_t n, uint64_t base, uint64_t stream, uint64_t key);

}  // namespace sra::kern
