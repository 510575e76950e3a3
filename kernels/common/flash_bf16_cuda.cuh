// The bf16 tensor-core attention kernels shared by dense attention (kernels/attention) and sparse attention
// (kernels/sparse_attention); .cu files only. Each caller supplies a plan: which keys a query tile meets
// (forward, dq) or which queries a key tile meets (dk, dv), and which (query, key) pairs are visible.
// Inputs q (rows of BH heads × t queries), k, v (BKV heads × s keys), dout in bf16 with head dim D = 64 or
// 128 (rows of D contiguous elements, placed by Params::rows: dense (B, heads, T, D) or a projection's
// (B, T, heads·D) head split read and written in place); out, dq, dk, dv in f32 (rows as well); lse, Δ
// f32 (B·heads, t) dense. With s_ij = q_i·k_j·scale + b_j
// (b_j the plan's key bias, natural log; −inf allowed):
//   forward  one block of 4 warps per (query tile of 64·MT, b·h), the latest tiles first; warp w owns the
//            query rows 16w + 64·mt..+15 (mt < MT: MT m-tiles, each K/V fragment the warp loads from
//            shared memory feeds MT products), its q fragments in registers. Over the plan's key tiles of 64
//            (k, v double-buffered in shared memory by cp.async: tile n+1's positions are read before tile
//            n's score product and its copies issued after it, so they load while tile n computes): S = q·kᵀ
//            (mma, f32), masked to −inf where not visible (only in tiles the plan calls partial), online
//            softmax in f32 in base 2 (m, l per row), P rounded to bf16 for acc += P·v (mma). out = acc / l,
//            lse = (m + log2 l)·ln 2 (out 0 and lse −inf for a row that sees nothing).
//   Δ        one warp per query row: Δ_i = Σ_c dout_ic·out_ic (dout bf16 widened, out f32).
//   dq       the forward's blocks and key tiles: S = q·kᵀ, dP = dout·vᵀ, P = exp(S − lse) (0 where not
//            visible), dS = P∘(dP − Δ)·scale rounded to bf16, dq += dS·k.
//   dk, dv   one block per (key block of 64·MT = the plan's kKeys, b·kv head), warp w owns the keys
//            16w + 64·mt..+15; over the query
//            heads of the group in order and the plan's query tiles of BQ in order (q, dout, lse, Δ
//            double-buffered): Sᵀ = k·qᵀ, dPᵀ = v·doutᵀ, Pᵀ, dSᵀ as above (bf16), dv += Pᵀ·dout,
//            dk += dSᵀ·q, and with the plan's gate gradient g_j += Σ_i exp(s_ij − b_j − lse_i)·(dP_ij − Δ_i).
//            Writes (or, for a plan that accumulates, adds to) the key rows' dk, dv.
// Every output element has one owning thread and a fixed summation order (no atomics): bitwise
// repeatable. Padded rows (past t, past s, or a plan's −1) are zero in shared memory; padded queries
// carry lse = +inf in dk/dv so their P is 0; padded keys are masked wherever a plan says partial.
// Shared memory (bytes): forward 64·L·2·(MT + 4) + 1 KiB, dq 64·L·2·(2·MT + 4) + 1 KiB, dk/dv
// (2·64·MT + 4·BQ)·L·2 + 16·BQ, L = D + 8: at D = 128, MT = 1 87, 105 and 105 KiB (BQ = 64), two blocks per
// multiprocessor. MT = 2 (at D = 64: with_mtiles below; dk/dv then with BQ = 32) keeps the registers of two
// m-tiles (255 per thread, a few spilled); at D = 128 they would not fit.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <type_traits>

#include "core/check.h"
#include "core/cuda_launch.h"
#include "kernels/common/mma_bf16_cuda.cuh"
#include "kernels/common/row_strides.h"

