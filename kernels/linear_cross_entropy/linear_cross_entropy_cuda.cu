// The fused head + cross-entropy's row kernels on CUDA (contract in linear_cross_entropy.h; the CPU kernel
// linear_cross_entropy_cpu.cpp is the oracle).
//   chunk:  one block of kRowThreads per row (block-stride over rows). Pass 1 streams the row once with an
//           online max and Σ exp (each thread rescales its double sum when its max grows), then the block
//           merges the threads' (max, sum) pairs through fixed-shape trees; pass 2 writes the gradient row
//           (T or bf16). Two reads of the row instead of cross_entropy's three, and no second kernel.
//           Each thread loads kLoads of its elements before it uses them, in the same order as one at a
//           time (the same bits): one load in flight per thread left the 135M step's (2048 x 32768) chunk at
//           ~310 us on the H200, ~2x its bytes' time.
//   count, finish: one block each, fixed-shape trees over the targets / the row losses: deterministic.
#include "core/cuda_launch.h"
#include "kernels/common/bf16_round_cuda.cuh"
#include "kernels/common/block_tree_cuda.cuh"
#include "kernels/common/dtype_switch.h"
#include "kernels/linear_cross_entropy/linear_cross_entropy.h"

namespace sra::kern {

namespace {

using row_tree::block_max;
using row_tree::block_sum;
using row_tree::exp_t;
using row_tree::kRowThreads;

template <typename T>
__device__ inline void put(T* g, int64_t i, T value) {
  g[i] = value;
}
template <typename T>
__device__ inline void put(Bf16Bits* g, int64_t i, T value) {
  g[i] = to_bf16(float(value));
}

constexpr int kLoads = 4;  // row elements each thread loads before using them (memory-level parallelism)

template <typename T, typename G>
__global__ void chunk_kernel(const T* z, G* g, T* mx, T* ls, double* row_loss, const int64_t* t,
                             const int64_t* kept, int64_t rows, int64_t v, int64_t ignore_index) {
  __shared__ T tpart[kRowThreads];
  __shared__ double dpart[kRowThreads];
  double scale = 0;
  if (g != nullptr) {
    const int64_t kc = *kept;
    scale = kc > 0 ? 1.0 / double(kc) : 0.0;
  }
  const T sc = T(scale);
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* row = z + r * v;
    const int64_t tr = t[r];
    const bool keep = tr != ignore_index, valid = tr >= 0 && tr < v;
    const T zt = keep && valid ? row[tr] : T(0);  // before any thread overwrites the row (g may alias z)
    T m = -T(INFINITY);
    double s = 0;
    for (int64_t k0 = threadIdx.x; k0 < v; k0 += kRowThreads * kLoads) {
      T xs[kLoads];  // the loads first, then the thread's elements in the order k0, k0 + kRowThreads, ...
#pragma unroll
      for (int u = 0; u < kLoads; ++u)
        if (k0 + u * kRowThreads < v) xs[u] = row[k0 + u * kRowThreads];
#pragma unroll
      for (int u = 0; u < kLoads; ++u) {
        if (k0 + u * kRowThreads >= v) break;
        const T x = xs[u];
        if (x > m) {
          s *= double(exp_t(T(m - x)));  // 0 while m is −inf
          m = x;
        }
        if (!(x == -T(INFINITY))) s += double(exp_t(T(x - m)));  // −inf adds 0, as in the oracle
      }
    }
    T bm = block_max(m, tpart);
    if (isinf(bm) && bm < 0) bm = T(0);
    s = block_sum(s == 0 ? 0.0 : s * double(exp_t(T(m - bm))), dpart);
    const T l = T(::log(s));
    if (threadIdx.x == 0) {
      mx[r] = bm;
      ls[r] = l;
      row_loss[r] = keep ? (valid ? (double(bm) - double(zt)) + ::log(s) : double(NAN)) : 0.0;
    }
    if (g == nullptr) continue;
    G* gr = g + r * v;
    for (int64_t k0 = threadIdx.x; k0 < v; k0 += kRowThreads * kLoads) {
      T xs[kLoads];
#pragma unroll
      for (int u = 0; u < kLoads; ++u)
        if (keep && k0 + u * kRowThreads < v) xs[u] = row[k0 + u * kRowThreads];
#pragma unroll
      for (int u = 0; u < kLoads; ++u) {
        const int64_t k = k0 + u * kRowThreads;
        if (k >= v) break;
        T value = T(0);
        if (keep) {
          const T p = exp_t(T((xs[u] - bm) - l));
          value = k == tr ? T((double(p) - 1.0) * scale) : p * sc;
        }
        put(gr, k, value);
      }
    }
  }
}

__global__ void count_kernel(int64_t* kept, const int64_t* t, int64_t n, int64_t ignore_index) {
  __shared__ double part[kRowThreads];
  double c = 0;  // exact in double (n < 2^53)
  for (int64_t r = threadIdx.x; r < n; r += kRowThreads) c += t[r] != ignore_index ? 1.0 : 0.0;
  c = block_sum(c, part);
  if (threadIdx.x == 0) *kept = int64_t(c);
}

template <typename T>
__global__ void finish_kernel(T* loss, const double* row_loss, const int64_t* kept, int64_t n) {
  __shared__ double part[kRowThreads];
  double s = 0;
  for (int64_t r = threadIdx.x; r < n; r += kRowThreads) s += row_loss[r];
  s = block_sum(s, part);
  if (threadIdx.x == 0) {
    const int64_t k = *kept;
    *loss = T(k > 0 ? s / double(k) : 0.0);
  }
}

}  // namespace

void xent_count_kept_cuda(int64_t* kept, const int64_t* t, int64_t n, int64_t ignore_index, int device) {
  cuda::DeviceGuard guard(device);
  count_kernel<<<1, kRowThreads, 0, cuda::stream(device)>>>(kept, t, n, ignore_index);
  cuda::check_launch("linear_cross_entropy", device);
}

void xent_chunk_cuda(const XentChunkArgs& a, int device) {
  cuda::DeviceGuard guard(device);
  const unsigned blocks = unsigned(a.rows < 65535 ? a.rows : 65535);
  for_float(a.dtype, "linear_cross_entropy", "CUDA", [&](auto tag) {
    using T = decltype(tag);
    auto launch = [&](auto* g) {
      chunk_kernel<<<blocks, kRowThreads, 0, cuda::stream(device)>>>(
          static_cast<const T*>(a.z), g, static_cast<T*>(a.mx), static_cast<T*>(a.ls), a.row_loss, a.t,
          a.kept, a.rows, a.v, a.ignore_index);
    };
    if (a.g_bf16)
      launch(static_cast<Bf16Bits*>(a.g));
    else
      launch(static_cast<T*>(a.g));
  });
  cuda::check_launch("linear_cross_entropy", device);
}

void xent_finish_cuda(DType dtype, void* loss, const double* row_loss, const int64_t* kept, int64_t n,
                      int device) {
  cuda::DeviceGuard guard(device);
  for_float(dtype, "linear_cross_entropy", "CUDA", [&](auto tag) {
    using T = decltype(tag);
    finish_kernel<T><<<1, kRowThreads, 0, cuda::stream(device)>>>(static_cast<T*>(loss), row_loss, kept, n);
  });
  cuda::check_launch("linear_cross_entropy", device);
}

}  // namespace sra::kern
