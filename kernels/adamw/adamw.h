// AdamW update (Loshchilov & Hutter, decoupled weight decay), one parameter tensor of n elements:
//   m = β1·m + (1−β1)·g;  v = β2·v + (1−β2)·g²
//   p = p − lr·wd·p − lr · (m / (1−β1^t)) / (√(v / (1−β2^t)) + eps)
// g is scaled by grad_scale first (global-norm clipping). p, g, m, v: contiguous, n elements. The bias
// corrections and step constants are computed on the host in double and rounded to T, on both devices;
// the update is elementwise in T (one thread per element on CUDA, adamw_cuda.cu).
// sum_squares: acc[0] += Σ g² over n elements, in double, in a fixed order: on the CPU two interleaved
// sequential sums; on CUDA min(kSumSquaresBlocks, ⌈n / 256⌉) blocks (set by n alone) each sum a fixed
// grid stride into scratch[block] through a fixed-shape tree, then one block adds scratch[0 ...) in a
// fixed tree and adds the total to acc[0] (sequential launches on one stream: the tensors' totals join
// acc in call order). acc is on the call's device (a host double on the CPU, a one-element f64 tensor's
// data on CUDA); scratch: kSumSquaresBlocks doubles on CUDA (unused on the CPU).
// Callers use the dispatchers adamw / sum_squares (adamw.cpp). T = float or double.
#pragma once
#include <cstdint>

#include "core/device.h"
#include "core/dtype.h"

namespace sra::kern {

struct AdamWStep {
  double lr, beta1, beta2, eps, weight_decay, grad_scale;
  int64_t t;  // 1-based step count, for bias correction
};

constexpr int64_t kSumSquaresBlocks = 256;

struct AdamWArgs {  // pointers on the call's device
  DType dtype;      // f32 | f64
  void* p;
  const void* g;
  void* m;
  void* v;
  int64_t n;
  AdamWStep step;
};
struct SumSquaresArgs {
  DType dtype;
  const void* g;
  int64_t n;
  double* acc;      // acc[0] += Σ g²
  double* scratch;  // CUDA: kSumSquaresBlocks doubles; CPU: unused
};

void adamw(Device device, const AdamWArgs& args);
void sum_squares(Device device, const SumSquaresArgs& args);
void adamw_cuda(const AdamWArgs& args, int device);
void sum_squares_cuda(const SumSquaresArgs& args, int device);

template <typename T>
void adamw_cpu(T* p, const T* g, T* m, T* v, int64_t n, const AdamWStep& s);
// Σ g² over n elements, in double, fixed order.
template <typename T>
double sum_squares_cpu(const T* g, int64_t n);

}  // namespace sra::kern
