// AdamW and the squared-gradient sum on CUDA (math and order in adamw.h; adamw_cpu.cpp is the oracle).
//   adamw: one thread per element (grid-stride), the CPU's constants (computed here on the host, the same
//          formulas) and the CPU's update in T.
//   sum_squares: blocks = min(kSumSquaresBlocks, ⌈n / 256⌉); block b sums elements b·256 + tid + k·blocks·256
//          in double, a fixed tree gives scratch[b]; one block then sums scratch in a fixed tree and adds
//          the total to acc[0]. Deterministic: the order depends on n alone; no atomics.
//   clip_scale: one thread evaluates clip_norm_scale (adamw.h), the CPU's expression.
#include <algorithm>
#include <cmath>

#include "core/cuda_launch.h"
#include "kernels/adamw/adamw.h"
#include "kernels/common/block_tree_cuda.cuh"
#include "kernels/common/dtype_switch.h"

namespace sra::kern {

namespace {

constexpr int kBlock = row_tree::kRowThreads;  // block_sum's tree (kernels/common/block_tree_cuda.cuh)
static_assert(kSumSquaresBlocks <= kBlock, "the final pass reads one partial per thread");

// Round-to-nearest arithmetic that nvcc never contracts into an FMA: the update below is then the CPU's
// expression rounded step by step (adamw_cpu.cpp, built with -ffp-contract=off), and the per-tensor and
// multi-tensor kernels give the same bits whatever the compiler schedules (with plain `*` and `+`, nvcc
// contracted p * decay - u into an FMA in one kernel and not in the other: the multi-tensor update
// differed in the last bit wherever weight decay was on).
__device__ inline float mul_rn(float a, float b) {
  return __fmul_rn(a, b);
}
__device__ inline double mul_rn(double a, double b) {
  return __dmul_rn(a, b);
}
__device__ inline float add_rn(float a, float b) {
  return __fadd_rn(a, b);
}
__device__ inline double add_rn(double a, double b) {
  return __dadd_rn(a, b);
}
__device__ inline float sub_rn(float a, float b) {
  return __fsub_rn(a, b);
}
__device__ inline double sub_rn(double a, double b) {
  return __dsub_rn(a, b);
}
__device__ inline float div_rn(float a, float b) {
  return __fdiv_rn(a, b);
}
__device__ inline double div_rn(double a, double b) {
  return __ddiv_rn(a, b);
}
__device__ inline float sqrt_rn(float a) {
  return __fsqrt_rn(a);
}
__device__ inline double sqrt_rn(double a) {
  return __dsqrt_rn(a);
}

// One element: g' = g·gs; m = b1·m + (1 − b1)·g'; v = b2·v + (1 − b2)·g'·g';
// p = p·decay − step·m / (√v · inv_sqrt_bc2 + eps), left to right as on the CPU.
template <typename T>
__device__ inline void adamw_element(T& p, T g, T& m, T& v, T b1, T b2, T decay, T step, T inv_sqrt_bc2,
                                     T eps, T gs) {
  const T gi = mul_rn(g, gs);
  const T mi = add_rn(mul_rn(b1, m), mul_rn(sub_rn(T(1), b1), gi));
  const T vi = add_rn(mul_rn(b2, v), mul_rn(mul_rn(sub_rn(T(1), b2), gi), gi));
  m = mi;
  v = vi;
  const T denom = add_rn(mul_rn(sqrt_rn(vi), inv_sqrt_bc2), eps);
  p = sub_rn(mul_rn(p, decay), div_rn(mul_rn(step, mi), denom));
}

template <typename T>
__global__ void adamw_kernel(T* p, const T* g, T* m, T* v, int64_t n, T b1, T b2, T decay, T step,
                             T inv_sqrt_bc2, T eps, T gs_host, const double* gs_dev) {
  const T gs = gs_dev ? T(gs_dev[0]) : gs_host;  // the CPU's T(grad_scale)
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    adamw_element(p[i], g[i], m[i], v[i], b1, b2, decay, step, inv_sqrt_bc2, eps, gs);
  }
}

// Up to kAdamWMultiTensors tensors by value; block b updates chunk b − first[i] of tensor i, where
// first[i] <= b < first[i + 1] (kAdamWMultiChunk elements per chunk).
template <typename T>
struct MultiTable {
  T* p[kAdamWMultiTensors];
  const T* g[kAdamWMultiTensors];
  T* m[kAdamWMultiTensors];
  T* v[kAdamWMultiTensors];
  int64_t n[kAdamWMultiTensors];
  T decay[kAdamWMultiTensors];
  int32_t first[kAdamWMultiTensors + 1];
  int count;
};

template <typename T>
__global__ void adamw_multi_kernel(const MultiTable<T> tab, T b1, T b2, T step, T inv_sqrt_bc2, T eps,
                                   T gs_host, const double* gs_dev) {
  const T gs = gs_dev ? T(gs_dev[0]) : gs_host;
  const int b = int(blockIdx.x);
  int i = 0;
  while (i + 1 < tab.count && tab.first[i + 1] <= b) ++i;
  T* p = tab.p[i];
  const T* g = tab.g[i];
  T* m = tab.m[i];
  T* v = tab.v[i];
  const T decay = tab.decay[i];
  const int64_t begin = int64_t(b - tab.first[i]) * kAdamWMultiChunk;
  const int64_t end = begin + kAdamWMultiChunk < tab.n[i] ? begin + kAdamWMultiChunk : tab.n[i];
  for (int64_t j = begin + threadIdx.x; j < end; j += blockDim.x)
    adamw_element(p[j], g[j], m[j], v[j], b1, b2, decay, step, inv_sqrt_bc2, eps, gs);
}

template <typename T>
__global__ void sum_squares_partial_kernel(double* scratch, const T* g, int64_t n) {
  __shared__ double part[kBlock];
  double acc = 0;
  for (int64_t i = int64_t(blockIdx.x) * kBlock + threadIdx.x; i < n; i += int64_t(gridDim.x) * kBlock)
    acc += double(g[i]) * double(g[i]);
  double total = row_tree::block_sum(acc, part);
  if (threadIdx.x == 0) scratch[blockIdx.x] = total;
}

// Up to kAdamWMultiTensors tensors of sum_squares_multi: tensor i owns blocks [first[i], first[i + 1]) of
// the launch, blocks[i] = what sum_squares would launch for it.
struct SquaresTable {
  const void* g[kAdamWMultiTensors];
  int64_t n[kAdamWMultiTensors];
  int32_t blocks[kAdamWMultiTensors];
  int32_t first[kAdamWMultiTensors + 1];
  int count;
};

// sum_squares_partial_kernel's sums for block j of tensor i (its grid of blocks[i] blocks): the same bits.
template <typename T>
__global__ void sum_squares_multi_partial_kernel(double* scratch, const SquaresTable tab) {
  __shared__ double part[kBlock];
  const int b = int(blockIdx.x);
  int i = 0;
  while (i + 1 < tab.count && tab.first[i + 1] <= b) ++i;
  const T* g = static_cast<const T*>(tab.g[i]);
  const int64_t n = tab.n[i], stride = int64_t(tab.blocks[i]) * kBlock;
  double acc = 0;
  for (int64_t e = int64_t(b - tab.first[i]) * kBlock + threadIdx.x; e < n; e += stride)
    acc += double(g[e]) * double(g[e]);
  double total = row_tree::block_sum(acc, part);
  if (threadIdx.x == 0) scratch[b] = total;
}

// sum_squares_final_kernel for each tensor of the table in order: acc[0] += its tree of partials.
__global__ void sum_squares_multi_final_kernel(double* acc, const double* scratch, const SquaresTable tab) {
  __shared__ double part[kBlock];
  for (int i = 0; i < tab.count; ++i) {
    const double* sc = scratch + tab.first[i];
    double total = row_tree::block_sum(int(threadIdx.x) < tab.blocks[i] ? sc[threadIdx.x] : 0.0, part);
    if (threadIdx.x == 0) acc[0] += total;
  }
}

__global__ void clip_scale_kernel(const double* sum_sq, double max_norm, double* out) {
  clip_norm_scale(sum_sq[0], max_norm, out);
}

__global__ void sum_squares_final_kernel(double* acc, const double* scratch, int blocks) {
  __shared__ double part[kBlock];
  double total = row_tree::block_sum(int(threadIdx.x) < blocks ? scratch[threadIdx.x] : 0.0, part);
  if (threadIdx.x == 0) acc[0] += total;
}

}  // namespace

