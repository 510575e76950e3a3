// Dense attention on CUDA (math in attention.h; attention_cpu.cpp is the oracle). FlashAttention-2 style
// with scalar FMA in T (f32 accumulates in f32, f64 in f64). bf16 inputs go to attention_bf16_cuda.cu (tensor
// cores). A block is 256 threads as a 16 × 16 grid (ty, tx): in a tile product a thread owns the rows ty +
// 16i and the columns tx + 16j (scores, in registers) or tx + 16c (head dims, c < DC, D ≤ 16·DC, in
// registers); a row's 16 threads are 16 lanes of one warp, so row max / sum are xor shuffles (every lane
// gets the same bits).
//   forward: one block per (query tile of BQ rows, b·h), the latest (longest causal) tiles first. q tile in
//     shared memory; over the key tiles up to the tile's causal limit: k tile → scores S = q·kᵀ·scale
//     (masked −inf) → online softmax (m, l per row; a row whose keys are all masked so far keeps P = 0,
//     so no NaN) → P to shared memory, v tile into k's buffer → acc = acc·α + P·v. Writes out = acc / l
//     and lse = m + log l (out = 0, lse = −inf for a row that sees no key, which the op's checks exclude).
//   backward: Δ_t = dout_t·out_t (one warp per row, lanes then a xor tree). dq: one block per (query tile,
//     b·h) with q and dout tiles in shared memory, over the key tiles in order: v tile → dP = dout·vᵀ,
//     k tile → S, P = exp(S·scale − lse), dS = P∘(dP − Δ)·scale to shared memory → dq += dS·k.
//     dk, dv: one block per (key tile of BK keys, b·kv head), the earliest (longest causal) tiles first,
//     k and v tiles in shared memory, over the group's query heads in order and, for each, the query
//     tiles that see the key tile in order: q, dout tiles → Sᵀ = k·qᵀ, dPᵀ = v·doutᵀ → Pᵀ, dSᵀ to
//     shared memory → dv += Pᵀ·dout, dk += dSᵀ·q. Every output row has one owning thread and a fixed
//     summation order: no atomics, bitwise repeatable.
// Tiles (Tiles below) by D bucket (DC = 4, 8, 16 for D ≤ 64, 128, 256) and dtype keep shared memory at
// most ~150 KiB at D = 16·DC; it is dynamic (sized for the real D), opted in above 48 KiB, and checked
// against the device's limit. Shared rows have the odd stride D | 1, so the 16 different rows a
// half-warp reads at one d fall in distinct banks. Tiles are zero-filled past the last row, so padded
// rows never carry garbage (0·NaN) into a sum.
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "core/check.h"
#include "core/cuda_launch.h"
#include "kernels/attention/attention.h"
#include "kernels/common/block_tree_cuda.cuh"
#include "kernels/common/dtype_switch.h"

