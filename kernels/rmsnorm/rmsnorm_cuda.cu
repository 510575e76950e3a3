// RMSNorm on CUDA (math and order in rmsnorm.h; rmsnorm_cpu.cpp is the oracle).
//   forward / gx, rows of C <= kWarpRowMaxC: one warp per row (kRowThreads / 32 rows per block, grid-stride
//     over rows); lane l sums elements l, l + 32, ... in double, then a fixed shuffle-down tree gives lane 0
//     the total, which every lane reads: the order depends on C alone. (One block per row, as below, spent
//     its time in the shared-memory tree's barriers: ~70 us for the 135M step's 16384 x 768 rows on the
//     H200, ~3x the bytes' time.)
//   forward / gx, wider rows: one block of kRowThreads per row; each thread sums a fixed stride of the row
//     in double, then a fixed-shape tree in shared memory: the order depends on C alone.
//   gw: pass 1, one thread per (chunk, c) sums its chunk's rows in order into scratch[chunk, c] (double);
//     pass 2, one thread per c adds the chunks in order and rounds to T once. No atomics.
#include <algorithm>

#include "core/cuda_launch.h"
#include "kernels/common/bf16_round_cuda.cuh"
#include "kernels/common/block_tree_cuda.cuh"
#include "kernels/common/chunk_sum_cuda.cuh"
#include "kernels/common/dtype_switch.h"
#include "kernels/rmsnorm/rmsnorm.h"

