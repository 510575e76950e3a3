// RoPE on CUDA (math in rope.h; rope_cpu.cpp is the oracle). One block per (batch row b, tile of up to
// positions_per_block(h) consecutive positions): its threads first compute the tile's cos and sin for
// every pair index i < d/2 into shared memory — inv_freq (kernels/rope/rope_freq.h) and the angle in
// double, cos and sin in double rounded to T, as the CPU's table — then rotate the pairs of every head at
// those positions in T, consecutive threads on consecutive i (coalesced). The trigonometry runs once per
// (position, i), not once per head: the first version, one thread per (row, i) with its own double
// cos/sin, took ~150 us per call on the 135M step's (16, 12, 1024, 64) on the H200, about 6x the call's
// bytes. x and out are addressed through their strides (in place allowed: each pair is read and written
// by one thread); the optional bf16 copy is written beside out. In-block indices are 32-bit.
#include <algorithm>
#include <type_traits>

#include "core/check.h"
#include "core/cuda_launch.h"
#include "kernels/common/bf16_round_cuda.cuh"
#include "kernels/rope/rope.h"

namespace sra::kern {

namespace {

struct Strides {
  int64_t b, h, t;
};

constexpr int kPairsPerBlock = 512;  // (position, i) pairs of one block's cos/sin table
constexpr int64_t kMaxHalf = 2048;   // d <= 4096: the table of one position fits shared memory in double

int positions_per_block(int64_t half) {
  return half >= kPairsPerBlock ? 1 : int(kPairsPerBlock / half);
}

template <typename T>
__global__ void rope_kernel(T* out, Bf16Bits* out16, const T* x, const int64_t* pos, bool pos_per_batch,
                            int h, int64_t t, int64_t d, int64_t tiles, int per_block, double theta,
                            bool inverse, RopeScaling scaling, Strides xs, Strides os) {
  extern __shared__ unsigned char smem[];
  const int half = int(d / 2);
  T* cs = reinterpret_cast<T*>(smem);
  T* sn = cs + per_block * half;
  const int64_t bi = int64_t(blockIdx.x) / tiles, t0 = (int64_t(blockIdx.x) % tiles) * per_block;
  const int np = int(t - t0 < per_block ? t - t0 : per_block);
  for (int k = int(threadIdx.x); k < np * half; k += int(blockDim.x)) {
    const int64_t ti = t0 + k / half;
    const int i = k % half;
    const int64_t p = pos_per_batch ? bi * t + ti : ti;
    const double a = double(pos[p]) * rope_inv_freq(i, d, theta, scaling);
    cs[k] = T(cos(a));
    sn[k] = T(inverse ? -sin(a) : sin(a));
  }
  __syncthreads();
  const int n = h * np * half;
  for (int k = int(threadIdx.x); k < n; k += int(blockDim.x)) {
    const int i = k % half, r = k / half;  // r = head · np + position in the tile
    const int tl = r % np, hi = r / np;
    const int64_t ti = t0 + tl;
    const T c = cs[tl * half + i], s = sn[tl * half + i];
    const T* xr = x + bi * xs.b + hi * xs.h + ti * xs.t;
    const int64_t oo = bi * os.b + hi * os.h + ti * os.t;
    T x0 = xr[i], x1 = xr[i + half];
    T y0 = x0 * c - x1 * s, y1 = x1 * c + x0 * s;
    out[oo + i] = y0;
    out[oo + i + half] = y1;
    if (out16) {
      out16[oo + i] = to_bf16(float(y0));
      out16[oo + i + half] = to_bf16(float(y1));
    }
  }
}

template <typename T>
void launch(const RopeArgs& a, int device) {
  const int64_t half = a.d / 2;
  const int per_block = positions_per_block(half);
  const int64_t tiles = (a.t + per_block - 1) / per_block, blocks = a.b * tiles;
  SRA_CHECK(blocks <= int64_t(INT32_MAX), "[rope] ", a.b, " x ", a.t,
            " positions are too many for one launch");
  const size_t smem = 2 * size_t(per_block) * size_t(half) * sizeof(T);
  const Strides xs{a.xs[0], a.xs[1], a.xs[2]}, os{a.os[0], a.os[1], a.os[2]};
  rope_kernel<T><<<unsigned(blocks), cuda::kThreads, smem, cuda::stream(device)>>>(
      static_cast<T*>(a.out), std::is_same_v<T, float> ? static_cast<Bf16Bits*>(a.out16) : nullptr,
      static_cast<const T*>(a.x), a.pos, a.pos_per_batch, int(a.h), a.t, a.d, tiles, per_block, a.theta,
      a.inverse, a.scaling, xs, os);
}

}  // namespace

void rope_cuda(const RopeArgs& a, int device) {
  int64_t n = a.b * a.h * a.t * (a.d / 2);
  if (n == 0) return;
  SRA_CHECK(a.d / 2 <= kMaxHalf, "[rope] head dim ", a.d, " is above the CUDA kernel's ", 2 * kMaxHalf);
  SRA_CHECK(a.h * std::max<int64_t>(kPairsPerBlock, a.d / 2) <= int64_t(INT32_MAX), "[rope] ", a.h,
            " heads are too many");
  cuda::DeviceGuard guard(device);
  if (a.dtype == DType::f32) {
    launch<float>(a, device);
  } else {
    SRA_CHECK(a.dtype == DType::f64, "[rope] dtype ", dtype_name(a.dtype),
              " is not supported on CUDA (f32 or f64)");
    launch<double>(a, device);
  }
  cuda::check_launch("rope", device);
}

}  // namespace sra::kern
