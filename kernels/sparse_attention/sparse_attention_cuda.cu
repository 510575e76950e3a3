// Sparse attention on CUDA (math in sparse_attention.h; sparse_attention_cpu.cpp is the oracle). All
// passes are queued on the device's stream, read nothing back to the host and use no atomics: every sum
// runs in a fixed order, so results are bitwise identical run to run.
//   far list  one block of 1024 threads per batch row scans T in chunks of 1024 (warp ballots, then the
//             32 warp counts): fpos[b, c] = position of the row's c-th far key (sinks, then selected
//             tokens j ≥ n_sinks, ascending) and before[b, x] = far keys at positions < x (x ≤ T).
//   forward   one block per (query tile of R queries, b·h) in gridDim.x. The tile meets the far keys with
//             position ≤ its last query − W (a prefix of the list, before[·] gives its length) in tiles of
//             R, then the window keys [max(0, i0 − W + 1), i0 + iq) in tiles of R; each query masks by
//             position (far: j ≤ i − W; window: i − W < j ≤ i). Online softmax in T: scores s·scale +
//             bias (log gate for critical keys, so gate 0 gives weight exactly 0), masked ones −inf.
//   Δ         one warp per query row: Δ_i = dout_i·out_i.
//   dq        as the forward: per key tile S = q·kᵀ and dP = dout·vᵀ, dS = P(dP − Δ)·scale, dq += dS·k.
//   dk, dv    window pass: one block per (key tile, b·kv head) meets the queries [j0, j0 + jn − 1 + W) of
//             every head of the group in order, by query tiles; writes dk, dv. Far pass (after it, on
//             the same stream): one block per (tile of R far keys, b·kv head) meets the queries
//             i ≥ j + W the same way and adds its sums into dk, dv at the far keys' positions (each far
//             key belongs to one block: no race) and writes the gate gradient parts fdg[b, g, c].
//   dgate     zeroed, then dgate[b, j] = Σ over kv heads in order of fdg for each far key j ≥ n_sinks.
// Tiles: 256 threads as a 16 × 16 grid (ty, tx). A score tile (R × R) gives thread (ty, tx) the rows
// ty + 16i and columns tx + 16j (i, j < R/16); an accumulator tile (R × D) the rows ty + 16i and columns
// tx + 16j (j < DMAX/16), in registers. Row statistics (max, sums) combine the 16 lanes of a row by an
// xor butterfly (the same value in every lane). Operand tiles live in shared memory, rows of DMAX + 1
// (odd: no bank conflicts), zero padded: q, k, v, dout tiles of R × D and the R × R probability tiles.
// DMAX is D rounded up to 32, 64, 128 or 256 (larger D is an error); R = 64, or 32 / 16 where the
// tiles would not fit in the 227 KiB of shared memory of an H100/H200 block (f32 D > 128: 32; f64
// D > 64: 32, D > 128: 16). Work O(T·(K + W + n_sinks)·D) per head; no T × T buffer.
#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "core/cuda_launch.h"
#include "kernels/common/block_tree_cuda.cuh"
#include "kernels/common/dtype_switch.h"
#include "kernels/sparse_attention/sparse_attention.h"