namespace sra::kern::flash {

using mma::bf16;

constexpr int kWarps = 4, kThreads = 32 * kWarps;
constexpr int kTile = 64;  // queries of a forward / dq block, keys of a key tile and of a dk/dv block
constexpr float kLog2e = 1.4426950408889634f, kLn2 = 0.6931471805599453f;

// Everything a launch reads; the plans read their fields (dense: shift, causal; sparse: the rest).
struct Params {
  const bf16 *q, *k, *v, *dout;
  float *out, *lse;             // forward outputs
  const float *lse_in, *delta;  // backward inputs
  float *dq, *dk, *dv, *fdg;    // backward outputs (fdg: sparse far pass)
  int64_t bh, bkv, heads, kv_heads, group;
  int t, s;  // queries and keys per head
  float scale;
  int shift = 0;                                 // dense: s − t
  bool causal = false;                           // dense
  int window = 1, sinks = 0;                     // sparse
  const float* gate = nullptr;                   // sparse (B, t)
  const int *fpos = nullptr, *before = nullptr;  // sparse far list
  AttentionRows rows;                            // resolved: every entry set; t strides multiples of 8
};

template <int D>
__host__ __device__ constexpr int ld() {
  return D + 8;
}

// ---- forward ---------------------------------------------------------------------------------------------

// One key tile of the forward for warp w, its MT m-tiles (rows qrow0 + kTile·mt + 8·hr): S, mask (kMasked),
// online softmax, acc += P·v. mid() runs between the score product and the softmax (it issues the next
// tile's copies).
template <int D, int MT, bool kMasked, bool kBias, class Plan, typename Mid>
__device__ inline void forward_tile(float (&acc)[MT][D / 8][4], float (&m)[MT][2], float (&l)[MT][2],
                                    const uint32_t (&qf)[MT][D / 16][4], const bf16* ks, const bf16* vs,
                                    const int* krow, const float* kbias, const Plan& plan, int tile,
                                    int qrow0, float sl2, Mid&& mid) {
  const int lane = threadIdx.x % 32, tq = lane % 4;
  float s[MT][kTile / 8][4];
  mma::zero(s);
  mma::gemm_nk_reg<MT, kTile / 8, D>(s, qf, ks, ld<D>());
  mid();
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int hr = 0; hr < 2; ++hr) {
      const int qi = qrow0 + kTile * mt + hr * 8;
      float mx = -INFINITY;
#pragma unroll
      for (int nt = 0; nt < kTile / 8; ++nt)
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const int c = nt * 8 + 2 * tq + e;
          float x = s[mt][nt][2 * hr + e] * sl2;
          if (kBias) x += kbias[c];
          if (kMasked && !plan.visible(tile, qi, krow[c])) x = -INFINITY;
          s[mt][nt][2 * hr + e] = x;
          mx = fmaxf(mx, x);
        }
      const float m_new = fmaxf(m[mt][hr], mma::quad_max(mx));
      const float mu = m_new == -INFINITY ? 0.f : m_new;  // nothing visible yet: P = 0, no NaN
      const float alpha = exp2f(m[mt][hr] - mu);
      m[mt][hr] = m_new;
      float sum = 0.f;
#pragma unroll
      for (int nt = 0; nt < kTile / 8; ++nt)
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const float p = exp2f(s[mt][nt][2 * hr + e] - mu);
          s[mt][nt][2 * hr + e] = p;
          sum += p;
        }
      l[mt][hr] = l[mt][hr] * alpha + sum;
#pragma unroll
      for (int dt = 0; dt < D / 8; ++dt) acc[mt][dt][2 * hr] *= alpha, acc[mt][dt][2 * hr + 1] *= alpha;
    }
  uint32_t pa[MT][kTile / 16][4];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt) mma::to_a(pa[mt], s[mt]);
  mma::gemm_kn<MT, D / 8, kTile / 16>(acc, pa, vs, ld<D>());
}

// The key rows of one tile a thread copies (its 16-byte chunks e = threadIdx.x + i·kThreads, row
// e / (D / 8)) and, for threadIdx.x < kTile, the row it describes in krow / kbias. Fetched (global reads
// of a sparse plan's far list) before the current tile's score product, issued after it, so the reads'
// latency hides behind the tensor cores.
template <int D>
struct KeyStage {
  static constexpr int kRounds = kTile * (D / 8) / kThreads;
  int pos[kRounds];
  int own;
};

template <int D, class Plan>
__device__ inline void fetch_keys(KeyStage<D>& st, const Plan& plan, int tile) {
#pragma unroll
  for (int i = 0; i < KeyStage<D>::kRounds; ++i)
    st.pos[i] = plan.key_pos(tile, (int(threadIdx.x) + i * kThreads) / (D / 8));
  st.own = threadIdx.x < kTile ? plan.key_pos(tile, threadIdx.x) : -1;
}