void adamw_cuda(const AdamWArgs& a, int device) {
  if (a.n == 0) return;
  cuda::DeviceGuard guard(device);
  const AdamWStep& s = a.step;
  const double bc1 = 1.0 - std::pow(s.beta1, double(s.t));
  const double bc2 = 1.0 - std::pow(s.beta2, double(s.t));
  for_float(a.dtype, "adamw", "CUDA", [&](auto tag) {
    using T = decltype(tag);
    adamw_kernel<T><<<cuda::grid_for(a.n), cuda::kThreads, 0, cuda::stream(device)>>>(
        static_cast<T*>(a.p), static_cast<const T*>(a.g), static_cast<T*>(a.m), static_cast<T*>(a.v), a.n,
        T(s.beta1), T(s.beta2), T(1.0 - s.lr * s.weight_decay), T(s.lr / bc1), T(1.0 / std::sqrt(bc2)),
        T(s.eps), T(s.grad_scale), a.scale_dev);
  });
  cuda::check_launch("adamw", device);
}

void adamw_multi_cuda(const AdamWMultiArgs& a, int device) {
  cuda::DeviceGuard guard(device);
  const AdamWStep& s = a.step;
  const double bc1 = 1.0 - std::pow(s.beta1, double(s.t));
  const double bc2 = 1.0 - std::pow(s.beta2, double(s.t));
  for_float(a.dtype, "adamw", "CUDA", [&](auto tag) {
    using T = decltype(tag);
    int64_t i = 0;
    while (i < a.count) {  // one launch per table of up to kAdamWMultiTensors non-empty tensors
      MultiTable<T> tab{};
      int64_t blocks = 0;
      for (; i < a.count && tab.count < kAdamWMultiTensors; ++i) {
        const AdamWTensor& t = a.tensors[i];
        if (t.n == 0) continue;
        const int64_t chunks = (t.n + kAdamWMultiChunk - 1) / kAdamWMultiChunk;
        if (tab.count > 0 && blocks + chunks > int64_t(INT32_MAX)) break;
        const int k = tab.count++;
        tab.p[k] = static_cast<T*>(t.p), tab.g[k] = static_cast<const T*>(t.g);
        tab.m[k] = static_cast<T*>(t.m), tab.v[k] = static_cast<T*>(t.v);
        tab.n[k] = t.n;
        tab.decay[k] = T(1.0 - s.lr * t.weight_decay);
        tab.first[k] = int32_t(blocks);
        blocks += chunks;
      }
      if (tab.count == 0) continue;
      SRA_CHECK(blocks <= int64_t(INT32_MAX), "[adamw] a tensor of ", blocks, " chunks is too large");
      tab.first[tab.count] = int32_t(blocks);
      adamw_multi_kernel<T><<<unsigned(blocks), cuda::kThreads, 0, cuda::stream(device)>>>(
          tab, T(s.beta1), T(s.beta2), T(s.lr / bc1), T(1.0 / std::sqrt(bc2)), T(s.eps), T(s.grad_scale),
          a.scale_dev);
      cuda::check_launch("adamw", device);
    }
  });
}

