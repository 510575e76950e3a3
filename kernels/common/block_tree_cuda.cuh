// Device helpers shared by the row kernels (softmax, cross_entropy, rmsnorm, router, adamw's sum of
// squares; .cu files only): T-overloaded exp and log, −∞, block-wide max / double sum over kRowThreads
// threads through a fixed-shape tree in shared memory, and a warp's double sum through a fixed shuffle
// tree (the order depends only on the block or warp size, never on timing: deterministic).
#pragma once
#include <cuda_runtime.h>

namespace sra::kern::row_tree {

constexpr int kRowThreads = 256;

__device__ inline float exp_t(float v) {
  return expf(v);
}
__device__ inline double exp_t(double v) {
  return exp(v);
}
__device__ inline float log_t(float v) {
  return logf(v);
}
__device__ inline double log_t(double v) {
  return log(v);
}
template <typename T>
__device__ inline T neg_inf() {
  return -T(INFINITY);
}

// max(a, b) as std::max(a, b) on the CPU: b wins only when a < b.
template <typename T>
__device__ inline T max_t(T a, T b) {
  return a < b ? b : a;
}

// Every thread passes its partial; every thread gets the block's max. `part` holds kRowThreads T.
template <typename T>
__device__ T block_max(T v, T* part) {
  part[threadIdx.x] = v;
  __syncthreads();
  for (int s = kRowThreads / 2; s > 0; s /= 2) {
    if (int(threadIdx.x) < s) part[threadIdx.x] = max_t(part[threadIdx.x], part[threadIdx.x + s]);
    __syncthreads();
  }
  T r = part[0];
  __syncthreads();  // part is free again
  return r;
}

// Every thread passes its partial; every thread gets the block's sum (pairwise tree, fixed shape).
__device__ inline double block_sum(double v, double* part) {
  part[threadIdx.x] = v;
  __syncthreads();
  for (int s = kRowThreads / 2; s > 0; s /= 2) {
    if (int(threadIdx.x) < s) part[threadIdx.x] += part[threadIdx.x + s];
    __syncthreads();
  }
  double r = part[0];
  __syncthreads();
  return r;
}

// One warp's 32 partials summed by a fixed shuffle-down tree (the order depends on nothing else); every
// lane gets lane 0's total. All 32 lanes must call it.
__device__ inline double warp_sum(double v) {
  for (int o = 16; o > 0; o /= 2) v += __shfl_down_sync(0xffffffffu, v, o);
  return __shfl_sync(0xffffffffu, v, 0);
}

// A row's max with −inf replaced by 0 (an all −inf row then gives NaN, 0/0, like the CPU and PyTorch).
template <typename T>
__device__ T row_max(const T* row, int64_t r, T* part) {
  T m = -T(INFINITY);
  for (int64_t k = threadIdx.x; k < r; k += kRowThreads) m = max_t(m, row[k]);
  m = block_max(m, part);
  if (isinf(m) && m < 0) m = T(0);
  return m;
}

}  // namespace sra::kern::row_tree