// Copies key tile `tile` into buffer tile & 1: k, v rows by cp.async, positions and biases (base 2) by
// plain stores.
template <int D, class Plan>
__device__ inline void issue_keys(const KeyStage<D>& st, bf16* ks, bf16* vs, int* krow, float* kbias,
                                  const bf16* kb, const bf16* vb, int64_t kst, int64_t vst, const Plan& plan,
                                  int tile) {
  constexpr int L = ld<D>();
  const int buf = tile & 1;
#pragma unroll
  for (int i = 0; i < KeyStage<D>::kRounds; ++i) {
    const int e = int(threadIdx.x) + i * kThreads, r = e / (D / 8), c = e % (D / 8);
    const int64_t pos = st.pos[i];
    const bool ok = pos >= 0;
    mma::cp_async16(ks + (buf * kTile + r) * L + c * 8, ok ? kb + pos * kst + c * 8 : kb, ok);
    mma::cp_async16(vs + (buf * kTile + r) * L + c * 8, ok ? vb + pos * vst + c * 8 : vb, ok);
  }
  if (threadIdx.x < kTile) {
    krow[buf * kTile + threadIdx.x] = st.own;
    kbias[buf * kTile + threadIdx.x] = Plan::kBias ? plan.key_bias(tile, st.own) * kLog2e : 0.f;
  }
}

template <int D, int MT, class Plan>
__global__ void __launch_bounds__(kThreads) forward_kernel(Params p) {
  constexpr int L = ld<D>(), BM = kTile * MT;
  extern __shared__ __align__(16) unsigned char smem[];
  bf16* qs = reinterpret_cast<bf16*>(smem);
  bf16* ks = qs + BM * L;
  bf16* vs = ks + 2 * kTile * L;
  int* krow = reinterpret_cast<int*>(vs + 2 * kTile * L);
  float* kbias = reinterpret_cast<float*>(krow + 2 * kTile);
  const int nqt = (p.t + BM - 1) / BM;
  const int64_t bh = blockIdx.x % p.bh, b = bh / p.heads;
  const int i0 = (nqt - 1 - int(blockIdx.x / p.bh)) * BM, nq = min(BM, p.t - i0);
  const int64_t h = bh % p.heads, hkv = h / p.group;
  const Plan plan(p, b, i0, nq);
  const bf16* kb = p.k + p.rows.k.at(b, hkv, 0);
  const bf16* vb = p.v + p.rows.v.at(b, hkv, 0);
  const int64_t kst = p.rows.k.t, vst = p.rows.v.t;
  const int w = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, tq = lane % 4;
  mma::load_rows_async<D, BM, kThreads>(qs, p.q + p.rows.q.at(b, h, i0), p.rows.q.t,
                                        [&](int r) { return r < nq ? int64_t(r) : int64_t(-1); });
  KeyStage<D> st;
  if (plan.tiles > 0) {
    fetch_keys(st, plan, 0);
    issue_keys(st, ks, vs, krow, kbias, kb, vb, kst, vst, plan, 0);
  }
  mma::cp_async_commit();

  uint32_t qf[MT][D / 16][4];
  float acc[MT][D / 8][4], m[MT][2], l[MT][2];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt) m[mt][0] = m[mt][1] = -INFINITY, l[mt][0] = l[mt][1] = 0.f;
  mma::zero(acc);
  const float sl2 = p.scale * kLog2e;
  for (int tile = 0; tile < plan.tiles; ++tile) {
    mma::cp_async_wait_all();
    __syncthreads();  // tile is in place; every warp is done with the buffer tile + 1 overwrites
    if (tile == 0)
#pragma unroll
      for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int kk = 0; kk < D / 16; ++kk) mma::load_a(qf[mt][kk], qs, L, 16 * w + kTile * mt, 16 * kk);
    const bool next = tile + 1 < plan.tiles;
    if (next) fetch_keys(st, plan, tile + 1);
    auto mid = [&] {
      if (next) issue_keys(st, ks, vs, krow, kbias, kb, vb, kst, vst, plan, tile + 1);
      mma::cp_async_commit();
    };
    const int o = (tile & 1) * kTile;
    if (plan.full(tile))
      forward_tile<D, MT, false, Plan::kBias>(acc, m, l, qf, ks + o * L, vs + o * L, krow + o, kbias + o,
                                              plan, tile, i0 + 16 * w + g, sl2, mid);
    else
      forward_tile<D, MT, true, Plan::kBias>(acc, m, l, qf, ks + o * L, vs + o * L, krow + o, kbias + o, plan,
                                             tile, i0 + 16 * w + g, sl2, mid);
  }
  mma::cp_async_wait_all();
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int hr = 0; hr < 2; ++hr) {
      const float total = mma::quad_sum(l[mt][hr]);
      const int r = 16 * w + kTile * mt + g + 8 * hr;
      if (r >= nq) continue;
      const float inv = total > 0.f ? 1.f / total : 0.f;
      const int64_t row = bh * p.t + i0 + r;
      float* orow = p.out + p.rows.out.at(b, h, i0 + r);
#pragma unroll
      for (int dt = 0; dt < D / 8; ++dt)
        *reinterpret_cast<float2*>(orow + dt * 8 + 2 * tq) =
            make_float2(acc[mt][dt][2 * hr] * inv, acc[mt][dt][2 * hr + 1] * inv);
      if (tq == 0) p.lse[row] = total > 0.f ? (m[mt][hr] + log2f(total)) * kLn2 : -INFINITY;
    }
}

