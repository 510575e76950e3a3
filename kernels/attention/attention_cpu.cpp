// CPU attention (see attention.h). Every tile product goes through tile_gemm (kernels/common/tile_gemm.h),
// C (m × n) (+)= A (m × k) · B (k × n) with B's rows contiguous and n a multiple of two vectors, register
// blocks of 4 rows (32-byte vectors: AVX2 + FMA for f32 and f64). The transposed operands (kᵀ, vᵀ, qᵀ,
// doutᵀ) are copied once per call, tile by tile, into (heads, tiles, D, 64) buffers whose padding columns
// are zero, so the kernel has no column remainder; masked and padded scores are set to −inf before the
// exponential (a vectorised polynomial for f32, std::exp for f64), which maps them to 0. Row-major B
// operands are used in place when D is a multiple of the kernel width, else copied per tile with zero
// padding. Tiles crossing the causal diagonal skip the register blocks that are fully masked.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "core/check.h"
#include "core/parallel.h"
#include "kernels/attention/attention.h"
#include "kernels/common/tile_gemm.h"

namespace sra::kern {

namespace {

using namespace tile;                            // kTile: queries per query tile and keys per key tile
constexpr int kMr = 4;                           // register-block rows of tile_gemm
constexpr int64_t kTaskWork = int64_t(1) << 17;  // multiply-adds of a parallel task (grain_for)

template <typename T>
constexpr int64_t kW = kLanes<T>;  // lanes per vector

// i-th entry of the order 0, n−1, 1, n−2, …: contiguous ranges of tasks mix cheap and expensive
// causal tiles, so parallel_for's equal chunks carry similar work.
inline int64_t zigzag(int64_t i, int64_t n) {
  return i % 2 == 0 ? i / 2 : n - 1 - i / 2;
}

// Row pieces of the softmax; n is a multiple of the vector width and lanes are combined in a fixed order.
// row[c] ← c < vis ? row[c]·scale : −inf; returns the row's max.
template <typename T>
T scale_mask_max(T* row, int64_t n, int64_t vis, T scale) {
  const Vec<T> ninf = splat(-std::numeric_limits<T>::infinity()), lim = splat(T(vis));
  Vec<T> idx = lane_index<T>(), m = ninf;
  for (int64_t c = 0; c < n; c += kW<T>, idx += T(kW<T>)) {
    Vec<T> x = load(row + c) * scale;
    x = idx < lim ? x : ninf;
    store(row + c, x);
    m = x > m ? x : m;
  }
  return lanes_max<T>(m);
}
// For columns c in [lo, hi): s[c] ← P = e^(s[c]·scale − lse), d[c] ← dS = P·(d[c] − Δ)·scale; both 0
// elsewhere (whatever s and d held there). lse and Δ are per column (arrays of n) when PerColumn, else
// one value for the row.
template <typename T, bool PerColumn>
void probs_and_grads(T* s, T* d, int64_t n, int64_t lo, int64_t hi, const T* lse, const T* delta, T scale) {
  const Vec<T> ninf = splat(-std::numeric_limits<T>::infinity()), zero{};
  const Vec<T> vlo = splat(T(lo)), vhi = splat(T(hi));
  Vec<T> idx = lane_index<T>();
  for (int64_t c = 0; c < n; c += kW<T>, idx += T(kW<T>)) {
    const Vec<T> l = PerColumn ? load(lse + c) : splat(*lse);
    const Vec<T> dl = PerColumn ? load(delta + c) : splat(*delta);
    const auto valid = (idx >= vlo) & (idx < vhi);
    const Vec<T> p = exp_v<T>(valid ? load(s + c) * scale - l : ninf);
    store(s + c, p);
    store(d + c, valid ? p * (load(d + c) - dl) * scale : zero);
  }
}

// Shared geometry of one call.
struct Geometry {
  int64_t B, H, Hkv, Tq, S, D;
  int64_t Dp;            // D rounded up to the register-block width
  int64_t group, shift;  // H / Hkv, S − T
  int64_t nqt, nkt;      // query and key tiles
  bool causal;
  template <typename T>
  static Geometry of(const AttentionDims& a) {
    Geometry g;
    g.B = a.batch, g.H = a.heads, g.Hkv = a.kv_heads, g.Tq = a.t, g.S = a.s, g.D = a.d;
    g.Dp = round_up(std::max<int64_t>(a.d, 1), kCols<T>);
    g.group = a.kv_heads > 0 ? a.heads / a.kv_heads : 1, g.shift = a.s - a.t;
    g.nqt = (a.t + kTile - 1) / kTile, g.nkt = (a.s + kTile - 1) / kTile;
    g.causal = a.causal;
    return g;
  }
  // Upper bound of the multiply-adds of one query tile against all keys (for parallel grains).
  int64_t query_tile_work() const { return std::min(kTile, Tq) * S * D; }
  // Keys [0, key_end) are visible to some query row of [i0, i0 + rows).
  int64_t key_end(int64_t i0, int64_t rows) const { return causal ? std::min(S, i0 + rows + shift) : S; }
  // Query tile at i0 against key tile at j0: row r sees the tile's keys c < r + offset.
  int64_t offset(int64_t i0, int64_t j0) const { return i0 + shift - j0 + 1; }
  // Keys of the tile at j0 (jn keys) visible to query row r of the tile at i0: [0, result).
  int64_t visible(int64_t i0, int64_t r, int64_t j0, int64_t jn) const {
    return causal ? std::clamp<int64_t>(r + offset(i0, j0), 0, jn) : jn;
  }
  // Band of a (queries × keys) tile product (rows = queries, columns or summation = keys).
  DiagonalBand query_band(int64_t i0, int64_t j0) const {
    return causal ? DiagonalBand{-DiagonalBand::kNone, offset(i0, j0)} : DiagonalBand{};
  }
  // Band of a (keys × queries) tile product: key row jj is seen by queries c ≥ jj + 1 − offset.
  DiagonalBand key_band(int64_t i0, int64_t j0) const {
    return causal ? DiagonalBand{1 - offset(i0, j0), DiagonalBand::kNone} : DiagonalBand{};
  }
};

}  // namespace

template <typename T>
void attention_forward_cpu(T* out, T* lse, const T* q, const T* k, const T* v, const AttentionDims& dims) {
  const Geometry G = Geometry::of<T>(dims);
  const T scale = T(dims.scale);
  const T ninf = -std::numeric_limits<T>::infinity();
  const int64_t D = G.D, Dp = G.Dp;
  std::vector<T> k_t(size_t(G.B * G.Hkv * G.nkt * D * kTile));  // kᵀ by key tile
  transpose_tiles(k_t.data(), k, G.B * G.Hkv, G.S, D);
  parallel_for(G.B * G.H * G.nqt, grain_for(G.query_tile_work(), kTaskWork), [&](int64_t w0, int64_t w1) {
    std::vector<T> vbuf(kTile * Dp), sc(kTile * kTile), acc(kTile * Dp), m(kTile), l(kTile);
    for (int64_t w = w0; w < w1; ++w) {
      const int64_t bh = w / G.nqt, qt = zigzag(w % G.nqt, G.nqt);
      const int64_t b = bh / G.H, h = bh % G.H, bg = b * G.Hkv + h / G.group;
      const int64_t i0 = qt * kTile, iq = std::min(kTile, G.Tq - i0);
      const T* qb = q + (bh * G.Tq + i0) * D;
      std::fill(acc.begin(), acc.end(), T(0));
      std::fill(m.begin(), m.end(), ninf);
      std::fill(l.begin(), l.end(), T(0));
      const int64_t kend = G.key_end(i0, iq);
      for (int64_t j0 = 0; j0 < kend; j0 += kTile) {
        const int64_t jn = std::min(kTile, kend - j0), jp = round_up(jn, kCols<T>);
        const DiagonalBand band = G.query_band(i0, j0);
        const T* kt = k_t.data() + (bg * G.nkt + j0 / kTile) * D * kTile;
        tile_gemm<kMr>(iq, jp, D, qb, D, kt, kTile, sc.data(), jp, false, BandOn::cols, band);  // q·kᵀ
        for (int64_t r = 0; r < iq; ++r) {
          T* row = sc.data() + r * jp;
          const T m_new = std::max(m[r], scale_mask_max(row, jp, G.visible(i0, r, j0, jn), scale));
          if (m_new == ninf) {  // nothing visible yet (cannot happen for S ≥ 1, kept for safety)
            std::fill(row, row + jp, T(0));
            continue;
          }
          const T alpha = std::exp(m[r] - m_new);
          l[r] = l[r] * alpha + exp_sum(row, jp, m_new);  // row ← P, 0 past the visible keys
          m[r] = m_new;
          if (alpha != T(1)) {
            T* a = acc.data() + r * Dp;
            for (int64_t c = 0; c < Dp; ++c) a[c] *= alpha;
          }
        }
        const T* vr = padded_rows(vbuf.data(), v + (bg * G.S + j0) * D, jn, D, Dp);
        tile_gemm<kMr>(iq, Dp, jn, sc.data(), jp, vr, Dp, acc.data(), Dp, true, BandOn::sum,
                       band);  // acc += P·v
      }
      for (int64_t r = 0; r < iq; ++r) {
        T* o = out + (bh * G.Tq + i0 + r) * D;
        const T* a = acc.data() + r * Dp;
        for (int64_t c = 0; c < D; ++c) o[c] = a[c] / l[r];
        lse[bh * G.Tq + i0 + r] = m[r] + std::log(l[r]);
      }
    }
  });
}

namespace {

// The backward passes. Inputs as in attention_backward_cpu, plus Δ and the tile-transposed copies.
template <typename T>
struct Backward {
  Geometry G;
  T scale;
  const T *dout, *q, *k, *v, *lse, *delta;
  const T *k_t, *v_t, *q_t, *do_t;  // by tile: (heads, tiles, D, kTile)

