// Rotary position embedding, Hugging Face Llama layout ("rotate_half"). x (B, H, T, D), D even, h = D/2,
// positions pos (T) shared by the batch or (B, T) (i64):
//   inv_freq[i] = theta^(−2i/D), angle[b, t, i] = pos[b, t] · inv_freq[i]  (i < h; double, then cos and
//   sin rounded to T)
//   out[i]     = x[i] · cos − x[i + h] · sin
//   out[i + h] = x[i + h] · cos + x[i] · sin        (= x·cos + rotate_half(x)·sin, cos/sin duplicated)
// inverse = true rotates by −angle: the backward (the rotation is orthogonal, so gx = R(−angle)·gy).
// T = float or double.
#pragma once
#include <cstdint>

namespace sra::kern {

template <typename T>
void rope_cpu(T* out, const T* x, const int64_t* pos, bool pos_per_batch, int64_t b, int64_t h, int64_t t,
              int64_t d, double theta, bool inverse);

}  // namespace sra::kern