// ---- backward: Δ and dq ---------------------------------------------------------------------------------

// Δ_r = Σ_c dout[r, c]·out[r, c], one warp per row r = (b·heads + h)·t + i.
template <int D>
__global__ void delta_kernel(float* delta, const bf16* dout, const float* out, Params p) {
  const int lane = threadIdx.x % 32;
  const int64_t warps = int64_t(gridDim.x) * (blockDim.x / 32), rows = p.bh * p.t;
  for (int64_t r = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) / 32; r < rows; r += warps) {
    const int64_t bh = r / p.t, i = r % p.t, b = bh / p.heads, h = bh % p.heads;
    const bf16* dr = dout + p.rows.dout.at(b, h, i);
    const float* orow = out + p.rows.out.at(b, h, i);
    float s = 0.f;
    for (int c = lane; c < D; c += 32) s += __bfloat162float(dr[c]) * orow[c];
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    if (lane == 0) delta[r] = s;
  }
}

// The backward's two score products for warp w's MT m-tiles (rows 16w + kTile·mt of a1 and a2):
// s = a1·b1ᵀ and d = a2·b2ᵀ over D columns (dq: S = q·kᵀ, dP = dout·vᵀ; dk/dv: Sᵀ = k·qᵀ, dPᵀ = v·doutᵀ).
template <int D, int MT, int NT>
__device__ inline void score_pair(float (&s)[MT][NT][4], float (&d)[MT][NT][4], const bf16* a1,
                                  const bf16* b1, const bf16* a2, const bf16* b2) {
  const int w = threadIdx.x / 32;
  mma::zero(s);
  mma::zero(d);
  mma::gemm_nk<MT, NT, D>(s, a1, ld<D>(), 16 * w, kTile, b1, ld<D>());
  mma::gemm_nk<MT, NT, D>(d, a2, ld<D>(), 16 * w, kTile, b2, ld<D>());
}

// One key tile of dq for warp w, its MT m-tiles: S, dP, P, dS (bf16), dq += dS·k.
template <int D, int MT, bool kMasked, bool kBias, class Plan, typename Mid>
__device__ inline void dq_tile(float (&acc)[MT][D / 8][4], const bf16* qs, const bf16* dos, const bf16* ks,
                               const bf16* vs, const int* krow, const float* kbias,
                               const float (&lse2)[MT][2], const float (&dl)[MT][2], const Plan& plan,
                               int tile, int qrow0, float sl2, float scale, Mid&& mid) {
  const int tq = threadIdx.x % 4;
  float s[MT][kTile / 8][4], dp[MT][kTile / 8][4];
  score_pair<D>(s, dp, qs, ks, dos, vs);
  mid();
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int nt = 0; nt < kTile / 8; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int hr = e / 2, c = nt * 8 + 2 * tq + e % 2;
        float x = s[mt][nt][e] * sl2 - lse2[mt][hr];
        if (kBias) x += kbias[c];
        float pr = exp2f(x);
        if (kMasked && !plan.visible(tile, qrow0 + kTile * mt + 8 * hr, krow[c])) pr = 0.f;
        s[mt][nt][e] = pr * (dp[mt][nt][e] - dl[mt][hr]) * scale;
      }
  uint32_t da[MT][kTile / 16][4];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt) mma::to_a(da[mt], s[mt]);
  mma::gemm_kn<MT, D / 8, kTile / 16>(acc, da, ks, ld<D>());
}