namespace sra::kern {

namespace {

using row_tree::exp_t;
using row_tree::log_t;
using row_tree::max_t;
using row_tree::neg_inf;

constexpr int kBlock = 256;         // threads of the attention kernels
constexpr int kListThreads = 1024;  // threads of the far-list kernel (32 warps)
constexpr unsigned kFull = 0xffffffffu;

// Sum / max over the 16 lanes of a half warp (one score row); every lane gets the same value.
template <typename T>
__device__ inline T half_sum(T v) {
  for (int o = 8; o > 0; o >>= 1) v += __shfl_xor_sync(kFull, v, o);
  return v;
}
template <typename T>
__device__ inline T half_max(T v) {
  for (int o = 8; o > 0; o >>= 1) v = max_t(v, __shfl_xor_sync(kFull, v, o));
  return v;
}

struct Geo {  // what the kernels read of the dims; window and sinks clamped to T
  int64_t heads, kv_heads, group;
  int t, d, window, sinks;
};

// Tile shapes for element type T_ and head dims up to DMAX_.
template <typename T_, int DMAX_>
struct Cfg {
  using T = T_;
  static constexpr int DMAX = DMAX_;
  static constexpr int R = sizeof(T) == 4 ? (DMAX <= 128 ? 64 : 32)
                                          : (DMAX <= 64    ? 64
                                             : DMAX == 128 ? 32
                                                           : 16);
  static constexpr int RR = R / 16;     // score rows (and columns) per thread
  static constexpr int NJ = DMAX / 16;  // accumulator columns per thread
  static constexpr int DS = DMAX + 1;   // row stride of an R × D tile in shared memory
  static constexpr int PS = R + 1;      // row stride of an R × R tile
};

// The shared memory of one kernel: `big` R × D tiles, `small` R × R tiles, `vec` R-vectors of T, then one
// R-vector of int. Kernels take their pieces in this order.
struct Smem {
  int big, small, vec;
};
constexpr Smem kForwardSmem{3, 1, 1};  // q, k, v; P; key bias
constexpr Smem kDqSmem{4, 1, 3};       // q, dout, k, v; dS; key bias, lse, Δ
constexpr Smem kKeySmem{4, 2, 3};      // k, v, q, dout; P, dS; key bias, lse, Δ

template <typename C>
constexpr size_t smem_bytes(Smem s) {
  return (size_t(s.big) * C::R * C::DS + size_t(s.small) * C::R * C::PS + size_t(s.vec) * C::R) *
             sizeof(typename C::T) +
         size_t(C::R) * sizeof(int);
}

struct Bump {  // hands out consecutive pieces of the dynamic shared memory
  unsigned char* p;
  template <typename U>
  __device__ U* take(int n) {
    U* r = reinterpret_cast<U*>(p);
    p += size_t(n) * sizeof(U);
    return r;
  }
};

// dst (R × DS) ← the rows src + row[r]·d, zero where row[r] < 0 and in the columns ≥ d.
template <typename C>
__device__ void load_rows(typename C::T* dst, const typename C::T* src, const int* row, int d) {
  using T = typename C::T;
  for (int e = threadIdx.x; e < C::R * C::DMAX; e += kBlock) {
    const int r = e / C::DMAX, c = e % C::DMAX;
    const int p = row[r];
    dst[r * C::DS + c] = p >= 0 && c < d ? src[int64_t(p) * d + c] : T(0);
  }
}
// dst (R × DS) ← the rows [first, first + n) of src, zero padded.
template <typename C>
__device__ void load_range(typename C::T* dst, const typename C::T* src, int first, int n, int d) {
  using T = typename C::T;
  for (int e = threadIdx.x; e < C::R * C::DMAX; e += kBlock) {
    const int r = e / C::DMAX, c = e % C::DMAX;
    dst[r * C::DS + c] = r < n && c < d ? src[int64_t(first + r) * d + c] : T(0);
  }
}

// s[i][j] = Σ_{c < d} a[row ty + 16i, c] · b[row tx + 16j, c] (both R × DS tiles), c in order.
template <typename C>
__device__ void scores(typename C::T (&s)[C::RR][C::RR], const typename C::T* a, const typename C::T* b,
                       int d) {
  using T = typename C::T;
  const int ty = threadIdx.x / 16, tx = threadIdx.x % 16;
#pragma unroll
  for (int i = 0; i < C::RR; ++i)
#pragma unroll
    for (int j = 0; j < C::RR; ++j) s[i][j] = T(0);
#pragma unroll 4
  for (int c = 0; c < d; ++c) {
    T av[C::RR], bv[C::RR];
#pragma unroll
    for (int i = 0; i < C::RR; ++i) av[i] = a[(ty + 16 * i) * C::DS + c];
#pragma unroll
    for (int j = 0; j < C::RR; ++j) bv[j] = b[(tx + 16 * j) * C::DS + c];
#pragma unroll
    for (int i = 0; i < C::RR; ++i)
#pragma unroll
      for (int j = 0; j < C::RR; ++j) s[i][j] += av[i] * bv[j];
  }
}

// acc[i][j] += Σ_{k < R} p[row ty + 16i, k] · v[row k, column tx + 16j] (p R × PS, v R × DS), k in order.
template <typename C>
__device__ void accumulate(typename C::T (&acc)[C::RR][C::NJ], const typename C::T* p,
                           const typename C::T* v) {
  using T = typename C::T;
  const int ty = threadIdx.x / 16, tx = threadIdx.x % 16;
#pragma unroll 2
  for (int k = 0; k < C::R; ++k) {
    T pv[C::RR], vv[C::NJ];
#pragma unroll
    for (int i = 0; i < C::RR; ++i) pv[i] = p[(ty + 16 * i) * C::PS + k];
#pragma unroll
    for (int j = 0; j < C::NJ; ++j) vv[j] = v[k * C::DS + tx + 16 * j];
#pragma unroll
    for (int i = 0; i < C::RR; ++i)
#pragma unroll
      for (int j = 0; j < C::NJ; ++j) acc[i][j] += pv[i] * vv[j];
  }
}

template <typename C>
__device__ void zero(typename C::T (&acc)[C::RR][C::NJ]) {
#pragma unroll
  for (int i = 0; i < C::RR; ++i)
#pragma unroll
    for (int j = 0; j < C::NJ; ++j) acc[i][j] = typename C::T(0);
}

// ---- the far list ---------------------------------------------------------------------------------------

__global__ void __launch_bounds__(kListThreads)
    far_list_kernel(int* fpos, int* before, const uint8_t* selected, int t, int sinks) {
  __shared__ int warp_end[32];  // inclusive prefix of the warps' counts
  const int64_t b = blockIdx.x;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  int* fp = fpos + b * t;
  int* bf = before + b * (int64_t(t) + 1);
  int base = 0;
  for (int j0 = 0; j0 < t; j0 += kListThreads) {
    const int j = j0 + int(threadIdx.x);
    const bool far = j < t && (j < sinks || selected[b * t + j] != 0);
    const unsigned mask = __ballot_sync(kFull, far);
    if (lane == 0) warp_end[warp] = __popc(mask);
    __syncthreads();
    if (warp == 0) {
      int x = warp_end[lane];
      for (int o = 1; o < 32; o <<= 1) {
        const int y = __shfl_up_sync(kFull, x, o);
        if (lane >= o) x += y;
      }
      warp_end[lane] = x;
    }
    __syncthreads();
    const int at = base + (warp == 0 ? 0 : warp_end[warp - 1]) + __popc(mask & ((1u << lane) - 1u));
    if (j < t) bf[j] = at;
    if (far) fp[at] = j;
    base += warp_end[31];
    __syncthreads();  // warp_end is rewritten by the next chunk
  }
  if (threadIdx.x == 0) bf[t] = base;
}

// ---- forward and dq: a block per query tile -------------------------------------------------------------

// The key tiles of the query tile [i0, i0 + iq) of one batch row (bf: its row of far-key counts): far tiles
// over the far keys at positions ≤ i0 + iq − 1 − W, then the window keys [jlo, jhi) in tiles of R.
struct QueryPlan {
  int nvis, far_tiles, jlo, jhi, tiles;
};

template <int R>
__device__ QueryPlan query_plan(const int* bf, int i0, int iq, const Geo& g) {
  QueryPlan p;
  const int x = i0 + iq - g.window;  // far keys at positions < x
  p.nvis = x > 0 ? bf[x] : 0;
  p.far_tiles = (p.nvis + R - 1) / R;
  p.jlo = max(0, i0 - g.window + 1);
  p.jhi = i0 + iq;
  p.tiles = p.far_tiles + (p.jhi - p.jlo + R - 1) / R;
  return p;
}

// Row r < R of key tile `tile`: its position krow[r] (−1: padding) and bias kbias[r] (log gate for a
// critical far key, else 0). fp, gate: the batch row's far positions and gates.
template <typename C>
__device__ void set_key_row(int r, int tile, const QueryPlan& p, const int* fp, const typename C::T* gate,
                            int sinks, int* krow, typename C::T* kbias) {
  using T = typename C::T;
  int pos = -1;
  T bias = T(0);
  if (tile < p.far_tiles) {
    const int c = tile * C::R + r;
    if (c < p.nvis) {
      pos = fp[c];
      if (pos >= sinks) bias = log_t(gate[pos]);
    }
  } else {
    const int j = p.jlo + (tile - p.far_tiles) * C::R + r;
    if (j < p.jhi) pos = j;
  }
  krow[r] = pos;
  kbias[r] = bias;
}

// Query i sees key position j (≥ 0) of a far tile when j ≤ i − W, of a window tile when i − W < j ≤ i.
__device__ inline bool sees(bool far, int i, int j, int w) {
  return j >= 0 && (far ? j <= i - w : j <= i && j > i - w);
}

template <typename C>
__global__ void __launch_bounds__(kBlock)
    forward_kernel(typename C::T* out, typename C::T* lse, const typename C::T* q, const typename C::T* k,
                   const typename C::T* v, const typename C::T* gate, const int* fpos, const int* before,
                   Geo g, typename C::T scale) {
  using T = typename C::T;
  constexpr int R = C::R, RR = C::RR, NJ = C::NJ;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  Bump sm{smem_raw};
  T* qs = sm.take<T>(R * C::DS);
  T* ks = sm.take<T>(R * C::DS);
  T* vs = sm.take<T>(R * C::DS);
  T* ps = sm.take<T>(R * C::PS);
  T* kbias = sm.take<T>(R);
  int* krow = sm.take<int>(R);

  const int nqt = (g.t + R - 1) / R;
  const int i0 = int(blockIdx.x % nqt) * R, iq = min(R, g.t - i0);
  const int64_t bh = blockIdx.x / nqt, b = bh / g.heads;
  const int64_t bg = b * g.kv_heads + bh % g.heads / g.group;
  const int ty = threadIdx.x / 16, tx = threadIdx.x % 16;
  const QueryPlan plan = query_plan<R>(before + b * (int64_t(g.t) + 1), i0, iq, g);
  const T* kb = k + bg * g.t * g.d;
  const T* vb = v + bg * g.t * g.d;
  load_range<C>(qs, q + bh * g.t * g.d, i0, iq, g.d);

  T m[RR], l[RR], acc[RR][NJ];
#pragma unroll
  for (int i = 0; i < RR; ++i) m[i] = neg_inf<T>(), l[i] = T(0);
  zero<C>(acc);
  for (int tile = 0; tile < plan.tiles; ++tile) {
    const bool far = tile < plan.far_tiles;
    __syncthreads();  // the previous tile's k, v, P are consumed
    if (threadIdx.x < R)
      set_key_row<C>(threadIdx.x, tile, plan, fpos + b * g.t, gate + b * g.t, g.sinks, krow, kbias);
    __syncthreads();
    load_rows<C>(ks, kb, krow, g.d);
    load_rows<C>(vs, vb, krow, g.d);
    __syncthreads();
    T s[RR][RR];
    scores<C>(s, qs, ks, g.d);
#pragma unroll
    for (int i = 0; i < RR; ++i) {
      const int a = ty + 16 * i, qi = i0 + a;
      T mx = neg_inf<T>();
#pragma unroll
      for (int j = 0; j < RR; ++j) {
        const int col = tx + 16 * j;
        const bool ok = a < iq && sees(far, qi, krow[col], g.window);
        s[i][j] = ok ? s[i][j] * scale + kbias[col] : neg_inf<T>();
        mx = max_t(mx, s[i][j]);
      }
      const T m_new = max_t(m[i], half_max(mx));
      T alpha = T(1), sum = T(0);
      if (m_new == neg_inf<T>()) {  // nothing visible yet (or only zero gates)
#pragma unroll
        for (int j = 0; j < RR; ++j) s[i][j] = T(0);
      } else {
        alpha = exp_t(m[i] - m_new);
#pragma unroll
        for (int j = 0; j < RR; ++j) s[i][j] = exp_t(s[i][j] - m_new), sum += s[i][j];
      }
      l[i] = l[i] * alpha + sum;
      m[i] = m_new;
#pragma unroll
      for (int j = 0; j < NJ; ++j) acc[i][j] *= alpha;
#pragma unroll
      for (int j = 0; j < RR; ++j) ps[a * C::PS + tx + 16 * j] = s[i][j];
    }
    __syncthreads();
    accumulate<C>(acc, ps, vs);
  }
#pragma unroll
  for (int i = 0; i < RR; ++i) {
    const T total = half_sum(l[i]);
    const int a = ty + 16 * i;
    if (a >= iq) continue;
    const int64_t row = bh * g.t + i0 + a;
#pragma unroll
    for (int j = 0; j < NJ; ++j) {
      const int c = tx + 16 * j;
      if (c < g.d) out[row * g.d + c] = acc[i][j] / total;
    }
    if (tx == 0) lse[row] = m[i] + log_t(total);
  }
}

// Δ_r = Σ_c dout[r, c]·out[r, c], one warp per row (lanes stride the row, then an xor butterfly).
template <typename T>
__global__ void delta_kernel(T* delta, const T* dout, const T* out, int64_t rows, int d) {
  const int lane = threadIdx.x % 32;
  const int64_t warps = int64_t(gridDim.x) * (blockDim.x / 32);
  for (int64_t r = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) / 32; r < rows; r += warps) {
    T s = T(0);
    for (int c = lane; c < d; c += 32) s += dout[r * d + c] * out[r * d + c];
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(kFull, s, o);
    if (lane == 0) delta[r] = s;
  }
}

template <typename C>
__global__ void __launch_bounds__(kBlock)
    dq_kernel(typename C::T* dq, const typename C::T* dout, const typename C::T* q, const typename C::T* k,
              const typename C::T* v, const typename C::T* gate, const typename C::T* lse,
              const typename C::T* delta, const int* fpos, const int* before, Geo g, typename C::T scale) {
  using T = typename C::T;
  constexpr int R = C::R, RR = C::RR, NJ = C::NJ;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  Bump sm{smem_raw};
  T* qs = sm.take<T>(R * C::DS);
  T* dos = sm.take<T>(R * C::DS);
  T* ks = sm.take<T>(R * C::DS);
  T* vs = sm.take<T>(R * C::DS);
  T* dss = sm.take<T>(R * C::PS);
  T* kbias = sm.take<T>(R);
  T* lse_s = sm.take<T>(R);
  T* delta_s = sm.take<T>(R);
  int* krow = sm.take<int>(R);

  const int nqt = (g.t + R - 1) / R;
  const int i0 = int(blockIdx.x % nqt) * R, iq = min(R, g.t - i0);
  const int64_t bh = blockIdx.x / nqt, b = bh / g.heads;
  const int64_t bg = b * g.kv_heads + bh % g.heads / g.group;
  const int ty = threadIdx.x / 16, tx = threadIdx.x % 16;
  const QueryPlan plan = query_plan<R>(before + b * (int64_t(g.t) + 1), i0, iq, g);
  const T* kb = k + bg * g.t * g.d;
  const T* vb = v + bg * g.t * g.d;
  load_range<C>(qs, q + bh * g.t * g.d, i0, iq, g.d);
  load_range<C>(dos, dout + bh * g.t * g.d, i0, iq, g.d);
  if (threadIdx.x < R) {
    const int r = threadIdx.x;
    lse_s[r] = r < iq ? lse[bh * g.t + i0 + r] : T(0);
    delta_s[r] = r < iq ? delta[bh * g.t + i0 + r] : T(0);
  }

  T acc[RR][NJ];
  zero<C>(acc);
  for (int tile = 0; tile < plan.tiles; ++tile) {
    const bool far = tile < plan.far_tiles;
    __syncthreads();  // the previous tile's k, dS are consumed
    if (threadIdx.x < R)
      set_key_row<C>(threadIdx.x, tile, plan, fpos + b * g.t, gate + b * g.t, g.sinks, krow, kbias);
    __syncthreads();
    load_rows<C>(ks, kb, krow, g.d);
    load_rows<C>(vs, vb, krow, g.d);
    __syncthreads();
    T s[RR][RR], dp[RR][RR];
    scores<C>(s, qs, ks, g.d);
    scores<C>(dp, dos, vs, g.d);
#pragma unroll
    for (int i = 0; i < RR; ++i) {
      const int a = ty + 16 * i, qi = i0 + a;
#pragma unroll
      for (int j = 0; j < RR; ++j) {
        const int col = tx + 16 * j;
        const bool ok = a < iq && sees(far, qi, krow[col], g.window);
        const T p = ok ? exp_t(s[i][j] * scale - lse_s[a] + kbias[col]) : T(0);
        dss[a * C::PS + col] = ok ? p * (dp[i][j] - delta_s[a]) * scale : T(0);
      }
    }
    __syncthreads();
    accumulate<C>(acc, dss, ks);
  }
#pragma unroll
  for (int i = 0; i < RR; ++i) {
    const int a = ty + 16 * i;
    if (a >= iq) continue;
    const int64_t row = bh * g.t + i0 + a;
#pragma unroll
    for (int j = 0; j < NJ; ++j) {
      const int c = tx + 16 * j;
      if (c < g.d) dq[row * g.d + c] = acc[i][j];
    }
  }
}

// ---- dk, dv and the gate gradient: a block per key tile ----------------------------------------------

// The key tile (krow: positions, kbias) of kv group bg against the query tiles [qt0, nqt_end) of every
// head of the group, in order: dk += dSᵀ·q, dv += Pᵀ·dout over the pairs key j, query i with
// visible(j, i); gacc[i] += Σ e^(s·scale − lse)·(dP − Δ) over them (when gate_grad).
template <typename C, bool gate_grad, typename Visible>
__device__ void key_tile_vs_queries(typename C::T (&dk)[C::RR][C::NJ], typename C::T (&dv)[C::RR][C::NJ],
                                    typename C::T (&gacc)[C::RR], const typename C::T* dout,
                                    const typename C::T* q, const typename C::T* lse,
                                    const typename C::T* delta, int64_t b, int64_t kv_head, int qt0,
                                    int qt_end, const Geo& g, typename C::T scale, unsigned char* smem_raw,
                                    Visible&& visible) {
  using T = typename C::T;
  constexpr int R = C::R, RR = C::RR;
  Bump sm{smem_raw};
  const T* ks = sm.take<T>(R * C::DS);
  const T* vs = sm.take<T>(R * C::DS);
  T* qs = sm.take<T>(R * C::DS);
  T* dos = sm.take<T>(R * C::DS);
  T* ps = sm.take<T>(R * C::PS);
  T* dss = sm.take<T>(R * C::PS);
  const T* kbias = sm.take<T>(R);
  T* lse_s = sm.take<T>(R);
  T* delta_s = sm.take<T>(R);
  const int* krow = sm.take<int>(R);
  const int ty = threadIdx.x / 16, tx = threadIdx.x % 16;
  for (int64_t h = kv_head * g.group; h < (kv_head + 1) * g.group; ++h) {
    const int64_t bh = b * g.heads + h;
    for (int qt = qt0; qt < qt_end; ++qt) {
      const int i0 = qt * R, iq = min(R, g.t - i0);
      __syncthreads();  // the previous query tile is consumed (and the key tile is loaded)
      if (threadIdx.x < R) {
        const int r = threadIdx.x;
        lse_s[r] = r < iq ? lse[bh * g.t + i0 + r] : T(0);
        delta_s[r] = r < iq ? delta[bh * g.t + i0 + r] : T(0);
      }
      load_range<C>(qs, q + bh * g.t * g.d, i0, iq, g.d);
      load_range<C>(dos, dout + bh * g.t * g.d, i0, iq, g.d);
      __syncthreads();
      T s[RR][RR], dp[RR][RR];
      scores<C>(s, ks, qs, g.d);
      scores<C>(dp, vs, dos, g.d);
#pragma unroll
      for (int i = 0; i < RR; ++i) {
        const int kr = ty + 16 * i, j = krow[kr];
#pragma unroll
        for (int jj = 0; jj < RR; ++jj) {
          const int a = tx + 16 * jj;
          const bool ok = a < iq && j >= 0 && visible(j, i0 + a);
          const T x = ok ? s[i][jj] * scale - lse_s[a] : neg_inf<T>();
          const T gd = ok ? dp[i][jj] - delta_s[a] : T(0);
          const T p = exp_t(x + kbias[kr]);
          ps[kr * C::PS + a] = p;
          dss[kr * C::PS + a] = p * gd * scale;
          if (gate_grad) gacc[i] += exp_t(x) * gd;
        }
      }
      __syncthreads();
      accumulate<C>(dv, ps, dos);
      accumulate<C>(dk, dss, qs);
    }
  }
}

// Window part: key tile [j0, j0 + jn) of kv group bg, the queries [j0, j0 + jn − 1 + W) of each head.
template <typename C>
__global__ void __launch_bounds__(kBlock)
    dkv_window_kernel(typename C::T* dk, typename C::T* dv, const typename C::T* dout, const typename C::T* q,
                      const typename C::T* k, const typename C::T* v, const typename C::T* lse,
                      const typename C::T* delta, Geo g, typename C::T scale) {
  using T = typename C::T;
  constexpr int R = C::R, RR = C::RR, NJ = C::NJ;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  Bump sm{smem_raw};
  T* ks = sm.take<T>(R * C::DS);
  T* vs = sm.take<T>(R * C::DS);
  sm.take<T>(2 * R * C::DS + 2 * R * C::PS);  // q, dout, P, dS
  T* kbias = sm.take<T>(R);
  sm.take<T>(2 * R);  // lse, Δ
  int* krow = sm.take<int>(R);

  const int nkt = (g.t + R - 1) / R;
  const int j0 = int(blockIdx.x % nkt) * R, jn = min(R, g.t - j0);
  const int64_t bg = blockIdx.x / nkt, b = bg / g.kv_heads;
  const int ty = threadIdx.x / 16, tx = threadIdx.x % 16;
  if (threadIdx.x < R)
    krow[threadIdx.x] = int(threadIdx.x) < jn ? j0 + int(threadIdx.x) : -1, kbias[threadIdx.x] = T(0);
  load_range<C>(ks, k + bg * g.t * g.d, j0, jn, g.d);
  load_range<C>(vs, v + bg * g.t * g.d, j0, jn, g.d);

  T dka[RR][NJ], dva[RR][NJ], gacc[RR];
  zero<C>(dka);
  zero<C>(dva);
  const int i_end = min(g.t, j0 + jn - 1 + g.window);  // queries [j0, i_end) see a key of the tile
  const int w = g.window;
  key_tile_vs_queries<C, false>(dka, dva, gacc, dout, q, lse, delta, b, bg % g.kv_heads, j0 / R,
                                (i_end + R - 1) / R, g, scale, smem_raw,
                                [w](int j, int i) { return i >= j && i - w < j; });
#pragma unroll
  for (int i = 0; i < RR; ++i) {
    const int kr = ty + 16 * i;
    if (kr >= jn) continue;
    const int64_t row = bg * g.t + j0 + kr;
#pragma unroll
    for (int j = 0; j < NJ; ++j) {
      const int c = tx + 16 * j;
      if (c < g.d) dk[row * g.d + c] = dka[i][j], dv[row * g.d + c] = dva[i][j];
    }
  }
}

// Far part: the far keys [c0, c0 + cn) of batch row b, kv head g, against the queries i ≥ j + W of each
// head; adds into dk, dv (after the window pass) and writes fdg[b, g, c].
template <typename C>
__global__ void __launch_bounds__(kBlock)
    dkv_far_kernel(typename C::T* dk, typename C::T* dv, typename C::T* fdg, const typename C::T* dout,
                   const typename C::T* q, const typename C::T* k, const typename C::T* v,
                   const typename C::T* gate, const typename C::T* lse, const typename C::T* delta,
                   const int* fpos, const int* before, Geo g, typename C::T scale) {
  using T = typename C::T;
  constexpr int R = C::R, RR = C::RR, NJ = C::NJ;
  const int nkt = (g.t + R - 1) / R;
  const int c0 = int(blockIdx.x % nkt) * R;
  const int64_t bg = blockIdx.x / nkt, b = bg / g.kv_heads;
  const int nf = before[b * (int64_t(g.t) + 1) + g.t];
  if (c0 >= nf) return;  // the whole block: past the row's far keys
  const int cn = min(R, nf - c0);
  extern __shared__ __align__(16) unsigned char smem_raw[];
  Bump sm{smem_raw};
  T* ks = sm.take<T>(R * C::DS);
  T* vs = sm.take<T>(R * C::DS);
  sm.take<T>(2 * R * C::DS + 2 * R * C::PS);  // q, dout, P, dS
  T* kbias = sm.take<T>(R);
  sm.take<T>(2 * R);  // lse, Δ
  int* krow = sm.take<int>(R);

  const int* fp = fpos + b * g.t;
  const int ty = threadIdx.x / 16, tx = threadIdx.x % 16;
  if (threadIdx.x < R) {
    const int r = threadIdx.x, pos = r < cn ? fp[c0 + r] : -1;
    krow[r] = pos;
    kbias[r] = pos >= g.sinks ? log_t(gate[b * g.t + pos]) : T(0);
  }
  __syncthreads();
  load_rows<C>(ks, k + bg * g.t * g.d, krow, g.d);
  load_rows<C>(vs, v + bg * g.t * g.d, krow, g.d);

  T dka[RR][NJ], dva[RR][NJ], gacc[RR];
  zero<C>(dka);
  zero<C>(dva);
#pragma unroll
  for (int i = 0; i < RR; ++i) gacc[i] = T(0);
  const int first = fp[c0] + g.window;  // the first query that sees a key of the tile
  const int nqt = (g.t + R - 1) / R;
  const int w = g.window;
  key_tile_vs_queries<C, true>(dka, dva, gacc, dout, q, lse, delta, b, bg % g.kv_heads,
                               first < g.t ? first / R : nqt, nqt, g, scale, smem_raw,
                               [w](int j, int i) { return i >= j + w; });
#pragma unroll
  for (int i = 0; i < RR; ++i) {
    const T gsum = half_sum(gacc[i]);
    const int kr = ty + 16 * i;
    if (kr >= cn) continue;
    const int64_t row = bg * g.t + krow[kr];
#pragma unroll
    for (int j = 0; j < NJ; ++j) {
      const int c = tx + 16 * j;
      if (c < g.d) dk[row * g.d + c] += dka[i][j], dv[row * g.d + c] += dva[i][j];
    }
    if (tx == 0) fdg[bg * g.t + c0 + kr] = krow[kr] >= g.sinks ? gsum : T(0);
  }
}

// dgate[b, j] = Σ_{g in order} fdg[b, g, c] for the far key c at j ≥ n_sinks (dgate zeroed before).
template <typename T>
__global__ void dgate_kernel(T* dgate, const T* fdg, const int* fpos, const int* before, int64_t batch,
                             int64_t kv_heads, int t, int sinks) {
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < batch * t;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t b = e / t;
    const int c = int(e % t);
    if (c >= before[b * (int64_t(t) + 1) + t]) continue;
    const int pos = fpos[b * t + c];
    if (pos < sinks) continue;
    T s = T(0);
    for (int64_t g = 0; g < kv_heads; ++g) s += fdg[(b * kv_heads + g) * t + c];
    dgate[b * t + pos] = s;
  }
}