  // dq rows of the query tile qt of head bh (pass 1): Σ over the visible key tiles, in order.
  void dq_tile(int64_t bh, int64_t qt, T* dq, std::vector<T>& scratch) const {
    const int64_t D = G.D, Dp = G.Dp;
    scratch.resize(size_t(2 * kTile * kTile + 2 * kTile * Dp));
    T* sc = scratch.data();
    T* dp = sc + kTile * kTile;
    T* dqa = dp + kTile * kTile;
    T* kbuf = dqa + kTile * Dp;
    const int64_t b = bh / G.H, h = bh % G.H, bg = b * G.Hkv + h / G.group;
    const int64_t i0 = qt * kTile, iq = std::min(kTile, G.Tq - i0);
    const T* qb = q + (bh * G.Tq + i0) * D;
    const T* db = dout + (bh * G.Tq + i0) * D;
    std::fill(dqa, dqa + kTile * Dp, T(0));
    const int64_t kend = G.key_end(i0, iq);
    for (int64_t j0 = 0; j0 < kend; j0 += kTile) {
      const int64_t jn = std::min(kTile, kend - j0), jp = round_up(jn, kCols<T>);
      const int64_t toff = (bg * G.nkt + j0 / kTile) * D * kTile;
      const DiagonalBand band = G.query_band(i0, j0);
      tile_gemm<kMr>(iq, jp, D, qb, D, k_t + toff, kTile, sc, jp, false, BandOn::cols, band);  // q·kᵀ
      tile_gemm<kMr>(iq, jp, D, db, D, v_t + toff, kTile, dp, jp, false, BandOn::cols, band);  // dP = dout·vᵀ
      for (int64_t r = 0; r < iq; ++r) {
        const int64_t row = bh * G.Tq + i0 + r;
        probs_and_grads<T, false>(sc + r * jp, dp + r * jp, jp, 0, G.visible(i0, r, j0, jn), lse + row,
                                  delta + row, scale);  // P, dS
      }
      const T* kr = padded_rows(kbuf, k + (bg * G.S + j0) * D, jn, D, Dp);
      tile_gemm<kMr>(iq, Dp, jn, dp, jp, kr, Dp, dqa, Dp, true, BandOn::sum, band);  // dq += dS·k
    }
    unpack_rows(dq + (bh * G.Tq + i0) * D, D, dqa, iq, Dp);
  }

