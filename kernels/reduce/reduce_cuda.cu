// Reductions on CUDA over the middle axis of a contiguous (outer, R, inner) view (math in reduce.h; the
// CPU kernel reduce_cpu.cpp is the oracle).
//   sum: float inputs accumulate in double, as on the CPU. inner == 1: one block per row, each thread
//        sums a fixed stride of r, then a fixed-shape tree in shared memory (deterministic: the order
//        depends only on R and the block size). inner > 1: one thread per (o, i) output, r in order.
//        Few outputs and a long R (sum_cuda_chunks > 1): two passes over fixed chunks of R (reduce.h).
//   max: the first index attaining the max wins, NaN wins (the first NaN). inner == 1: one block per row,
//        each thread scans a fixed stride of r, then a tree in shared memory over (value, index) pairs
//        ordered NaN first, then by value, then by the smaller index: the sequential answer whatever the
//        order. inner > 1: one thread per (o, i), r in order.
#include "core/cuda_launch.h"
#include "kernels/common/chunk_sum_cuda.cuh"
#include "kernels/common/dtype_switch.h"
#include "kernels/reduce/reduce.h"

namespace sra::kern {

namespace {

constexpr int kRowThreads = 256;

template <typename T>
__global__ void sum_rows_kernel(T* out, const T* x, int64_t r) {  // inner == 1; grid = outer
  __shared__ double part[kRowThreads];
  const T* row = x + int64_t(blockIdx.x) * r;
  double acc = 0;
  for (int64_t k = threadIdx.x; k < r; k += kRowThreads) acc += double(row[k]);
  part[threadIdx.x] = acc;
  __syncthreads();
  for (int s = kRowThreads / 2; s > 0; s /= 2) {
    if (int(threadIdx.x) < s) part[threadIdx.x] += part[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0) out[blockIdx.x] = T(part[0]);
}

template <typename T>
__global__ void sum_inner_kernel(T* out, const T* x, int64_t outer, int64_t r, int64_t inner) {
  for (int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; j < outer * inner;
       j += int64_t(gridDim.x) * blockDim.x) {
    int64_t o = j / inner, i = j % inner;
    const T* p = x + o * r * inner + i;
    double acc = 0;
    for (int64_t k = 0; k < r; ++k) acc += double(p[k * inner]);
    out[j] = T(acc);
  }
}

// scratch[p, o, i] = Σ_{r of chunk p, in order} x[o, r, i]; chunk p holds [p·per, min(R, (p + 1)·per)).
template <typename T>
__global__ void sum_chunk_kernel(double* scratch, const T* x, int64_t outer, int64_t r, int64_t inner,
                                 int64_t chunks, int64_t per) {
  const int64_t n_out = outer * inner;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < chunks * n_out;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t p = e / n_out, j = e % n_out, o = j / inner, i = j % inner;
    const int64_t r0 = p * per, r1 = r0 + per < r ? r0 + per : r;
    const T* q = x + o * r * inner + i;
    double acc = 0;
    for (int64_t k = r0; k < r1; ++k) acc += double(q[k * inner]);
    scratch[e] = acc;
  }
}

// Whether (va, ia) comes before (vb, ib): NaN first (the smaller index among NaNs), then the larger value,
// then the smaller index.
template <typename T>
__device__ bool max_before(T va, int64_t ia, T vb, int64_t ib) {
  const bool na = va != va, nb = vb != vb;
  if (na || nb) return na && (!nb || ia < ib);
  return va > vb || (va == vb && ia < ib);
}

template <typename T>
__global__ void max_rows_kernel(T* out, int64_t* idx, const T* x, int64_t r) {  // inner == 1; grid = outer
  __shared__ T best_v[kRowThreads];
  __shared__ int64_t best_i[kRowThreads];
  const T* row = x + int64_t(blockIdx.x) * r;
  T best = T(0);
  int64_t arg = -1;  // none yet (a thread past r)
  for (int64_t k = threadIdx.x; k < r; k += kRowThreads) {
    const T v = row[k];
    if (arg < 0 || max_before(v, k, best, arg)) best = v, arg = k;
    if (best != best) break;  // a NaN: this thread's later indexes cannot come before it
  }
  best_v[threadIdx.x] = best;
  best_i[threadIdx.x] = arg;
  __syncthreads();
  for (int s = kRowThreads / 2; s > 0; s /= 2) {
    if (int(threadIdx.x) < s) {
      const int o = int(threadIdx.x) + s;
      const bool take =
          best_i[o] >= 0 && (best_i[threadIdx.x] < 0 ||
                             max_before(best_v[o], best_i[o], best_v[threadIdx.x], best_i[threadIdx.x]));
      if (take) best_v[threadIdx.x] = best_v[o], best_i[threadIdx.x] = best_i[o];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    out[blockIdx.x] = best_v[0];
    idx[blockIdx.x] = best_i[0];
  }
}

template <typename T>
__global__ void max_kernel(T* out, int64_t* idx, const T* x, int64_t outer, int64_t r, int64_t inner) {
  for (int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; j < outer * inner;
       j += int64_t(gridDim.x) * blockDim.x) {
    int64_t o = j / inner, i = j % inner;
    const T* p = x + o * r * inner + i;
    T best = p[0];
    int64_t arg = 0;
    for (int64_t k = 1; k < r && best == best; ++k) {  // stops at the first NaN
      T v = p[k * inner];
      if (v > best || v != v) best = v, arg = k;
    }
    out[j] = best;
    idx[j] = arg;
  }
}

}  // namespace

void sum_cuda(const ReduceArgs& a, int device) {
  int64_t n_out = a.outer * a.inner;
  if (n_out == 0) return;
  cuda::DeviceGuard guard(device);
  for_float(a.dtype, "sum", "CUDA", [&](auto t) {
    using T = decltype(t);
    auto* out = static_cast<T*>(a.out);
    auto* x = static_cast<const T*>(a.x);
    const int64_t chunks = sum_cuda_chunks(a.outer, a.r, a.inner);
    if (chunks > 1) {
      SRA_CHECK(a.scratch != nullptr && a.scratch_bytes >= size_t(chunks * n_out) * sizeof(double),
                "[sum] scratch of ", a.scratch_bytes, " bytes is too small");
      auto* scratch = static_cast<double*>(a.scratch);
      const int64_t per = (a.r + chunks - 1) / chunks;
      sum_chunk_kernel<T><<<cuda::grid_for(chunks * n_out), cuda::kThreads, 0, cuda::stream(device)>>>(
          scratch, x, a.outer, a.r, a.inner, chunks, per);
      cuda::check_launch("sum", device);
      chunk_sum_final_kernel<T>
          <<<cuda::grid_for(n_out), cuda::kThreads, 0, cuda::stream(device)>>>(out, scratch, n_out, chunks);
    } else if (a.inner == 1) {
      SRA_CHECK(a.outer <= int64_t(INT32_MAX), "[sum] too many rows for one launch: ", a.outer);
      sum_rows_kernel<T><<<unsigned(a.outer), kRowThreads, 0, cuda::stream(device)>>>(out, x, a.r);
    } else {
      sum_inner_kernel<T>
          <<<cuda::grid_for(n_out), cuda::kThreads, 0, cuda::stream(device)>>>(out, x, a.outer, a.r, a.inner);
    }
  });
  cuda::check_launch("sum", device);
}

void max_cuda(const ReduceArgs& a, int64_t* idx, int device) {
  int64_t n_out = a.outer * a.inner;
  if (n_out == 0) return;
  cuda::DeviceGuard guard(device);
  for_float(a.dtype, "max", "CUDA", [&](auto t) {
    using T = decltype(t);
    auto* out = static_cast<T*>(a.out);
    auto* x = static_cast<const T*>(a.x);
    if (a.inner == 1) {
      SRA_CHECK(a.outer <= int64_t(INT32_MAX), "[max] too many rows for one launch: ", a.outer);
      max_rows_kernel<T><<<unsigned(a.outer), kRowThreads, 0, cuda::stream(device)>>>(out, idx, x, a.r);
    } else {
      max_kernel<T><<<cuda::grid_for(n_out), cuda::kThreads, 0, cuda::stream(device)>>>(out, idx, x, a.outer,
                                                                                        a.r, a.inner);
    }
  });
  cuda::check_launch("max", device);
}

}  // namespace sra::kern
