// Reductions over the middle axis of a contiguous (outer, R, inner) view:
//   sum:  out[o, i] = Σ_r x[o, r, i]                 (accumulated in double for float inputs)
//   max:  out[o, i] = max_r x[o, r, i], idx[o, i] = the first r attaining it (NaN wins)
// Summation order is fixed by (outer, R, inner) alone, never by the thread count.
// CUDA sum with few outputs and a long R (a bias gradient: outer 1, R = B·T, inner = C) goes in two passes
// so that it is not one thread per output walking all of R: R cut into sum_cuda_chunks(outer, R, inner)
// fixed chunks, one thread per (chunk, o, i) summing its rows in order into a double scratch of
// sum_scratch_bytes(device, outer, R, inner) bytes (0 on the CPU or with one chunk: a tensor the caller
// allocates), then one thread per (o, i) adding the chunks in order.
// Callers use the dispatchers sum / max (reduce.cpp); reduce_cuda.cu follows the CPU reference.
#pragma once
#include <cstdint>

#include "core/device.h"
#include "core/dtype.h"

namespace sra::kern {

struct ReduceArgs {  // pointers on the call's device; x contiguous (outer, r, inner), out (outer, inner)
  DType dtype;       // f32 | f64
  void* out;
  const void* x;
  int64_t outer, r, inner;
  void* scratch = nullptr;  // sum on CUDA: sum_scratch_bytes(device, outer, r, inner) bytes
  size_t scratch_bytes = 0;
};

constexpr int64_t kSumSplitOutputs = int64_t(1) << 14;   // fewer outputs than this: R may be split
constexpr int64_t kSumTargetThreads = int64_t(1) << 18;  // (chunk, output) threads aimed at
constexpr int64_t kSumChunkRows = 32;                    // at least this many rows per chunk
constexpr int64_t kSumMaxChunks = 1024;
int64_t sum_cuda_chunks(int64_t outer, int64_t r, int64_t inner);  // 1: one pass
size_t sum_scratch_bytes(Device device, int64_t outer, int64_t r, int64_t inner);

void sum(Device device, const ReduceArgs& args);                // r == 0 writes zeros
void max(Device device, const ReduceArgs& args, int64_t* idx);  // r >= 1

void sum_cuda(const ReduceArgs& args, int device);
void max_cuda(const ReduceArgs& args, int64_t* idx, int device);

template <typename T>
void sum_cpu(T* out, const T* x, int64_t outer, int64_t r, int64_t inner);
template <typename T>
void max_cpu(T* out, int64_t* idx, const T* x, int64_t outer, int64_t r, int64_t inner);

}  // namespace sra::kern