  // dk, dv rows of the key tile kt of kv head bg: Σ over the group's query heads and the query tiles
  // that see the tile, in order. With dq_acc (the group's dq rows, (group, T, Dp)), also adds each
  // tile's dS·k into it.
  void dkv_tile(int64_t bg, int64_t kt, T* dk, T* dv, T* dq_acc, std::vector<T>& scratch) const {
    const int64_t D = G.D, Dp = G.Dp;
    scratch.resize(size_t(2 * kTile * kTile + 5 * kTile * Dp + 2 * kTile));
    T* st = scratch.data();
    T* dpt = st + kTile * kTile;
    T* dka = dpt + kTile * kTile;
    T* dva = dka + kTile * Dp;
    T* qbuf = dva + kTile * Dp;
    T* dbuf = qbuf + kTile * Dp;
    T* kbuf = dbuf + kTile * Dp;
    T* lse_c = kbuf + kTile * Dp;
    T* delta_c = lse_c + kTile;
    const int64_t b = bg / G.Hkv, g = bg % G.Hkv;
    const int64_t j0 = kt * kTile, jn = std::min(kTile, G.S - j0);
    const T* kb = k + (bg * G.S + j0) * D;
    const T* vb = v + (bg * G.S + j0) * D;
    const T* kr = dq_acc ? padded_rows(kbuf, kb, jn, D, Dp) : nullptr;
    std::fill(dka, dka + kTile * Dp, T(0));
    std::fill(dva, dva + kTile * Dp, T(0));
    const int64_t i_first = G.causal ? std::max<int64_t>(0, j0 - G.shift) : 0;  // first row seeing j0
    for (int64_t h = g * G.group; h < (g + 1) * G.group && i_first < G.Tq; ++h) {
      const int64_t bh = b * G.H + h;
      for (int64_t i0 = i_first / kTile * kTile; i0 < G.Tq; i0 += kTile) {
        const int64_t iq = std::min(kTile, G.Tq - i0), ip = round_up(iq, kCols<T>);
        const int64_t toff = (bh * G.nqt + i0 / kTile) * D * kTile;
        const DiagonalBand band = G.key_band(i0, j0);
        for (int64_t c = 0; c < ip; ++c) {
          lse_c[c] = c < iq ? lse[bh * G.Tq + i0 + c] : T(0);
          delta_c[c] = c < iq ? delta[bh * G.Tq + i0 + c] : T(0);
        }
        tile_gemm<kMr>(jn, ip, D, kb, D, q_t + toff, kTile, st, ip, false, BandOn::cols, band);  // k·qᵀ = Sᵀ
        tile_gemm<kMr>(jn, ip, D, vb, D, do_t + toff, kTile, dpt, ip, false, BandOn::cols,
                       band);  // v·doutᵀ = dPᵀ
        for (int64_t jj = 0; jj < jn; ++jj) {
          // query columns [c0, iq) see key j0 + jj
          const int64_t c0 = G.causal ? std::clamp<int64_t>(jj + band.lo, 0, iq) : 0;
          probs_and_grads<T, true>(st + jj * ip, dpt + jj * ip, ip, c0, iq, lse_c, delta_c,
                                   scale);  // Pᵀ, dSᵀ
        }
        const T* dr = padded_rows(dbuf, dout + (bh * G.Tq + i0) * D, iq, D, Dp);
        const T* qr = padded_rows(qbuf, q + (bh * G.Tq + i0) * D, iq, D, Dp);
        tile_gemm<kMr>(jn, Dp, iq, st, ip, dr, Dp, dva, Dp, true, BandOn::sum, band);   // dv += Pᵀ·dout
        tile_gemm<kMr>(jn, Dp, iq, dpt, ip, qr, Dp, dka, Dp, true, BandOn::sum, band);  // dk += dSᵀ·q
        if (dq_acc) {  // dq += dS·k, dS read transposed from dSᵀ
          T* dqa = dq_acc + ((h - g * G.group) * G.Tq + i0) * Dp;
          tile_gemm<kMr, true>(iq, Dp, jn, dpt, ip, kr, Dp, dqa, Dp, true, BandOn::sum, G.query_band(i0, j0));
        }
      }
    }
    unpack_rows(dk + (bg * G.S + j0) * D, D, dka, jn, Dp);
    unpack_rows(dv + (bg * G.S + j0) * D, D, dva, jn, Dp);
  }
};

// With at least this many (batch, kv head) pairs, backward runs one fused pass per pair (dq, dk, dv
// together: five tile products per tile pair instead of seven); with fewer, two passes parallel over
// tiles. The choice depends on the shapes only, never on the thread count.
constexpr int64_t kFusedMinPairs = 16;

}  // namespace

template <typename T>
void attention_backward_cpu(T* dq, T* dk, T* dv, const T* dout, const T* q, const T* k, const T* v,
                            const T* out, const T* lse, const AttentionDims& dims) {
  const Geometry G = Geometry::of<T>(dims);
  const int64_t D = G.D;

  // Δ_t = Σ_d dout_td · out_td, one value per query row.
  const int64_t rows = G.B * G.H * G.Tq;
  std::vector<T> delta(size_t(std::max<int64_t>(rows, 0)));
  row_dots(delta.data(), dout, out, rows, D);
  std::vector<T> q_t(size_t(G.B * G.H * G.nqt * D * kTile)), do_t(q_t.size());
  transpose_tiles(q_t.data(), q, G.B * G.H, G.Tq, D);
  transpose_tiles(do_t.data(), dout, G.B * G.H, G.Tq, D);
  Backward<T> bw{G,   T(dims.scale), dout,    q,       k,          v,
                 lse, delta.data(),  nullptr, nullptr, q_t.data(), do_t.data()};

  if (G.B * G.Hkv >= kFusedMinPairs) {
    // One task per (b, kv head): its key tiles in order; owns dk, dv of the head and dq of its group.
    parallel_for(G.B * G.Hkv, grain_for(G.group * G.nqt * G.query_tile_work(), kTaskWork),
                 [&](int64_t w0, int64_t w1) {
                   std::vector<T> scratch, dq_acc(size_t(G.group * G.Tq * G.Dp));
                   for (int64_t bg = w0; bg < w1; ++bg) {
                     std::fill(dq_acc.begin(), dq_acc.end(), T(0));
                     for (int64_t kt = 0; kt < G.nkt; ++kt)
                       bw.dkv_tile(bg, kt, dk, dv, dq_acc.data(), scratch);
                     const int64_t bh0 = bg / G.Hkv * G.H + bg % G.Hkv * G.group;
                     unpack_rows(dq + bh0 * G.Tq * D, D, dq_acc.data(), G.group * G.Tq, G.Dp);
                   }
                 });
    return;
  }

  // Pass 1: dq, one task per (b, h, query tile).
  {
    std::vector<T> k_t(size_t(G.B * G.Hkv * G.nkt * D * kTile)), v_t(k_t.size());
    transpose_tiles(k_t.data(), k, G.B * G.Hkv, G.S, D);
    transpose_tiles(v_t.data(), v, G.B * G.Hkv, G.S, D);
    bw.k_t = k_t.data();
    bw.v_t = v_t.data();
    parallel_for(G.B * G.H * G.nqt, grain_for(G.query_tile_work(), kTaskWork), [&](int64_t w0, int64_t w1) {
      std::vector<T> scratch;
      for (int64_t w = w0; w < w1; ++w) bw.dq_tile(w / G.nqt, zigzag(w % G.nqt, G.nqt), dq, scratch);
    });
  }
  // Pass 2: dk, dv, one task per (b, kv head, key tile).
  parallel_for(G.B * G.Hkv * G.nkt, grain_for(G.group * G.Tq * kTile * G.D, kTaskWork),
               [&](int64_t w0, int64_t w1) {
                 std::vector<T> scratch;
                 for (int64_t w = w0; w < w1; ++w)
                   bw.dkv_tile(w / G.nkt, zigzag(w % G.nkt, G.nkt), dk, dv, nullptr, scratch);
               });
}

template void attention_forward_cpu<float>(float*, float*, const float*, const float*, const float*,
                                           const AttentionDims&);
template void attention_forward_cpu<double>(double*, double*, const double*, const double*, const double*,
                                            const AttentionDims&);
template void attention_backward_cpu<float>(float*, float*, float*, const float*, const float*, const float*,
                                            const float*, const float*, const float*, const AttentionDims&);
template void attention_backward_cpu<double>(double*, double*, double*, const double*, const double*,
                                             const double*, const double*, const double*, const double*,
                                             const AttentionDims&);

}  // namespace sra::kern