namespace sra::kern {

namespace {

using row_tree::block_sum;
using row_tree::kRowThreads;
using row_tree::warp_sum;

template <typename T>
__global__ void rmsnorm_kernel(T* y, Bf16Bits* y16, T* rstd, const T* x, const T* w, int64_t n, int64_t c,
                               double eps, const T* residual, T* sum) {
  __shared__ double part[kRowThreads];
  for (int64_t r = blockIdx.x; r < n; r += gridDim.x) {
    const T* xr = x + r * c;
    T* yr = y + r * c;
    double ss = 0;
    if (residual) {  // s = x + residual, written to sum; the row read back below is the sum (own writes)
      for (int64_t i = threadIdx.x; i < c; i += kRowThreads) {
        const T v = xr[i] + residual[r * c + i];
        sum[r * c + i] = v;
        ss += double(v) * double(v);
      }
      xr = sum + r * c;
    } else {
      for (int64_t i = threadIdx.x; i < c; i += kRowThreads) ss += double(xr[i]) * double(xr[i]);
    }
    ss = block_sum(ss, part);
    T rs = T(1.0 / sqrt(ss / double(c) + eps));
    if (threadIdx.x == 0) rstd[r] = rs;
    for (int64_t i = threadIdx.x; i < c; i += kRowThreads) {
      const T v = xr[i] * rs * w[i];
      yr[i] = v;
      if (y16) y16[r * c + i] = to_bf16(float(v));
    }
  }
}

template <typename T>
__global__ void rmsnorm_gx_kernel(T* gx, Bf16Bits* gx16, const T* gy, const T* x, const T* w, const T* rstd,
                                  int64_t n, int64_t c, const T* gsum) {
  __shared__ double part[kRowThreads];
  for (int64_t r = blockIdx.x; r < n; r += gridDim.x) {
    const T* xr = x + r * c;
    const T* gr = gy + r * c;
    T* out = gx + r * c;
    double dot = 0;
    for (int64_t i = threadIdx.x; i < c; i += kRowThreads)
      dot += double(gr[i]) * double(w[i]) * double(xr[i]);
    dot = block_sum(dot, part);
    double rs = double(rstd[r]);
    T a = T(rs), k = T(rs * rs * rs * dot / double(c));
    for (int64_t i = threadIdx.x; i < c; i += kRowThreads) {
      const T v = a * (gr[i] * w[i]) - xr[i] * k;
      const T o = gsum ? gsum[r * c + i] + v : v;
      out[i] = o;
      if (gx16) gx16[r * c + i] = to_bf16(float(o));
    }
  }
}

// scratch[p, i] = Σ_{rows of chunk p, in order} gy[r, i] · x[r, i] · rstd[r]; chunk p holds rows
// [p·per, min(n, (p + 1)·per)).
template <typename T>
__global__ void rmsnorm_gw_partial_kernel(double* scratch, const T* gy, const T* x, const T* rstd, int64_t n,
                                          int64_t c, int64_t chunks, int64_t per) {
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < chunks * c;
       e += int64_t(gridDim.x) * blockDim.x) {
    int64_t p = e / c, i = e % c;
    int64_t r0 = p * per, r1 = r0 + per < n ? r0 + per : n;
    double acc = 0;
    for (int64_t r = r0; r < r1; ++r) acc += double(gy[r * c + i]) * double(x[r * c + i]) * double(rstd[r]);
    scratch[e] = acc;
  }
}

constexpr int64_t kWarpRowMaxC = 4096;
constexpr int kWarpRows = kRowThreads / 32;  // rows per block of the warp kernels

template <typename T>
__global__ void rmsnorm_warp_kernel(T* y, Bf16Bits* y16, T* rstd, const T* x, const T* w, int64_t n,
                                    int64_t c, double eps, const T* residual, T* sum) {
  const int lane = int(threadIdx.x) % 32;
  for (int64_t r = int64_t(blockIdx.x) * kWarpRows + threadIdx.x / 32; r < n;
       r += int64_t(gridDim.x) * kWarpRows) {
    const T* xr = x + r * c;
    T* yr = y + r * c;
    double ss = 0;
    if (residual) {  // s = x + residual, written to sum; each lane reads back only its own writes
      for (int64_t i = lane; i < c; i += 32) {
        const T v = xr[i] + residual[r * c + i];
        sum[r * c + i] = v;
        ss += double(v) * double(v);
      }
      xr = sum + r * c;
    } else {
      for (int64_t i = lane; i < c; i += 32) ss += double(xr[i]) * double(xr[i]);
    }
    ss = warp_sum(ss);
    T rs = T(1.0 / sqrt(ss / double(c) + eps));
    if (lane == 0) rstd[r] = rs;
    for (int64_t i = lane; i < c; i += 32) {
      const T v = xr[i] * rs * w[i];
      yr[i] = v;
      if (y16) y16[r * c + i] = to_bf16(float(v));
    }
  }
}

template <typename T>
__global__ void rmsnorm_gx_warp_kernel(T* gx, Bf16Bits* gx16, const T* gy, const T* x, const T* w,
                                       const T* rstd, int64_t n, int64_t c, const T* gsum) {
  const int lane = int(threadIdx.x) % 32;
  for (int64_t r = int64_t(blockIdx.x) * kWarpRows + threadIdx.x / 32; r < n;
       r += int64_t(gridDim.x) * kWarpRows) {
    const T* xr = x + r * c;
    const T* gr = gy + r * c;
    T* out = gx + r * c;
    double dot = 0;
    for (int64_t i = lane; i < c; i += 32) dot += double(gr[i]) * double(w[i]) * double(xr[i]);
    dot = warp_sum(dot);
    double rs = double(rstd[r]);
    T a = T(rs), k = T(rs * rs * rs * dot / double(c));
    for (int64_t i = lane; i < c; i += 32) {
      const T v = a * (gr[i] * w[i]) - xr[i] * k;
      const T o = gsum ? gsum[r * c + i] + v : v;
      out[i] = o;
      if (gx16) gx16[r * c + i] = to_bf16(float(o));
    }
  }
}

unsigned warp_grid(int64_t n) {
  return unsigned(std::min<int64_t>((n + kWarpRows - 1) / kWarpRows, 65535));
}

unsigned row_grid(int64_t n) {
  return unsigned(std::min<int64_t>(n, 65535));
}

}  // namespace

