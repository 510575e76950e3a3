// CPU attention (see attention.h). Every tile product goes through one register-blocked micro-kernel,
// C (m × n) (+)= A (m × k) · B (k × n) with B's rows contiguous and n a multiple of two vectors, written
// with GCC/Clang vector extensions (32-byte vectors: AVX2 + FMA for f32 and f64). The transposed operands
// (kᵀ, vᵀ, qᵀ, doutᵀ) are copied once per call, tile by tile, into (heads, tiles, D, 64) buffers whose
// padding columns are zero, so the kernel has no column remainder; masked and padded scores are set to
// −inf before the exponential (a vectorised polynomial for f32, std::exp for f64), which maps them to 0.
// Row-major B operands are used in place when D is a multiple of the kernel width, else copied per tile
// with zero padding. Tiles crossing the causal diagonal skip the micro-kernel blocks that are fully masked.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "core/check.h"
#include "core/parallel.h"
#include "kernels/attention/attention.h"
#include "kernels/common/simd.h"

namespace sra::kern {

namespace {

constexpr int64_t kTile = 64;  // queries per query tile and keys per key tile
constexpr int kMr = 4;         // micro-kernel rows

using namespace simd;

template <typename T>
constexpr int64_t kW = kLanes<T>;   // lanes per vector
template <typename T>
constexpr int64_t kNr = 2 * kW<T>;  // micro-kernel columns (two vectors)


// parallel_for grain for tasks of about `work` multiply-adds each: small problems run inline rather
// than paying for a parallel region.
inline int64_t grain_for(int64_t work) {
  constexpr int64_t kMinWork = int64_t(1) << 17;
  return std::max<int64_t>(1, kMinWork / std::max<int64_t>(work, 1));
}

// i-th entry of the order 0, n−1, 1, n−2, …: contiguous ranges of tasks mix cheap and expensive
// causal tiles, so parallel_for's equal chunks carry similar work.
inline int64_t zigzag(int64_t i, int64_t n) {
  return i % 2 == 0 ? i / 2 : n - 1 - i / 2;
}

// A band limits which entries of a tile product matter for a causal tile: for output row i only columns
// (or summation indices) in [i + lo, i + hi) are needed. Entries outside are not computed (columns) or
// are known to multiply zeros (summation indices); results of the needed entries are unchanged.
struct Band {
  static constexpr int64_t kNone = int64_t(1) << 40;
  int64_t lo = -kNone, hi = kNone;
};

// C rows [0, MR) × columns [0, kNr) (+)= A (MR × k) · B (k × kNr, row stride ldb), where A's element
// (r, p) is a[r·lda + p], or a[p·lda + r] when TransA. The sum over p runs in order.
template <typename T, int MR, bool TransA>
inline void micro_kernel(int64_t k, const T* a, int64_t lda, const T* b, int64_t ldb, T* c, int64_t ldc,
                         bool accumulate) {
  constexpr int64_t W = kW<T>;
  Vec<T> acc[MR][2];
  for (int r = 0; r < MR; ++r) {
    acc[r][0] = accumulate ? load(c + r * ldc) : Vec<T>{};
    acc[r][1] = accumulate ? load(c + r * ldc + W) : Vec<T>{};
  }
  for (int64_t p = 0; p < k; ++p) {
    const Vec<T> b0 = load(b + p * ldb), b1 = load(b + p * ldb + W);
    for (int r = 0; r < MR; ++r) {
      const T ar = TransA ? a[p * lda + r] : a[r * lda + p];
      acc[r][0] += ar * b0;
      acc[r][1] += ar * b1;
    }
  }
  for (int r = 0; r < MR; ++r) {
    store(c + r * ldc, acc[r][0]);
    store(c + r * ldc + W, acc[r][1]);
  }
}

// C (m × n) (+)= A (m × k) · B (k × n), n a multiple of kNr, A as in micro_kernel. `cols` and `ks` are
// bands on the columns of C and on the summation index (see Band). Every needed element's sum runs
// over its indices in increasing order, independently of m and n.
template <typename T, bool TransA = false>
void tile_gemm(int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, const T* b, int64_t ldb, T* c,
               int64_t ldc, bool accumulate, Band cols = {}, Band ks = {}) {
  SRA_ASSERT(n % kNr<T> == 0);
  const int64_t ars = TransA ? 1 : lda, aks = TransA ? lda : 1;  // A strides: rows, summation index
  auto block = [&](int64_t i, auto rows_tag) {
    constexpr int R = decltype(rows_tag)::value;
    const int64_t last = i + R - 1;
    const int64_t j_lo = std::max<int64_t>(0, i + cols.lo) / kNr<T> * kNr<T>;
    const int64_t j_hi = std::min(n, round_up(std::max<int64_t>(0, last + cols.hi), kNr<T>));
    const int64_t p_lo = std::max<int64_t>(0, i + ks.lo), p_hi = std::min(k, last + ks.hi);
    const int64_t kk = std::max<int64_t>(0, p_hi - p_lo);
    for (int64_t j = j_lo; j < j_hi; j += kNr<T>)
      micro_kernel<T, R, TransA>(kk, a + i * ars + p_lo * aks, lda, b + p_lo * ldb + j, ldb, c + i * ldc + j,
                                 ldc, accumulate);
  };
  int64_t i = 0;
  for (; i + kMr <= m; i += kMr) block(i, std::integral_constant<int, kMr>{});
  for (; i < m; ++i) block(i, std::integral_constant<int, 1>{});
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

// dst rows 0..7 (row stride ldd) = columns 0..7 of src rows 0..7 (row stride lds).
inline void transpose8x8(float* dst, int64_t ldd, const float* src, int64_t lds) {
  Vec<float> r[8], t[8], u[8];
  for (int i = 0; i < 8; ++i) r[i] = load(src + i * lds);
  for (int i = 0; i < 8; i += 2) {
    t[i] = __builtin_shufflevector(r[i], r[i + 1], 0, 8, 1, 9, 4, 12, 5, 13);
    t[i + 1] = __builtin_shufflevector(r[i], r[i + 1], 2, 10, 3, 11, 6, 14, 7, 15);
  }
  for (int i = 0; i < 8; i += 4) {
    u[i] = __builtin_shufflevector(t[i], t[i + 2], 0, 1, 8, 9, 4, 5, 12, 13);
    u[i + 1] = __builtin_shufflevector(t[i], t[i + 2], 2, 3, 10, 11, 6, 7, 14, 15);
    u[i + 2] = __builtin_shufflevector(t[i + 1], t[i + 3], 0, 1, 8, 9, 4, 5, 12, 13);
    u[i + 3] = __builtin_shufflevector(t[i + 1], t[i + 3], 2, 3, 10, 11, 6, 7, 14, 15);
  }
  for (int i = 0; i < 4; ++i) {
    store(dst + i * ldd, __builtin_shufflevector(u[i], u[i + 4], 0, 1, 2, 3, 8, 9, 10, 11));
    store(dst + (i + 4) * ldd, __builtin_shufflevector(u[i], u[i + 4], 4, 5, 6, 7, 12, 13, 14, 15));
  }
}

// Per head of src (n × d), per tile of kTile rows: dst tile (d × kTile) = the tile transposed, with the
// columns past n zero. dst is (heads, tiles, d, kTile): each tile is a contiguous B operand with row
// stride kTile (rows n elements apart would alias in the L1 when n is a power of two).
// Parallel over (head, tile); a pure copy, so the thread count cannot matter.
template <typename T>
void transpose_tiles(T* dst, const T* src, int64_t heads, int64_t n, int64_t d) {
  const int64_t nt = (n + kTile - 1) / kTile;
  parallel_for(heads * nt, grain_for(d * kTile), [&](int64_t w0, int64_t w1) {
    for (int64_t w = w0; w < w1; ++w) {
      const int64_t r0 = (w % nt) * kTile, rn = std::min(kTile, n - r0);
      const T* s = src + ((w / nt) * n + r0) * d;
      T* o = dst + w * d * kTile;
      // f32: full 8 × 8 blocks with vector shuffles; the rest (and f64) element by element.
      const int64_t rb = std::is_same_v<T, float> ? rn / 8 * 8 : 0,
                    cb = std::is_same_v<T, float> ? d / 8 * 8 : 0;
      if constexpr (std::is_same_v<T, float>) {
        for (int64_t r0 = 0; r0 < rb; r0 += 8)
          for (int64_t c0 = 0; c0 < cb; c0 += 8) transpose8x8(o + c0 * kTile + r0, kTile, s + r0 * d + c0, d);
      }
      for (int64_t c = 0; c < d; ++c) {
        for (int64_t r = c < cb ? rb : 0; r < rn; ++r) o[c * kTile + r] = s[r * d + c];
        for (int64_t r = rn; r < kTile; ++r) o[c * kTile + r] = T(0);
      }
    }
  });
}

// A row-major operand of `rows` rows × d columns as the micro-kernel's B (row stride dp, a multiple of
// kNr): src itself when d == dp, else a zero-padded copy in buf.
template <typename T>
const T* rows_operand(T* buf, const T* src, int64_t rows, int64_t d, int64_t dp) {
  if (d == dp) return src;
  for (int64_t r = 0; r < rows; ++r) {
    std::copy(src + r * d, src + (r + 1) * d, buf + r * dp);
    std::fill(buf + r * dp + d, buf + (r + 1) * dp, T(0));
  }
  return buf;
}

template <typename T>
void unpack_rows(T* dst, int64_t d, const T* src, int64_t rows, int64_t dp) {
  for (int64_t r = 0; r < rows; ++r) std::copy(src + r * dp, src + r * dp + d, dst + r * d);
}

// Shared geometry of one call.
struct Geometry {
  int64_t B, H, Hkv, Tq, S, D;
  int64_t Dp;            // D rounded up to the micro-kernel width
  int64_t group, shift;  // H / Hkv, S − T
  int64_t nqt, nkt;      // query and key tiles
  bool causal;
  template <typename T>
  static Geometry of(const AttentionDims& a) {
    Geometry g;
    g.B = a.batch, g.H = a.heads, g.Hkv = a.kv_heads, g.Tq = a.t, g.S = a.s, g.D = a.d;
    g.Dp = round_up(std::max<int64_t>(a.d, 1), kNr<T>);
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
  Band query_band(int64_t i0, int64_t j0) const {
    return causal ? Band{-Band::kNone, offset(i0, j0)} : Band{};
  }
  // Band of a (keys × queries) tile product: key row jj is seen by queries c ≥ jj + 1 − offset.
  Band key_band(int64_t i0, int64_t j0) const {
    return causal ? Band{1 - offset(i0, j0), Band::kNone} : Band{};
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
  parallel_for(G.B * G.H * G.nqt, grain_for(G.query_tile_work()), [&](int64_t w0, int64_t w1) {
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
        const int64_t jn = std::min(kTile, kend - j0), jp = round_up(jn, kNr<T>);
        const Band band = G.query_band(i0, j0);
        const T* kt = k_t.data() + (bg * G.nkt + j0 / kTile) * D * kTile;
        tile_gemm(iq, jp, D, qb, D, kt, kTile, sc.data(), jp, false, band);  // q·kᵀ
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
        const T* vr = rows_operand(vbuf.data(), v + (bg * G.S + j0) * D, jn, D, Dp);
        tile_gemm(iq, Dp, jn, sc.data(), jp, vr, Dp, acc.data(), Dp, true, {}, band);  // acc += P·v
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
      const int64_t jn = std::min(kTile, kend - j0), jp = round_up(jn, kNr<T>);
      const int64_t toff = (bg * G.nkt + j0 / kTile) * D * kTile;
      const Band band = G.query_band(i0, j0);
      tile_gemm(iq, jp, D, qb, D, k_t + toff, kTile, sc, jp, false, band);  // q·kᵀ
      tile_gemm(iq, jp, D, db, D, v_t + toff, kTile, dp, jp, false, band);  // dP = dout·vᵀ
      for (int64_t r = 0; r < iq; ++r) {
        const int64_t row = bh * G.Tq + i0 + r;
        probs_and_grads<T, false>(sc + r * jp, dp + r * jp, jp, 0, G.visible(i0, r, j0, jn), lse + row,
                                  delta + row, scale);  // P, dS
      }
      const T* kr = rows_operand(kbuf, k + (bg * G.S + j0) * D, jn, D, Dp);
      tile_gemm(iq, Dp, jn, dp, jp, kr, Dp, dqa, Dp, true, {}, band);  // dq += dS·k
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
    const T* kr = dq_acc ? rows_operand(kbuf, kb, jn, D, Dp) : nullptr;
    std::fill(dka, dka + kTile * Dp, T(0));
    std::fill(dva, dva + kTile * Dp, T(0));
    const int64_t i_first = G.causal ? std::max<int64_t>(0, j0 - G.shift) : 0;  // first row seeing j0
    for (int64_t h = g * G.group; h < (g + 1) * G.group && i_first < G.Tq; ++h) {
      const int64_t bh = b * G.H + h;
      for (int64_t i0 = i_first / kTile * kTile; i0 < G.Tq; i0 += kTile) {
        const int64_t iq = std::min(kTile, G.Tq - i0), ip = round_up(iq, kNr<T>);
        const int64_t toff = (bh * G.nqt + i0 / kTile) * D * kTile;
        const Band band = G.key_band(i0, j0);
        for (int64_t c = 0; c < ip; ++c) {
          lse_c[c] = c < iq ? lse[bh * G.Tq + i0 + c] : T(0);
          delta_c[c] = c < iq ? delta[bh * G.Tq + i0 + c] : T(0);
        }
        tile_gemm(jn, ip, D, kb, D, q_t + toff, kTile, st, ip, false, band);    // k·qᵀ = Sᵀ
        tile_gemm(jn, ip, D, vb, D, do_t + toff, kTile, dpt, ip, false, band);  // v·doutᵀ = dPᵀ
        for (int64_t jj = 0; jj < jn; ++jj) {
          // query columns [c0, iq) see key j0 + jj
          const int64_t c0 = G.causal ? std::clamp<int64_t>(jj + band.lo, 0, iq) : 0;
          probs_and_grads<T, true>(st + jj * ip, dpt + jj * ip, ip, c0, iq, lse_c, delta_c,
                                   scale);  // Pᵀ, dSᵀ
        }
        const T* dr = rows_operand(dbuf, dout + (bh * G.Tq + i0) * D, iq, D, Dp);
        const T* qr = rows_operand(qbuf, q + (bh * G.Tq + i0) * D, iq, D, Dp);
        tile_gemm(jn, Dp, iq, st, ip, dr, Dp, dva, Dp, true, {}, band);   // dv += Pᵀ·dout
        tile_gemm(jn, Dp, iq, dpt, ip, qr, Dp, dka, Dp, true, {}, band);  // dk += dSᵀ·q
        if (dq_acc) {  // dq += dS·k, dS read transposed from dSᵀ
          T* dqa = dq_acc + ((h - g * G.group) * G.Tq + i0) * Dp;
          tile_gemm<T, true>(iq, Dp, jn, dpt, ip, kr, Dp, dqa, Dp, true, {}, G.query_band(i0, j0));
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
  parallel_for(rows, grain_for(D), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      T s = 0;
      for (int64_t c = 0; c < D; ++c) s += dout[r * D + c] * out[r * D + c];
      delta[r] = s;
    }
  });
  std::vector<T> q_t(size_t(G.B * G.H * G.nqt * D * kTile)), do_t(q_t.size());
  transpose_tiles(q_t.data(), q, G.B * G.H, G.Tq, D);
  transpose_tiles(do_t.data(), dout, G.B * G.H, G.Tq, D);
  Backward<T> bw{G,   T(dims.scale), dout,    q,       k,          v,
                 lse, delta.data(),  nullptr, nullptr, q_t.data(), do_t.data()};

  if (G.B * G.Hkv >= kFusedMinPairs) {
    // One task per (b, kv head): its key tiles in order; owns dk, dv of the head and dq of its group.
    parallel_for(G.B * G.Hkv, grain_for(G.group * G.nqt * G.query_tile_work()), [&](int64_t w0, int64_t w1) {
      std::vector<T> scratch, dq_acc(size_t(G.group * G.Tq * G.Dp));
      for (int64_t bg = w0; bg < w1; ++bg) {
        std::fill(dq_acc.begin(), dq_acc.end(), T(0));
        for (int64_t kt = 0; kt < G.nkt; ++kt) bw.dkv_tile(bg, kt, dk, dv, dq_acc.data(), scratch);
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
    parallel_for(G.B * G.H * G.nqt, grain_for(G.query_tile_work()), [&](int64_t w0, int64_t w1) {
      std::vector<T> scratch;
      for (int64_t w = w0; w < w1; ++w) bw.dq_tile(w / G.nqt, zigzag(w % G.nqt, G.nqt), dq, scratch);
    });
  }
  // Pass 2: dk, dv, one task per (b, kv head, key tile).
  parallel_for(G.B * G.Hkv * G.nkt, grain_for(G.group * G.Tq * kTile * G.D), [&](int64_t w0, int64_t w1) {
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