// ---- host side ------------------------------------------------------------------------------------------

Geo make_geo(const SparseAttentionDims& m) {
  SRA_CHECK(m.t < (int64_t(1) << 30), "[sparse_attention] T = ", m.t, " is too long for CUDA (< 2^30)");
  SRA_CHECK(m.d <= 256, "[sparse_attention] head dim D = ", m.d, " is not supported on CUDA (at most 256)");
  Geo g;
  g.heads = m.heads, g.kv_heads = m.kv_heads, g.group = m.heads / m.kv_heads;
  g.t = int(m.t), g.d = int(m.d);
  g.window = int(std::min(m.window, m.t)), g.sinks = int(std::min(m.n_sinks, m.t));
  return g;
}

// Calls f(Cfg<T, DMAX>{}) with DMAX the head dim rounded up to 32, 64, 128 or 256.
template <typename T, typename F>
void with_cfg(int d, F&& f) {
  if (d <= 32) return f(Cfg<T, 32>{});
  if (d <= 64) return f(Cfg<T, 64>{});
  if (d <= 128) return f(Cfg<T, 128>{});
  return f(Cfg<T, 256>{});
}

// Allows `kernel` bytes of dynamic shared memory (beyond the default 48 KiB) after checking the device has
// them.
template <typename K>
void allow_smem(K kernel, size_t bytes, int device) {
  int optin = 0;
  SRA_CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  SRA_CHECK(bytes <= size_t(optin), "[sparse_attention] needs ", bytes,
            " bytes of shared memory per block; cuda:", device, " offers ", optin);
  SRA_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)));
}