void rmsnorm_cuda(const RmsnormArgs& a, int device) {
  if (a.n == 0 || a.c == 0) return;
  SRA_CHECK(a.y16 == nullptr || a.dtype == DType::f32, "[rmsnorm] a bf16 copy needs f32, got ",
            dtype_name(a.dtype));
  cuda::DeviceGuard guard(device);
  for_float(a.dtype, "rmsnorm", "CUDA", [&](auto t) {
    using T = decltype(t);
    auto* y = static_cast<T*>(a.y);
    auto* y16 = static_cast<Bf16Bits*>(a.y16);
    auto* rstd = static_cast<T*>(a.rstd);
    auto* x = static_cast<const T*>(a.x);
    auto* w = static_cast<const T*>(a.w);
    auto* res = static_cast<const T*>(a.residual);
    auto* sum = static_cast<T*>(a.sum);
    if (a.c <= kWarpRowMaxC)
      rmsnorm_warp_kernel<T><<<warp_grid(a.n), kRowThreads, 0, cuda::stream(device)>>>(
          y, y16, rstd, x, w, a.n, a.c, a.eps, res, sum);
    else
      rmsnorm_kernel<T><<<row_grid(a.n), kRowThreads, 0, cuda::stream(device)>>>(y, y16, rstd, x, w, a.n, a.c,
                                                                                 a.eps, res, sum);
  });
  cuda::check_launch("rmsnorm", device);
}

void rmsnorm_backward_cuda(const RmsnormBackwardArgs& a, int device) {
  if (a.n == 0 || a.c == 0) return;  // the dispatcher zeroes gw when n == 0
  cuda::DeviceGuard guard(device);
  cudaStream_t s = cuda::stream(device);
  for_float(a.dtype, "rmsnorm", "CUDA", [&](auto t) {
    using T = decltype(t);
    auto* gy = static_cast<const T*>(a.gy);
    auto* x = static_cast<const T*>(a.x);
    auto* rstd = static_cast<const T*>(a.rstd);
    if (a.gx) {
      auto* gx = static_cast<T*>(a.gx);
      auto* w = static_cast<const T*>(a.w);
      auto* gsum = static_cast<const T*>(a.gsum);
      auto* gx16 = static_cast<Bf16Bits*>(a.gx16);
      if (a.c <= kWarpRowMaxC)
        rmsnorm_gx_warp_kernel<T>
            <<<warp_grid(a.n), kRowThreads, 0, s>>>(gx, gx16, gy, x, w, rstd, a.n, a.c, gsum);
      else
        rmsnorm_gx_kernel<T><<<row_grid(a.n), kRowThreads, 0, s>>>(gx, gx16, gy, x, w, rstd, a.n, a.c, gsum);
      cuda::check_launch("rmsnorm_backward", device);
    }
    if (a.gw) {
      int64_t chunks = std::min(a.n, kRmsnormGwChunks), per = (a.n + chunks - 1) / chunks;
      SRA_CHECK(a.scratch != nullptr && a.scratch_bytes >= size_t(chunks * a.c) * sizeof(double),
                "[rmsnorm] backward scratch of ", a.scratch_bytes, " bytes is too small");
      auto* scratch = static_cast<double*>(a.scratch);
      rmsnorm_gw_partial_kernel<T><<<cuda::grid_for(chunks * a.c), cuda::kThreads, 0, s>>>(
          scratch, gy, x, rstd, a.n, a.c, chunks, per);
      cuda::check_launch("rmsnorm_backward", device);
      chunk_sum_final_kernel<T>
          <<<cuda::grid_for(a.c), cuda::kThreads, 0, s>>>(static_cast<T*>(a.gw), scratch, a.c, chunks);
      cuda::check_launch("rmsnorm_backward", device);
    }
  });
}

}  // namespace sra::kern
