// RMSNorm over the last axis: x (N, C), weight (C) → y (N, C), rstd (N):
//   forward   r[n] = 1 / √(mean_c x[n, c]² + eps),  y[n, c] = x[n, c] · r[n] · w[c]
//   backward  u = gy · w;  gx[n, c] = r·u[n, c] − x[n, c] · r³ · mean_c(u[n, ·] · x[n, ·])
//             gw[c] = Σ_n gy[n, c] · x[n, c] · r[n]
// Means and sums accumulate in double. gx is parallel over rows; gw over column chunks, each summing the
// rows in order: deterministic whatever the thread count. gx or gw may be null (not computed).
// T = float or double.
#pragma once
#include <cstdint>

namespace sra::kern {

template <typename T>
void rmsnorm_cpu(T* y, T* rstd, const T* x, const T* w, int64_t n, int64_t c, double eps);
template <typename T>
void rmsnorm_backward_cpu(T* gx, T* gw, const T* gy, const T* x, const T* w, const T* rstd, int64_t n,
                          int64_t c);

}  // namespace sra::kern