namespace sra::kern {

namespace {

using row_tree::exp_t;
using row_tree::log_t;
using row_tree::neg_inf;

constexpr int kSide = 16;              // the block is a kSide × kSide grid of threads
constexpr int kBlock = kSide * kSide;  // 256 threads
constexpr int kMaxD = 256;             // head dims above this are an error

__host__ __device__ inline int64_t min64(int64_t a, int64_t b) {
  return a < b ? a : b;
}

// Max / sum over the 16 lanes of a row (lanes sharing ty): xor butterfly, every lane gets the same bits.
template <typename T>
__device__ T row_max16(T v) {
  for (int o = kSide / 2; o > 0; o /= 2) {
    T w = __shfl_xor_sync(0xffffffffu, v, o);
    v = v < w ? w : v;
  }
  return v;
}
template <typename T>
__device__ T row_sum16(T v) {
  for (int o = kSide / 2; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// dst[r, c] (row stride ld) = src[r, c] (row stride d) for r < rows, 0 for rows ≤ r < cap; c < d.
template <typename T>
__device__ void load_tile(T* dst, const T* src, int rows, int cap, int d, int ld) {
  for (int e = threadIdx.x; e < cap * d; e += kBlock) {
    const int r = e / d, c = e - r * d;
    dst[r * ld + c] = r < rows ? src[int64_t(r) * d + c] : T(0);
  }
}

// s[i][j] = Σ_d a[(ty + 16i), d] · b[(tx + 16j), d] (both tiles in shared memory, row stride ld).
template <typename T, int RI, int RJ>
__device__ void tile_dots(T (&s)[RI][RJ], const T* a, const T* b, int d_len, int ld) {
  const int tx = threadIdx.x % kSide, ty = threadIdx.x / kSide;
#pragma unroll
  for (int i = 0; i < RI; ++i)
#pragma unroll
    for (int j = 0; j < RJ; ++j) s[i][j] = T(0);
  for (int d = 0; d < d_len; ++d) {
    T x[RI], y[RJ];
#pragma unroll
    for (int i = 0; i < RI; ++i) x[i] = a[(ty + kSide * i) * ld + d];
#pragma unroll
    for (int j = 0; j < RJ; ++j) y[j] = b[(tx + kSide * j) * ld + d];
#pragma unroll
    for (int i = 0; i < RI; ++i)
#pragma unroll
      for (int j = 0; j < RJ; ++j) s[i][j] += x[i] * y[j];
  }
}

// acc[i][c] += Σ_{j < n} p[(ty + 16i), j] · b[j, tx + 16c] for the columns tx + 16c < d_len
// (p row stride pld, b row stride ld); j in order.
template <typename T, int RI, int DC>
__device__ void tile_accumulate(T (&acc)[RI][DC], const T* p, int pld, const T* b, int n, int d_len, int ld) {
  const int tx = threadIdx.x % kSide, ty = threadIdx.x / kSide;
  for (int j = 0; j < n; ++j) {
    T x[RI];
#pragma unroll
    for (int i = 0; i < RI; ++i) x[i] = p[(ty + kSide * i) * pld + j];
#pragma unroll
    for (int c = 0; c < DC; ++c) {
      const int col = tx + kSide * c;
      if (col < d_len) {
        const T y = b[j * ld + col];
#pragma unroll
        for (int i = 0; i < RI; ++i) acc[i][c] += x[i] * y;
      }
    }
  }
}

// out[(ty + 16i) · d + tx + 16c] = acc[i][c] for the rows ty + 16i < rows and columns tx + 16c < d.
template <typename T, int RI, int DC>
__device__ void store_rows(T* out, const T (&acc)[RI][DC], int rows, int d_len) {
  const int tx = threadIdx.x % kSide, ty = threadIdx.x / kSide;
#pragma unroll
  for (int i = 0; i < RI; ++i) {
    const int r = ty + kSide * i;
    if (r >= rows) continue;
#pragma unroll
    for (int c = 0; c < DC; ++c) {
      const int col = tx + kSide * c;
      if (col < d_len) out[int64_t(r) * d_len + col] = acc[i][c];
    }
  }
}

// The shapes of a launch.
struct Geo {
  int64_t bh, bkv;          // B·H, B·Hkv
  int64_t heads, kv_heads;  // H, Hkv
  int64_t group;            // H / Hkv
  int64_t t, s, shift;      // T, S, S − T
  int64_t tiles;            // query tiles (forward, dq) or key tiles (dk, dv) per head
  int d, ld;                // head dim, shared row stride (d | 1)
  bool causal;
  double scale;
};

template <typename T, int DC, int BQ, int BK>
__global__ void __launch_bounds__(kBlock)
    attention_forward_kernel(T* out, T* lse, const T* q, const T* k, const T* v, Geo g) {
  constexpr int RI = BQ / kSide, RJ = BK / kSide, PLD = BK + 1;
  extern __shared__ __align__(16) unsigned char smem[];
  const int ld = g.ld;
  T* qs = reinterpret_cast<T*>(smem);  // BQ × ld
  T* kv = qs + BQ * ld;                // BK × ld: the k tile, then the v tile
  T* ps = kv + BK * ld;                // BQ × PLD: P
  const int tx = threadIdx.x % kSide, ty = threadIdx.x / kSide;
  const int64_t bh = blockIdx.x % g.bh, qt = g.tiles - 1 - blockIdx.x / g.bh;
  const int64_t bkv = bh / g.heads * g.kv_heads + bh % g.heads / g.group;
  const int64_t i0 = qt * BQ;
  const int nq = int(min64(BQ, g.t - i0));
  const T scale = T(g.scale);
  load_tile(qs, q + (bh * g.t + i0) * g.d, nq, BQ, g.d, ld);

  T acc[RI][DC], m[RI], l[RI];
#pragma unroll
  for (int i = 0; i < RI; ++i) {
    m[i] = neg_inf<T>(), l[i] = T(0);
#pragma unroll
    for (int c = 0; c < DC; ++c) acc[i][c] = T(0);
  }
  const int64_t kend = g.causal ? min64(g.s, i0 + nq + g.shift) : g.s;  // keys past kend are masked for all
  for (int64_t j0 = 0; j0 < kend; j0 += BK) {
    const int nk = int(min64(BK, kend - j0));
    __syncthreads();  // the previous tile's readers of kv and ps are done
    load_tile(kv, k + (bkv * g.s + j0) * g.d, nk, BK, g.d, ld);
    __syncthreads();
    T s[RI][RJ];
    tile_dots(s, qs, kv, g.d, ld);
    __syncthreads();  // done with the k tile
    load_tile(kv, v + (bkv * g.s + j0) * g.d, nk, BK, g.d, ld);
#pragma unroll
    for (int i = 0; i < RI; ++i) {
      const int64_t t = i0 + ty + kSide * i;  // rows past T compute harmless values and are not stored
      T mx = neg_inf<T>();
#pragma unroll
      for (int j = 0; j < RJ; ++j) {
        const int jj = tx + kSide * j;
        const bool visible = jj < nk && (!g.causal || j0 + jj <= t + g.shift);
        s[i][j] = visible ? s[i][j] * scale : neg_inf<T>();
        mx = mx < s[i][j] ? s[i][j] : mx;
      }
      const T tile_max = row_max16(mx);
      const T m_new = m[i] < tile_max ? tile_max : m[i];
      T alpha = T(1), sum = T(0);
      if (m_new == neg_inf<T>()) {  // nothing visible yet: P = 0
#pragma unroll
        for (int j = 0; j < RJ; ++j) s[i][j] = T(0);
      } else {
        alpha = exp_t(T(m[i] - m_new));
#pragma unroll
        for (int j = 0; j < RJ; ++j) {
          s[i][j] = exp_t(T(s[i][j] - m_new));
          sum += s[i][j];
        }
      }
      l[i] = l[i] * alpha + row_sum16(sum);
      m[i] = m_new;
#pragma unroll
      for (int c = 0; c < DC; ++c) acc[i][c] *= alpha;
#pragma unroll
      for (int j = 0; j < RJ; ++j) ps[(ty + kSide * i) * PLD + tx + kSide * j] = s[i][j];
    }
    __syncthreads();  // P and the v tile are in place
    tile_accumulate(acc, ps, PLD, kv, nk, g.d, ld);
  }

#pragma unroll
  for (int i = 0; i < RI; ++i) {
    const bool any = l[i] > T(0);
#pragma unroll
    for (int c = 0; c < DC; ++c) acc[i][c] = any ? acc[i][c] / l[i] : T(0);
    const int r = ty + kSide * i;
    if (tx == 0 && r < nq) lse[bh * g.t + i0 + r] = any ? m[i] + log_t(l[i]) : neg_inf<T>();
  }
  store_rows(out + (bh * g.t + i0) * g.d, acc, nq, g.d);
}

// Δ[r] = Σ_c dout[r, c] · out[r, c]: one warp per row.
template <typename T>
__global__ void attention_delta_kernel(T* delta, const T* dout, const T* out, int64_t rows, int d) {
  const int lane = threadIdx.x % 32, warps = blockDim.x / 32;
  for (int64_t r = int64_t(blockIdx.x) * warps + threadIdx.x / 32; r < rows;
       r += int64_t(gridDim.x) * warps) {
    T acc = T(0);
    for (int c = lane; c < d; c += 32) acc += dout[r * d + c] * out[r * d + c];
    for (int o = 16; o > 0; o /= 2) acc += __shfl_xor_sync(0xffffffffu, acc, o);
    if (lane == 0) delta[r] = acc;
  }
}

template <typename T, int DC, int BQ, int BK>
__global__ void __launch_bounds__(kBlock)
    attention_dq_kernel(T* dq, const T* dout, const T* q, const T* k, const T* v, const T* lse,
                        const T* delta, Geo g) {
  constexpr int RI = BQ / kSide, RJ = BK / kSide, PLD = BK + 1;
  extern __shared__ __align__(16) unsigned char smem[];
  const int ld = g.ld;
  T* qs = reinterpret_cast<T*>(smem);  // BQ × ld
  T* dos = qs + BQ * ld;               // BQ × ld: dout
  T* kv = dos + BQ * ld;               // BK × ld: the v tile, then the k tile
  T* dss = kv + BK * ld;               // BQ × PLD: dS
  const int tx = threadIdx.x % kSide, ty = threadIdx.x / kSide;
  const int64_t bh = blockIdx.x % g.bh, qt = g.tiles - 1 - blockIdx.x / g.bh;
  const int64_t bkv = bh / g.heads * g.kv_heads + bh % g.heads / g.group;
  const int64_t i0 = qt * BQ;
  const int nq = int(min64(BQ, g.t - i0));
  const T scale = T(g.scale);
  load_tile(qs, q + (bh * g.t + i0) * g.d, nq, BQ, g.d, ld);
  load_tile(dos, dout + (bh * g.t + i0) * g.d, nq, BQ, g.d, ld);

  T acc[RI][DC], row_lse[RI], row_delta[RI];
#pragma unroll
  for (int i = 0; i < RI; ++i) {
    const int r = ty + kSide * i;
    row_lse[i] = r < nq ? lse[bh * g.t + i0 + r] : neg_inf<T>();  // −inf: the row has no P
    row_delta[i] = r < nq ? delta[bh * g.t + i0 + r] : T(0);
#pragma unroll
    for (int c = 0; c < DC; ++c) acc[i][c] = T(0);
  }
  const int64_t kend = g.causal ? min64(g.s, i0 + nq + g.shift) : g.s;
  for (int64_t j0 = 0; j0 < kend; j0 += BK) {
    const int nk = int(min64(BK, kend - j0));
    __syncthreads();  // the previous tile's readers of kv and dss are done
    load_tile(kv, v + (bkv * g.s + j0) * g.d, nk, BK, g.d, ld);
    __syncthreads();
    T dp[RI][RJ], s[RI][RJ];
    tile_dots(dp, dos, kv, g.d, ld);  // dP = dout·vᵀ
    __syncthreads();                  // done with the v tile
    load_tile(kv, k + (bkv * g.s + j0) * g.d, nk, BK, g.d, ld);
    __syncthreads();
    tile_dots(s, qs, kv, g.d, ld);  // S = q·kᵀ
#pragma unroll
    for (int i = 0; i < RI; ++i) {
      const int64_t t = i0 + ty + kSide * i;
#pragma unroll
      for (int j = 0; j < RJ; ++j) {
        const int jj = tx + kSide * j;
        const bool visible = jj < nk && row_lse[i] != neg_inf<T>() && (!g.causal || j0 + jj <= t + g.shift);
        const T p = visible ? exp_t(T(s[i][j] * scale - row_lse[i])) : T(0);
        dss[(ty + kSide * i) * PLD + jj] = visible ? p * (dp[i][j] - row_delta[i]) * scale : T(0);
      }
    }
    __syncthreads();                                  // dS is in place
    tile_accumulate(acc, dss, PLD, kv, nk, g.d, ld);  // dq += dS·k
  }
  store_rows(dq + (bh * g.t + i0) * g.d, acc, nq, g.d);
}

template <typename T, int DC, int BK, int BQ>
__global__ void __launch_bounds__(kBlock)
    attention_dkv_kernel(T* dk, T* dv, const T* dout, const T* q, const T* k, const T* v, const T* lse,
                         const T* delta, Geo g) {
  constexpr int RI = BK / kSide, RJ = BQ / kSide, PLD = BQ + 1;
  extern __shared__ __align__(16) unsigned char smem[];
  const int ld = g.ld;
  T* ks = reinterpret_cast<T*>(smem);  // BK × ld
  T* vs = ks + BK * ld;                // BK × ld
  T* qs = vs + BK * ld;                // BQ × ld
  T* dos = qs + BQ * ld;               // BQ × ld: dout
  T* pts = dos + BQ * ld;              // BK × PLD: Pᵀ
  T* dsts = pts + BK * PLD;            // BK × PLD: dSᵀ
  T* lse_s = dsts + BK * PLD;          // BQ
  T* delta_s = lse_s + BQ;             // BQ
  const int tx = threadIdx.x % kSide, ty = threadIdx.x / kSide;
  const int64_t bkv = blockIdx.x % g.bkv, kt = blockIdx.x / g.bkv;
  const int64_t b = bkv / g.kv_heads, hkv = bkv % g.kv_heads;
  const int64_t j0 = kt * BK;
  const int nk = int(min64(BK, g.s - j0));
  const T scale = T(g.scale);
  load_tile(ks, k + (bkv * g.s + j0) * g.d, nk, BK, g.d, ld);
  load_tile(vs, v + (bkv * g.s + j0) * g.d, nk, BK, g.d, ld);

  T dka[RI][DC], dva[RI][DC];
#pragma unroll
  for (int i = 0; i < RI; ++i)
#pragma unroll
    for (int c = 0; c < DC; ++c) dka[i][c] = T(0), dva[i][c] = T(0);
  const int64_t i_first = g.causal ? (j0 > g.shift ? j0 - g.shift : 0) : 0;  // the first query seeing key j0
  for (int64_t h = hkv * g.group; h < (hkv + 1) * g.group; ++h) {
    const int64_t bh = b * g.heads + h;
    for (int64_t i0 = i_first / BQ * BQ; i0 < g.t; i0 += BQ) {
      const int nq = int(min64(BQ, g.t - i0));
      __syncthreads();  // the previous tile's readers of qs, dos, pts, dsts, lse_s, delta_s are done
      load_tile(qs, q + (bh * g.t + i0) * g.d, nq, BQ, g.d, ld);
      load_tile(dos, dout + (bh * g.t + i0) * g.d, nq, BQ, g.d, ld);
      for (int c = threadIdx.x; c < BQ; c += kBlock) {
        lse_s[c] = c < nq ? lse[bh * g.t + i0 + c] : neg_inf<T>();  // −inf: the query has no P
        delta_s[c] = c < nq ? delta[bh * g.t + i0 + c] : T(0);
      }
      __syncthreads();
      T s[RI][RJ], dp[RI][RJ];
      tile_dots(s, ks, qs, g.d, ld);    // Sᵀ = k·qᵀ
      tile_dots(dp, vs, dos, g.d, ld);  // dPᵀ = v·doutᵀ
#pragma unroll
      for (int i = 0; i < RI; ++i) {
        const int r = ty + kSide * i;  // key j0 + r
#pragma unroll
        for (int j = 0; j < RJ; ++j) {
          const int c = tx + kSide * j;  // query i0 + c
          const T l = lse_s[c];
          const bool visible = r < nk && l != neg_inf<T>() && (!g.causal || j0 + r <= i0 + c + g.shift);
          const T p = visible ? exp_t(T(s[i][j] * scale - l)) : T(0);
          pts[r * PLD + c] = p;
          dsts[r * PLD + c] = visible ? p * (dp[i][j] - delta_s[c]) * scale : T(0);
        }
      }
      __syncthreads();                                   // Pᵀ and dSᵀ are in place
      tile_accumulate(dva, pts, PLD, dos, nq, g.d, ld);  // dv += Pᵀ·dout
      tile_accumulate(dka, dsts, PLD, qs, nq, g.d, ld);  // dk += dSᵀ·q
    }
  }
  store_rows(dk + (bkv * g.s + j0) * g.d, dka, nk, g.d);
  store_rows(dv + (bkv * g.s + j0) * g.d, dva, nk, g.d);
}

// Tile sizes (multiples of kSide) by dtype and D bucket: rows × columns of the score tile.
//   forward, dq: BQ queries × BK keys; dk/dv: BK keys × BQ queries.
template <typename T, int DC>
struct Tiles {
  static constexpr bool kF32 = sizeof(T) == 4;
  static constexpr int kFwdQ = DC == 16 ? 32 : 64;
  static constexpr int kFwdK = DC == 16 || (DC == 8 && !kF32) ? 32 : 64;
  static constexpr int kDqQ = DC == 4 ? 64 : DC == 8 ? (kF32 ? 64 : 32) : (kF32 ? 32 : 16);
  static constexpr int kDqK = DC == 4 ? 64 : 32;
  static constexpr int kDkvK = DC == 4 ? 64 : DC == 16 && !kF32 ? 16 : 32;
  static constexpr int kDkvQ = DC == 4 ? (kF32 ? 64 : 32) : DC == 16 && !kF32 ? 16 : 32;
};

// Shared-memory bytes of each kernel (layouts as in the kernels).
template <typename T>
size_t forward_smem(int bq, int bk, int ld) {
  return size_t(bq * ld + bk * ld + bq * (bk + 1)) * sizeof(T);
}
template <typename T>
size_t dq_smem(int bq, int bk, int ld) {
  return size_t(2 * bq * ld + bk * ld + bq * (bk + 1)) * sizeof(T);
}
template <typename T>
size_t dkv_smem(int bk, int bq, int ld) {
  return size_t(2 * bk * ld + 2 * bq * ld + 2 * bk * (bq + 1) + 2 * bq) * sizeof(T);
}

// Checks `bytes` against the device's per-block limit and opts the kernel in above the 48 KiB default.
template <typename Kernel>
void allow_smem(Kernel kernel, size_t bytes, int64_t d, int device) {
  int limit = 0;
  SRA_CUDA_CHECK(cudaDeviceGetAttribute(&limit, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  SRA_CHECK(bytes <= size_t(limit), "[attention] head dim ", d, " needs ", bytes,
            " bytes of shared memory per block; this GPU allows ", limit);
  if (bytes > 48 * 1024)
    SRA_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)));
}

// Calls f(std::integral_constant<int, DC>) for the D bucket of d.
template <typename F>
void with_head_dim(int64_t d, F&& f) {
  SRA_CHECK(d >= 1 && d <= kMaxD, "[attention] head dim ", d, " is not supported on CUDA (1 to ", kMaxD, ")");
  if (d <= 64) return f(std::integral_constant<int, 4>{});
  if (d <= 128) return f(std::integral_constant<int, 8>{});
  f(std::integral_constant<int, 16>{});
}

Geo geometry(const AttentionDims& m, int64_t tiles) {
  Geo g;
  g.bh = m.batch * m.heads, g.bkv = m.batch * m.kv_heads;
  g.heads = m.heads, g.kv_heads = m.kv_heads, g.group = m.heads / m.kv_heads;
  g.t = m.t, g.s = m.s, g.shift = m.s - m.t;
  g.tiles = tiles;
  g.d = int(m.d), g.ld = int(m.d) | 1;
  g.causal = m.causal;
  g.scale = m.scale;
  return g;
}

// Blocks of a launch over `tiles` tiles of each of `heads` heads (all in gridDim.x).
unsigned blocks(int64_t tiles, int64_t heads) {
  const int64_t n = tiles * heads;
  SRA_CHECK(n <= int64_t(0x7fffffff), "[attention] ", n, " blocks exceed the CUDA grid limit");
  return unsigned(n);
}

int64_t tiles_of(int64_t n, int tile) {
  return (n + tile - 1) / tile;
}

}  // namespace

void attention_forward_cuda(const AttentionArgs& a, int device) {
  const AttentionDims& m = a.dims;
  if (m.batch * m.heads * m.t == 0) return;
  if (a.in_dtype == DType::bf16) return attention_forward_bf16_cuda(a, device);
  cuda::DeviceGuard guard(device);
  cudaStream_t stream = cuda::stream(device);
  for_float(a.dtype, "attention", "CUDA", [&](auto tag) {
    using T = decltype(tag);
    with_head_dim(m.d, [&](auto dc) {
      constexpr int DC = decltype(dc)::value, BQ = Tiles<T, DC>::kFwdQ, BK = Tiles<T, DC>::kFwdK;
      const Geo g = geometry(m, tiles_of(m.t, BQ));
      const size_t smem = forward_smem<T>(BQ, BK, g.ld);
      auto kernel = attention_forward_kernel<T, DC, BQ, BK>;
      allow_smem(kernel, smem, m.d, device);
      kernel<<<blocks(g.tiles, g.bh), kBlock, smem, stream>>>(
          static_cast<T*>(a.out), static_cast<T*>(a.lse), static_cast<const T*>(a.q),
          static_cast<const T*>(a.k), static_cast<const T*>(a.v), g);
      cuda::check_launch("attention", device);
    });
  });
}

void attention_backward_cuda(const AttentionBackwardArgs& a, int device) {
  const AttentionDims& m = a.dims;
  if (m.batch * m.heads * m.t == 0) return;  // the dispatcher zeroes dk, dv
  if (a.in_dtype == DType::bf16) return attention_backward_bf16_cuda(a, device);
  cuda::DeviceGuard guard(device);
  cudaStream_t stream = cuda::stream(device);
  for_float(a.dtype, "attention", "CUDA", [&](auto tag) {
    using T = decltype(tag);
    const int64_t rows = m.batch * m.heads * m.t;
    SRA_CHECK(a.scratch != nullptr && a.scratch_bytes >= size_t(rows) * sizeof(T),
              "[attention] backward scratch of ", a.scratch_bytes, " bytes is too small");
    auto* delta = static_cast<T*>(a.scratch);
    auto* dout = static_cast<const T*>(a.dout);
    auto* q = static_cast<const T*>(a.q);
    auto* k = static_cast<const T*>(a.k);
    auto* v = static_cast<const T*>(a.v);
    auto* lse = static_cast<const T*>(a.lse);
    with_head_dim(m.d, [&](auto dc) {
      constexpr int DC = decltype(dc)::value;
      attention_delta_kernel<T><<<cuda::grid_for(rows, kBlock / 32), kBlock, 0, stream>>>(
          delta, dout, static_cast<const T*>(a.out), rows, int(m.d));
      cuda::check_launch("attention_backward", device);

      constexpr int DQ_Q = Tiles<T, DC>::kDqQ, DQ_K = Tiles<T, DC>::kDqK;
      const Geo gq = geometry(m, tiles_of(m.t, DQ_Q));
      const size_t dq_bytes = dq_smem<T>(DQ_Q, DQ_K, gq.ld);
      auto dq_kernel = attention_dq_kernel<T, DC, DQ_Q, DQ_K>;
      allow_smem(dq_kernel, dq_bytes, m.d, device);
      dq_kernel<<<blocks(gq.tiles, gq.bh), kBlock, dq_bytes, stream>>>(static_cast<T*>(a.dq), dout, q, k, v,
                                                                       lse, delta, gq);
      cuda::check_launch("attention_backward", device);

      constexpr int KV_K = Tiles<T, DC>::kDkvK, KV_Q = Tiles<T, DC>::kDkvQ;
      const Geo gk = geometry(m, tiles_of(m.s, KV_K));
      const size_t kv_bytes = dkv_smem<T>(KV_K, KV_Q, gk.ld);
      auto kv_kernel = attention_dkv_kernel<T, DC, KV_K, KV_Q>;
      allow_smem(kv_kernel, kv_bytes, m.d, device);
      kv_kernel<<<blocks(gk.tiles, gk.bkv), kBlock, kv_bytes, stream>>>(
          static_cast<T*>(a.dk), static_cast<T*>(a.dv), dout, q, k, v, lse, delta, gk);
      cuda::check_launch("attention_backward", device);
    });
  });
}

}  // namespace sra::kern