template <int D, int MT, class Plan>
__global__ void __launch_bounds__(kThreads) dq_kernel(Params p) {
  constexpr int L = ld<D>(), BM = kTile * MT;
  extern __shared__ __align__(16) unsigned char smem[];
  bf16* qs = reinterpret_cast<bf16*>(smem);
  bf16* dos = qs + BM * L;
  bf16* ks = dos + BM * L;
  bf16* vs = ks + 2 * kTile * L;
  int* krow = reinterpret_cast<int*>(vs + 2 * kTile * L);
  float* kbias = reinterpret_cast<float*>(krow + 2 * kTile);
  const int nqt = (p.t + BM - 1) / BM;
  const int64_t bh = blockIdx.x % p.bh, b = bh / p.heads;
  const int i0 = (nqt - 1 - int(blockIdx.x / p.bh)) * BM, nq = min(BM, p.t - i0);
  const int64_t h = bh % p.heads, hkv = h / p.group;
  const Plan plan(p, b, i0, nq);
  const bf16* kb = p.k + p.rows.k.at(b, hkv, 0);
  const bf16* vb = p.v + p.rows.v.at(b, hkv, 0);
  const int64_t kst = p.rows.k.t, vst = p.rows.v.t;
  const int w = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, tq = lane % 4;
  auto qrow = [&](int r) { return r < nq ? int64_t(r) : int64_t(-1); };
  mma::load_rows_async<D, BM, kThreads>(qs, p.q + p.rows.q.at(b, h, i0), p.rows.q.t, qrow);
  mma::load_rows_async<D, BM, kThreads>(dos, p.dout + p.rows.dout.at(b, h, i0), p.rows.dout.t, qrow);
  KeyStage<D> st;
  if (plan.tiles > 0) {
    fetch_keys(st, plan, 0);
    issue_keys(st, ks, vs, krow, kbias, kb, vb, kst, vst, plan, 0);
  }
  mma::cp_async_commit();
  float lse2[MT][2], dl[MT][2];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int hr = 0; hr < 2; ++hr) {
      const int r = 16 * w + kTile * mt + g + 8 * hr;
      lse2[mt][hr] = r < nq ? p.lse_in[bh * p.t + i0 + r] * kLog2e : INFINITY;  // +inf: no P
      dl[mt][hr] = r < nq ? p.delta[bh * p.t + i0 + r] : 0.f;
    }

  float acc[MT][D / 8][4];
  mma::zero(acc);
  const float sl2 = p.scale * kLog2e;
  for (int tile = 0; tile < plan.tiles; ++tile) {
    mma::cp_async_wait_all();
    __syncthreads();
    const bool next = tile + 1 < plan.tiles;
    if (next) fetch_keys(st, plan, tile + 1);
    auto mid = [&] {
      if (next) issue_keys(st, ks, vs, krow, kbias, kb, vb, kst, vst, plan, tile + 1);
      mma::cp_async_commit();
    };
    const int o = (tile & 1) * kTile;
    if (plan.full(tile))
      dq_tile<D, MT, false, Plan::kBias>(acc, qs, dos, ks + o * L, vs + o * L, krow + o, kbias + o, lse2, dl,
                                         plan, tile, i0 + 16 * w + g, sl2, p.scale, mid);
    else
      dq_tile<D, MT, true, Plan::kBias>(acc, qs, dos, ks + o * L, vs + o * L, krow + o, kbias + o, lse2, dl,
                                        plan, tile, i0 + 16 * w + g, sl2, p.scale, mid);
  }
  mma::cp_async_wait_all();
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int hr = 0; hr < 2; ++hr) {
      const int r = 16 * w + kTile * mt + g + 8 * hr;
      if (r >= nq) continue;
      float* qrow_out = p.dq + p.rows.dq.at(b, h, i0 + r);
#pragma unroll
      for (int dt = 0; dt < D / 8; ++dt)
        *reinterpret_cast<float2*>(qrow_out + dt * 8 + 2 * tq) =
            make_float2(acc[mt][dt][2 * hr], acc[mt][dt][2 * hr + 1]);
    }
}

// ---- backward: dk, dv (and the gate gradient) -----------------------------------------------------------

// One query tile for warp w, its MT m-tiles of 16 keys (rows 16w + kTile·mt of the key block): Sᵀ, dPᵀ,
// Pᵀ, dSᵀ, dv += Pᵀ·dout, dk += dSᵀ·q.
template <int D, int BQ, int MT, bool kMasked, class Plan, typename Mid>
__device__ inline void dkv_tile(float (&dka)[MT][D / 8][4], float (&dva)[MT][D / 8][4], float (&gacc)[MT][2],
                                const bf16* ks, const bf16* vs, const bf16* qs, const bf16* dos,
                                const float* lse2, const float* dl, const Plan& plan,
                                const int (&kpos)[MT][2], const float (&kb2)[MT][2], int i0, float sl2,
                                float scale, Mid&& mid) {
  const int tq = threadIdx.x % 4;
  float st[MT][BQ / 8][4], dpt[MT][BQ / 8][4];
  score_pair<D>(st, dpt, ks, qs, vs, dos);
  mid();
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int nt = 0; nt < BQ / 8; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int hr = e / 2, c = nt * 8 + 2 * tq + e % 2;
        const bool vis = !kMasked || plan.visible(i0 + c, kpos[mt][hr]);
        const float x = st[mt][nt][e] * sl2 - lse2[c];
        const float gd = vis ? dpt[mt][nt][e] - dl[c] : 0.f;
        const float pr = vis ? exp2f(x + kb2[mt][hr]) : 0.f;
        if (Plan::kGateGrad) gacc[mt][hr] += vis ? exp2f(x) * gd : 0.f;
        st[mt][nt][e] = pr;
        dpt[mt][nt][e] = pr * gd * scale;
      }
  uint32_t pa[MT][BQ / 16][4], da[MT][BQ / 16][4];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt) {
    mma::to_a(pa[mt], st[mt]);
    mma::to_a(da[mt], dpt[mt]);
  }
  mma::gemm_kn<MT, D / 8, BQ / 16>(dva, pa, dos, ld<D>());
  mma::gemm_kn<MT, D / 8, BQ / 16>(dka, da, qs, ld<D>());
}