void sum_squares_multi_cuda(const SumSquaresMultiArgs& a, int device) {
  static_assert(kBlock == 256, "sum_squares_multi_scratch (adamw.cpp) counts blocks of 256");
  SRA_CHECK(a.acc != nullptr && a.scratch != nullptr, "[clip_grad_norm] sum_squares needs acc and scratch");
  cuda::DeviceGuard guard(device);
  cudaStream_t stream = cuda::stream(device);
  for_float(a.dtype, "clip_grad_norm", "CUDA", [&](auto tag) {
    using T = decltype(tag);
    int64_t i = 0, offset = 0;
    while (i < a.count) {  // one partial and one final launch per table of non-empty tensors
      SquaresTable tab{};
      int32_t blocks = 0;
      for (; i < a.count && tab.count < kAdamWMultiTensors; ++i) {
        const SumSquaresTensor& t = a.tensors[i];
        if (t.n == 0) continue;
        const int k = tab.count++;
        tab.g[k] = t.g, tab.n[k] = t.n;
        tab.blocks[k] = int32_t(std::min<int64_t>(kSumSquaresBlocks, (t.n + kBlock - 1) / kBlock));
        tab.first[k] = blocks;
        blocks += tab.blocks[k];
      }
      if (tab.count == 0) continue;
      tab.first[tab.count] = blocks;
      sum_squares_multi_partial_kernel<T><<<unsigned(blocks), kBlock, 0, stream>>>(a.scratch + offset, tab);
      cuda::check_launch("clip_grad_norm", device);
      sum_squares_multi_final_kernel<<<1, kBlock, 0, stream>>>(a.acc, a.scratch + offset, tab);
      cuda::check_launch("clip_grad_norm", device);
      offset += blocks;
    }
  });
}

void clip_scale_cuda(const ClipScaleArgs& a, int device) {
  cuda::DeviceGuard guard(device);
  clip_scale_kernel<<<1, 1, 0, cuda::stream(device)>>>(a.sum_sq, a.max_norm, a.out);
  cuda::check_launch("clip_grad_norm", device);
}

void sum_squares_cuda(const SumSquaresArgs& a, int device) {
  if (a.n == 0) return;
  SRA_CHECK(a.acc != nullptr && a.scratch != nullptr, "[clip_grad_norm] sum_squares needs acc and scratch");
  cuda::DeviceGuard guard(device);
  int64_t want = (a.n + kBlock - 1) / kBlock;
  int blocks = int(want < kSumSquaresBlocks ? want : kSumSquaresBlocks);
  for_float(a.dtype, "clip_grad_norm", "CUDA", [&](auto tag) {
    using T = decltype(tag);
    sum_squares_partial_kernel<T>
        <<<blocks, kBlock, 0, cuda::stream(device)>>>(a.scratch, static_cast<const T*>(a.g), a.n);
  });
  cuda::check_launch("clip_grad_norm", device);
  sum_squares_final_kernel<<<1, kBlock, 0, cuda::stream(device)>>>(a.acc, a.scratch, blocks);
  cuda::check_launch("clip_grad_norm", device);
}

}  // namespace sra::kern
