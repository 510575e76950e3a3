// RMSNorm over the last axis: x (N, C), weight (C) → y (N, C), rstd (N):
//   forward   r[n] = 1 / √(mean_c x[n, c]² + eps),  y[n, c] = x[n, c] · r[n] · w[c]
//   backward  u = gy · w;  gx[n, c] = r·u[n, c] − x[n, c] · r³ · mean_c(u[n, ·] · x[n, ·])
//             gw[c] = Σ_n gy[n, c] · x[n, c] · r[n]
// Means and sums accumulate in double. gx or gw may be null (not computed). Deterministic on both devices:
//   CPU: gx parallel over rows; gw over column chunks, each summing the rows in order.
//   CUDA (rmsnorm_cuda.cu): one warp (C <= 4096) or one block per row for r and gx (the row's sum in a
//   fixed-shape tree); gw in
//   two passes: rows split into at most kRmsnormGwChunks fixed chunks (set by N alone), one thread per
//   (chunk, c) summing its rows in order into a double scratch, then one thread per c adding the chunks in
//   order. The scratch, rmsnorm_backward_scratch_bytes(device, N, C) bytes (0 on the CPU), is a tensor the
//   op allocates. CUDA sums in another order than the CPU: equal up to rounding.
// residual / sum, gsum (optional): the residual add in front of the norm and its gradient, fused (CUDA in
// the row kernels; the CPU adds before / after its kernels: the same values).
// y16 (optional, f32): the CUDA kernel writes y's bf16 copy beside y; the CPU rounds y after the kernel.
// Callers use the dispatchers rmsnorm / rmsnorm_backward (rmsnorm.cpp). T = float or double.
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/device.h"
#include "core/dtype.h"

namespace sra::kern {

constexpr int64_t kRmsnormGwChunks = 128;

struct RmsnormArgs {  // contiguous, on the call's device
  DType dtype;        // f32 | f64
  void* y;            // (n, c)
  void* rstd;         // (n)
  const void* x;      // (n, c)
  const void* w;      // (c)
  int64_t n, c;
  double eps;
  void* y16 = nullptr;  // f32 only: also y rounded to bf16 (n, c), for the bf16 GEMMs that read y (autocast)
  // Residual add fused in front (add_rmsnorm): the row normalised is s = x + residual (rounded to T, as
  // add's), written to sum; x stays unread otherwise. Both set or both null.
  const void* residual = nullptr;
  void* sum = nullptr;
};
struct RmsnormBackwardArgs {
  DType dtype;
  void* gx;  // (n, c) or null
  void* gw;  // (c) or null; zeros when n == 0
  const void* gy;
  const void* x;
  const void* w;
  const void* rstd;
  int64_t n, c;
  void* scratch;  // CUDA with gw: rmsnorm_backward_scratch_bytes(device, n, c) bytes; CPU: unused
  size_t scratch_bytes;
  // add_rmsnorm's backward: the gradient reaching the sum from elsewhere (n, c), added first:
  // gx = gsum + (the rmsnorm gradient), the order of the tape's accumulation. Null: plain rmsnorm.
  const void* gsum = nullptr;
  void* gx16 = nullptr;  // f32 only: gx rounded to bf16 (a GEMM's operand under autocast), or null
};

void rmsnorm(Device device, const RmsnormArgs& args);
void rmsnorm_backward(Device device, const RmsnormBackwardArgs& args);
size_t rmsnorm_backward_scratch_bytes(Device device, int64_t n, int64_t c);

void rmsnorm_cuda(const RmsnormArgs& args, int device);
void rmsnorm_backward_cuda(const RmsnormBackwardArgs& args, int device);

template <typename T>
void rmsnorm_cpu(T* y, T* rstd, const T* x, const T* w, int64_t n, int64_t c, double eps);
template <typename T>
void rmsnorm_backward_cpu(T* gx, T* gw, const T* gy, const T* x, const T* w, const T* rstd, int64_t n,
                          int64_t c);

}  // namespace sra::kern