// One block per (key block of Plan::kKeys = kTile·MT keys, b·kv head); warp w owns the keys 16w + kTile·mt.
template <int D, int BQ, class Plan>
__global__ void __launch_bounds__(kThreads) dkv_kernel(Params p) {
  constexpr int L = ld<D>(), BN = Plan::kKeys, MT = BN / kTile;
  static_assert(BN % kTile == 0 && (MT == 1 || MT == 2), "key blocks of one or two m-tiles per warp");
  const int64_t bkv = blockIdx.x % p.bkv, b = bkv / p.kv_heads, hkv = bkv % p.kv_heads;
  const Plan plan(p, b, int(blockIdx.x / p.bkv), BQ);
  if (plan.empty) return;  // the whole block: no keys
  extern __shared__ __align__(16) unsigned char smem[];
  bf16* ks = reinterpret_cast<bf16*>(smem);
  bf16* vs = ks + BN * L;
  bf16* qs = vs + BN * L;                                     // 2 × BQ rows
  bf16* dos = qs + 2 * BQ * L;                                // 2 × BQ rows
  float* lse_s = reinterpret_cast<float*>(dos + 2 * BQ * L);  // 2 × BQ, base 2
  float* dl_s = lse_s + 2 * BQ;                               // 2 × BQ
  const int w = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, tq = lane % 4;
  auto key = [&](int r) { return int64_t(plan.key_pos(r)); };
  mma::load_rows_async<D, BN, kThreads>(ks, p.k + p.rows.k.at(b, hkv, 0), p.rows.k.t, key);
  mma::load_rows_async<D, BN, kThreads>(vs, p.v + p.rows.v.at(b, hkv, 0), p.rows.v.t, key);
  int kpos[MT][2];
  float kb2[MT][2], gacc[MT][2];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int hr = 0; hr < 2; ++hr) {
      const int r = 16 * w + kTile * mt + g + 8 * hr;
      kpos[mt][hr] = plan.key_pos(r);
      kb2[mt][hr] = Plan::kBias ? plan.key_bias(r) * kLog2e : 0.f;
      gacc[mt][hr] = 0.f;
    }
  const int per_head = plan.qt1 - plan.qt0, n = int(p.group) * per_head;
  // q, dout rows of iteration it by cp.async; its lse (base 2, +inf past t: P = 0) or Δ for this thread
  // read now and stored to shared memory later (after the next score products).
  auto stage_rows = [&](int it) {
    const int buf = it & 1, i0 = (plan.qt0 + it % per_head) * BQ, nq = min(BQ, p.t - i0);
    const int64_t h = hkv * p.group + it / per_head;
    auto qrow = [&](int r) { return r < nq ? int64_t(r) : int64_t(-1); };
    mma::load_rows_async<D, BQ, kThreads>(qs + buf * BQ * L, p.q + p.rows.q.at(b, h, i0), p.rows.q.t, qrow);
    mma::load_rows_async<D, BQ, kThreads>(dos + buf * BQ * L, p.dout + p.rows.dout.at(b, h, i0),
                                          p.rows.dout.t, qrow);
  };
  auto fetch_vec = [&](int it) {
    const int i0 = (plan.qt0 + it % per_head) * BQ, nq = min(BQ, p.t - i0), r = threadIdx.x % BQ;
    const int64_t row0 = (b * p.heads + hkv * p.group + it / per_head) * p.t + i0;
    if (threadIdx.x < BQ) return r < nq ? p.lse_in[row0 + r] * kLog2e : INFINITY;
    return threadIdx.x < 2 * BQ && r < nq ? p.delta[row0 + r] : 0.f;
  };
  auto store_vec = [&](int it, float x) {
    const int buf = it & 1, r = threadIdx.x % BQ;
    if (threadIdx.x < BQ)
      lse_s[buf * BQ + r] = x;
    else if (threadIdx.x < 2 * BQ)
      dl_s[buf * BQ + r] = x;
  };
  if (n > 0) {
    stage_rows(0);
    store_vec(0, fetch_vec(0));
  }
  mma::cp_async_commit();

  float dka[MT][D / 8][4], dva[MT][D / 8][4];
  mma::zero(dka);
  mma::zero(dva);
  const float sl2 = p.scale * kLog2e;
  for (int it = 0; it < n; ++it) {
    mma::cp_async_wait_all();
    __syncthreads();
    const bool next = it + 1 < n;
    float vec = 0.f;
    if (next) {
      stage_rows(it + 1);
      vec = fetch_vec(it + 1);
    }
    mma::cp_async_commit();
    auto mid = [&] {
      if (next) store_vec(it + 1, vec);
    };
    const int buf = it & 1, i0 = (plan.qt0 + it % per_head) * BQ, nq = min(BQ, p.t - i0);
    const bf16 *qb = qs + buf * BQ * L, *db = dos + buf * BQ * L;
    if (plan.full(i0, nq))
      dkv_tile<D, BQ, MT, false>(dka, dva, gacc, ks, vs, qb, db, lse_s + buf * BQ, dl_s + buf * BQ, plan,
                                 kpos, kb2, i0, sl2, p.scale, mid);
    else
      dkv_tile<D, BQ, MT, true>(dka, dva, gacc, ks, vs, qb, db, lse_s + buf * BQ, dl_s + buf * BQ, plan, kpos,
                                kb2, i0, sl2, p.scale, mid);
  }
  mma::cp_async_wait_all();
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int hr = 0; hr < 2; ++hr) {
      const int r = 16 * w + kTile * mt + g + 8 * hr;
      const float gsum = mma::quad_sum(gacc[mt][hr]);
      if (kpos[mt][hr] < 0) continue;
      float* dkrow = p.dk + p.rows.dk.at(b, hkv, kpos[mt][hr]);
      float* dvrow = p.dv + p.rows.dv.at(b, hkv, kpos[mt][hr]);
#pragma unroll
      for (int dt = 0; dt < D / 8; ++dt) {
        float2* dk = reinterpret_cast<float2*>(dkrow + dt * 8 + 2 * tq);
        float2* dv = reinterpret_cast<float2*>(dvrow + dt * 8 + 2 * tq);
        float2 a = make_float2(dka[mt][dt][2 * hr], dka[mt][dt][2 * hr + 1]);
        float2 c = make_float2(dva[mt][dt][2 * hr], dva[mt][dt][2 * hr + 1]);
        if (Plan::kAccumulate) {
          const float2 a0 = *dk, c0 = *dv;
          a.x += a0.x, a.y += a0.y, c.x += c0.x, c.y += c0.y;
        }
        *dk = a;
        *dv = c;
      }
      if (Plan::kGateGrad && tq == 0) plan.gate_grad(p, bkv, r, gsum);
    }
}