unsigned tile_blocks(int64_t tiles, int64_t rows) {
  const int64_t n = tiles * rows;
  SRA_CHECK(n <= int64_t(INT32_MAX), "[sparse_attention] ", n, " blocks exceed the grid limit");
  return unsigned(n);
}

template <typename T>
T* at(void* base, size_t offset) {
  return reinterpret_cast<T*>(static_cast<unsigned char*>(base) + offset);
}

void check_scratch(const SparseAttentionScratch& s, size_t bytes) {
  SRA_CHECK(bytes >= s.bytes, "[sparse_attention] CUDA scratch of ", bytes, " bytes is too small (needs ",
            s.bytes, ")");
}

// The far list of every batch row into the scratch.
void far_list(const SparseAttentionScratch& s, void* scratch, const uint8_t* selected, int64_t batch,
              const Geo& g, cudaStream_t stream, int device) {
  SRA_CHECK(batch <= int64_t(INT32_MAX), "[sparse_attention] batch ", batch, " exceeds the grid limit");
  far_list_kernel<<<unsigned(batch), kListThreads, 0, stream>>>(
      at<int>(scratch, s.fpos), at<int>(scratch, s.before), selected, g.t, g.sinks);
  cuda::check_launch("sparse_attention", device);
}

// Δ, dq, dk, dv and fdg with the scalar kernels in T (f32, f64 inputs).
template <typename T>
void scalar_backward(const SparseAttentionBackwardArgs& a, const Geo& g, const int* fpos, const int* before,
                     T* delta, T* fdg, cudaStream_t stream, int device) {
  const SparseAttentionDims& m = a.dims;
  auto* dk = static_cast<T*>(a.dk);
  auto* dv = static_cast<T*>(a.dv);
  auto* dout = static_cast<const T*>(a.dout);
  auto* q = static_cast<const T*>(a.q);
  auto* k = static_cast<const T*>(a.k);
  auto* v = static_cast<const T*>(a.v);
  auto* gate = static_cast<const T*>(a.gate);
  auto* lse = static_cast<const T*>(a.lse);
  const T scale = T(m.scale);
  const int64_t rows = m.batch * m.heads * m.t;
  delta_kernel<T><<<cuda::grid_for(rows * 32), cuda::kThreads, 0, stream>>>(
      delta, dout, static_cast<const T*>(a.out), rows, g.d);
  cuda::check_launch("sparse_attention", device);
  with_cfg<T>(g.d, [&](auto cfg) {
    using C = decltype(cfg);
    const int64_t tiles = (g.t + C::R - 1) / C::R;
    const size_t dq_bytes = smem_bytes<C>(kDqSmem), key_bytes = smem_bytes<C>(kKeySmem);
    allow_smem(dq_kernel<C>, dq_bytes, device);
    dq_kernel<C><<<tile_blocks(tiles, m.batch * m.heads), kBlock, dq_bytes, stream>>>(
        static_cast<T*>(a.dq), dout, q, k, v, gate, lse, delta, fpos, before, g, scale);
    cuda::check_launch("sparse_attention", device);
    const unsigned key_blocks = tile_blocks(tiles, m.batch * m.kv_heads);
    allow_smem(dkv_window_kernel<C>, key_bytes, device);
    dkv_window_kernel<C>
        <<<key_blocks, kBlock, key_bytes, stream>>>(dk, dv, dout, q, k, v, lse, delta, g, scale);
    cuda::check_launch("sparse_attention", device);
    allow_smem(dkv_far_kernel<C>, key_bytes, device);
    dkv_far_kernel<C><<<key_blocks, kBlock, key_bytes, stream>>>(dk, dv, fdg, dout, q, k, v, gate, lse, delta,
                                                                 fpos, before, g, scale);
    cuda::check_launch("sparse_attention", device);
  });
}

}  // namespace