// ---- host side --------------------------------------------------------------------------------------------

template <int D, int MT>
constexpr size_t forward_smem() {
  return size_t((MT + 4) * kTile * ld<D>()) * sizeof(bf16) + 4 * kTile * sizeof(float);
}
template <int D, int MT>
constexpr size_t dq_smem() {
  return size_t((2 * MT + 4) * kTile * ld<D>()) * sizeof(bf16) + 4 * kTile * sizeof(float);
}
template <int D, int BQ, int BN>
constexpr size_t dkv_smem() {
  return size_t((2 * BN + 4 * BQ) * ld<D>()) * sizeof(bf16) + 4 * BQ * sizeof(float);
}

// Resolves p.rows from the call's (unset entries: dense) and checks what the kernels assume of the pointers
// set before it: bf16 rows 16-byte aligned (cp.async), f32 rows 8-byte aligned (float2 stores).
inline void set_rows(Params& p, const AttentionRows& rows, int64_t d) {
  p.rows = rows.resolved(p.heads, p.kv_heads, p.t, p.s, d);
  SRA_ASSERT(rows_aligned(p.q, p.rows.q, 8, 16) && rows_aligned(p.k, p.rows.k, 8, 16) &&
                 rows_aligned(p.v, p.rows.v, 8, 16) && rows_aligned(p.dout, p.rows.dout, 8, 16) &&
                 rows_aligned(p.out, p.rows.out, 2, 8) && rows_aligned(p.dq, p.rows.dq, 2, 8) &&
                 rows_aligned(p.dk, p.rows.dk, 2, 8) && rows_aligned(p.dv, p.rows.dv, 2, 8),
             "flash attention operands misaligned for their row strides");
}

// Checks `bytes` against the device's per-block limit and opts `kernel` in.
template <typename K>
void allow_smem(K kernel, size_t bytes, int device, const char* op) {
  int optin = 0;
  SRA_CUDA_CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  SRA_CHECK(bytes <= size_t(optin), "[", op, "] the bf16 kernel needs ", bytes,
            " bytes of shared memory per block; cuda:", device, " offers ", optin);
  SRA_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)));
}

inline unsigned grid_of(int64_t tiles, int64_t heads, const char* op) {
  const int64_t n = tiles * heads;
  SRA_CHECK(n <= int64_t(0x7fffffff), "[", op, "] ", n, " blocks exceed the CUDA grid limit");
  return unsigned(n);
}

// m-tiles of 16 rows per warp (1 or 2) for queries (forward, dq: kRole 0) and keys (dk/dv: kRole 1): the
// caller's at64 (1 or 2) at D = 64 unless SRA_FLASH_MTILES forces them ("1" or "2" for both, or two digits
// for queries then keys, e.g. "21"; read once: A/B timing in one call, tools/gpu_check.sh ab), 1 at D = 128
// (two would not fit the registers). Calls f(std::integral_constant<int, MT>).
inline int forced_mtiles(int role) {
  static const std::string forced = [] {
    const char* v = std::getenv("SRA_FLASH_MTILES");
    const std::string s = v == nullptr ? "" : v;
    const bool ok =
        s.empty() || ((s.size() == 1 || s.size() == 2) && s.find_first_not_of("12") == std::string::npos);
    SRA_CHECK(ok, "[attention] SRA_FLASH_MTILES must be 1, 2 or two such digits (queries, keys), got '", s,
              "'");
    return s.size() == 1 ? s + s : s;
  }();
  return forced.empty() ? 0 : forced[role] - '0';
}
template <int D, int kRole, typename F>
void with_mtiles(int at64, F&& f) {
  SRA_ASSERT(at64 == 1 || at64 == 2, "one or two m-tiles, got ", at64);
  if constexpr (D == 64) {
    const int mt = forced_mtiles(kRole) != 0 ? forced_mtiles(kRole) : at64;
    if (mt == 2) return f(std::integral_constant<int, 2>{});
  }
  f(std::integral_constant<int, 1>{});
}
constexpr int kQueryRole = 0, kKeyRole = 1;  // with_mtiles's kRole

// Forward over the query tiles of kTile·MT rows of every (b, h) with query plan QP (a plan takes any
// query tile length).
template <int D, class QP, int MT = 1>
void forward(const Params& p, cudaStream_t stream, int device, const char* op) {
  auto kernel = forward_kernel<D, MT, QP>;
  allow_smem(kernel, forward_smem<D, MT>(), device, op);
  const int bm = kTile * MT;
  kernel<<<grid_of((p.t + bm - 1) / bm, p.bh, op), kThreads, forward_smem<D, MT>(), stream>>>(p);
  cuda::check_launch(op, device);
}

// Δ = rowsum(dout∘out) into p.delta (the caller's scratch), then dq with query plan QP over query tiles of
// kTile·MT rows.
template <int D, class QP, int MT = 1>
void delta_and_dq(const Params& p, const float* out, cudaStream_t stream, int device, const char* op) {
  const int64_t rows = p.bh * p.t;
  delta_kernel<D>
      <<<cuda::grid_for(rows * 32), cuda::kThreads, 0, stream>>>(const_cast<float*>(p.delta), p.dout, out, p);
  cuda::check_launch(op, device);
  auto kernel = dq_kernel<D, MT, QP>;
  allow_smem(kernel, dq_smem<D, MT>(), device, op);
  const int bm = kTile * MT;
  kernel<<<grid_of((p.t + bm - 1) / bm, p.bh, op), kThreads, dq_smem<D, MT>(), stream>>>(p);
  cuda::check_launch(op, device);
}

// The query tile of the dk/dv pass: 64, or 32 for key blocks of two m-tiles per warp (registers: two
// D-wide accumulators per m-tile, and the scores of BQ queries per m-tile).
template <int BN>
constexpr int dkv_query_tile() {
  return BN == kTile ? 64 : 32;
}

// dk, dv over the key blocks of KP::kKeys keys of every (b, kv head) with key plan KP.
template <int D, class KP>
void dkv(const Params& p, cudaStream_t stream, int device, const char* op) {
  constexpr int BN = KP::kKeys, BQ = dkv_query_tile<BN>();
  auto kernel = dkv_kernel<D, BQ, KP>;
  allow_smem(kernel, dkv_smem<D, BQ, BN>(), device, op);
  kernel<<<grid_of((p.s + BN - 1) / BN, p.bkv, op), kThreads, dkv_smem<D, BQ, BN>(), stream>>>(p);
  cuda::check_launch(op, device);
}

}  // namespace sra::kern::flash