void sparse_attention_forward_cuda(const SparseAttentionArgs& a, int device) {
  const SparseAttentionDims& m = a.dims;
  if (m.batch * m.heads * m.t * m.d == 0) return;
  const Geo g = make_geo(m);
  cuda::DeviceGuard guard(device);
  cudaStream_t stream = cuda::stream(device);
  const SparseAttentionScratch s = sparse_attention_scratch(Device::cuda(device), a.dtype, m, false);
  check_scratch(s, a.scratch_bytes);
  far_list(s, a.scratch, a.selected, m.batch, g, stream, device);
  const int* fpos = at<int>(a.scratch, s.fpos);
  const int* before = at<int>(a.scratch, s.before);
  if (a.in_dtype == DType::bf16) return sparse_attention_forward_bf16_cuda(a, fpos, before, device);
  for_float(a.dtype, "sparse_attention", "CUDA", [&](auto tag) {
    using T = decltype(tag);
    with_cfg<T>(g.d, [&](auto cfg) {
      using C = decltype(cfg);
      const size_t bytes = smem_bytes<C>(kForwardSmem);
      allow_smem(forward_kernel<C>, bytes, device);
      const unsigned blocks = tile_blocks((g.t + C::R - 1) / C::R, m.batch * m.heads);
      forward_kernel<C><<<blocks, kBlock, bytes, stream>>>(
          static_cast<T*>(a.out), static_cast<T*>(a.lse), static_cast<const T*>(a.q),
          static_cast<const T*>(a.k), static_cast<const T*>(a.v), static_cast<const T*>(a.gate), fpos, before,
          g, T(m.scale));
      cuda::check_launch("sparse_attention", device);
    });
  });
}

void sparse_attention_backward_cuda(const SparseAttentionBackwardArgs& a, int device) {
  const SparseAttentionDims& m = a.dims;
  if (m.batch * m.heads * m.t * m.d == 0) return;  // the dispatcher zeroes dk, dv, dgate
  const Geo g = make_geo(m);
  cuda::DeviceGuard guard(device);
  cudaStream_t stream = cuda::stream(device);
  const SparseAttentionScratch s = sparse_attention_scratch(Device::cuda(device), a.dtype, m, true);
  check_scratch(s, a.scratch_bytes);
  far_list(s, a.scratch, a.selected, m.batch, g, stream, device);
  const int* fpos = at<int>(a.scratch, s.fpos);
  const int* before = at<int>(a.scratch, s.before);
  for_float(a.dtype, "sparse_attention", "CUDA", [&](auto tag) {
    using T = decltype(tag);
    T* delta = at<T>(a.scratch, s.delta);
    T* fdg = at<T>(a.scratch, s.fdg);
    if (a.in_dtype == DType::bf16)  // Δ, dq, dk, dv and fdg on tensor cores; dgate below
      sparse_attention_backward_bf16_cuda(a, fpos, before, delta, fdg, device);
    else
      scalar_backward<T>(a, g, fpos, before, delta, fdg, stream, device);
    auto* dgate = static_cast<T*>(a.dgate);
    SRA_CUDA_CHECK(cudaMemsetAsync(dgate, 0, size_t(m.batch * m.t) * sizeof(T), stream));
    dgate_kernel<T><<<cuda::grid_for(m.batch * m.t), cuda::kThreads, 0, stream>>>(
        dgate, fdg, fpos, before, m.batch, m.kv_heads, g.t, g.sinks);
    cuda::check_launch("sparse_attention", device);
  });
}

}  // namespace sra::kern
