// CPU sparse attention (see sparse_attention.h). Tile products go through tile_gemm
// (kernels/common/tile_gemm.h), C (m × n) (+)= A (m × k) · B (k × n) with B's rows contiguous and n a
// multiple of two 32-byte vectors, register blocks of 6 rows (AVX2 + FMA). Transposed operands (kᵀ, vᵀ by
// key tile; qᵀ, doutᵀ by query tile; the gathered far keys) are copied once per call into (tiles, D, 64)
// buffers with zero padding. Every tile product carries per-row ranges (non-decreasing with the row) of
// the columns or summation indices that matter (a RowBand); register blocks outside them are skipped.
// Masked scores become −inf before the exponential (a vectorised polynomial for f32, std::exp for f64),
// so their probabilities are exactly 0.
// Tasks own their outputs and sum in a fixed order; tasks are split between threads by estimated cost.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "core/check.h"
#include "core/parallel.h"
#include "kernels/common/tile_gemm.h"
#include "kernels/sparse_attention/sparse_attention.h"

namespace sra::kern {

namespace {

using namespace tile;     // kTile: queries per query tile, keys per key tile and per far tile
constexpr int kRows = 6;  // register-block rows of tile_gemm (then blocks of 4 and 1)

// ---- row pieces of the softmax (n a multiple of the vector width; lanes combined in a fixed order) ----

// row[c] ← lo ≤ c < hi ? row[c]·scale + bias[c] : −inf (bias null: 0); returns the row's max.
template <typename T>
T mask_max(T* row, int64_t n, int64_t lo, int64_t hi, const T* bias, T scale) {
  const Vec<T> ninf = splat(-std::numeric_limits<T>::infinity()), vlo = splat(T(lo)), vhi = splat(T(hi));
  Vec<T> idx = lane_index<T>(), m = ninf;
  for (int64_t c = 0; c < n; c += kLanes<T>, idx += T(kLanes<T>)) {
    Vec<T> x = load(row + c) * scale;
    if (bias) x += load(bias + c);
    x = (idx >= vlo) & (idx < vhi) ? x : ninf;
    store(row + c, x);
    m = x > m ? x : m;
  }
  return lanes_max<T>(m);
}

// A query row against a key tile: for columns c in [lo, hi), s[c] ← P = e^(s[c]·scale + bias[c] − lse)
// and d[c] ← dS = P·(d[c] − Δ)·scale; both 0 elsewhere (whatever they held).
template <typename T>
void query_probs(T* s, T* d, int64_t n, int64_t lo, int64_t hi, const T* bias, T lse, T delta, T scale) {
  const Vec<T> ninf = splat(-std::numeric_limits<T>::infinity()), zero{};
  const Vec<T> vlo = splat(T(lo)), vhi = splat(T(hi)), vl = splat(lse), vd = splat(delta);
  Vec<T> idx = lane_index<T>();
  for (int64_t c = 0; c < n; c += kLanes<T>, idx += T(kLanes<T>)) {
    const auto valid = (idx >= vlo) & (idx < vhi);
    Vec<T> x = load(s + c) * scale - vl;
    if (bias) x += load(bias + c);
    const Vec<T> p = exp_v<T>(valid ? x : ninf);
    store(s + c, p);
    store(d + c, valid ? p * (load(d + c) - vd) * scale : zero);
  }
}

// A key row against a query tile, lse and Δ per column: as query_probs with one bias for the row. When
// gate_grad, returns Σ over [lo, hi) of e^(s·scale − lse)·(d − Δ) (the gate gradient of the row's key).
template <typename T>
T key_probs(T* s, T* d, int64_t n, int64_t lo, int64_t hi, T bias, bool gate_grad, const T* lse,
            const T* delta, T scale) {
  const Vec<T> ninf = splat(-std::numeric_limits<T>::infinity()), zero{};
  const Vec<T> vlo = splat(T(lo)), vhi = splat(T(hi));
  Vec<T> idx = lane_index<T>(), gacc{};
  for (int64_t c = 0; c < n; c += kLanes<T>, idx += T(kLanes<T>)) {
    const auto valid = (idx >= vlo) & (idx < vhi);
    const Vec<T> x = valid ? load(s + c) * scale - load(lse + c) : ninf;
    const Vec<T> g = valid ? load(d + c) - load(delta + c) : zero;
    const Vec<T> p = exp_v<T>(x + bias);
    store(s + c, p);
    store(d + c, p * g * scale);
    if (gate_grad) gacc += exp_v<T>(x) * g;
  }
  return gate_grad ? lanes_sum<T>(gacc) : T(0);
}

// ---- the plan of one call: far keys per batch row ---------------------------------------------------

struct FarTile {
  int64_t b, g, ft;  // batch row, kv head, tile of the row's far keys
};

template <typename T>
struct Plan {
  int64_t batch, heads, kv_heads, len, d, dp, group, window, sinks, nqt, nkt;
  std::vector<int64_t> nf;      // (B): far keys of each batch row
  std::vector<int64_t> ft_off;  // (B + 1): first far tile of each batch row
  std::vector<int64_t> fpos;    // (ft_off[B]·kTile): far key positions, ascending per row, padded with len
  std::vector<T> fbias;         // same layout: 0 for sinks, log gate for critical keys, 0 as padding
  std::vector<int64_t> before;  // (B, len + 1): far keys of row b at positions < x
  std::vector<FarTile> tiles;   // per-(b, kv head) far tiles; tiles[bg_tile(b, g) + ft] = {b, g, ft}

  int64_t far_tiles(int64_t b) const { return ft_off[size_t(b + 1)] - ft_off[size_t(b)]; }
  int64_t bg_tile(int64_t b, int64_t g) const { return kv_heads * ft_off[size_t(b)] + g * far_tiles(b); }
  // Far keys seen by query i of row b: the first far_visible(b, i) (positions ≤ i − W).
  int64_t far_visible(int64_t b, int64_t i) const {
    return before[size_t(b * (len + 1) + std::max<int64_t>(0, i - window + 1))];
  }
  const int64_t* far_pos(int64_t b) const { return fpos.data() + ft_off[size_t(b)] * kTile; }
  const T* far_bias(int64_t b) const { return fbias.data() + ft_off[size_t(b)] * kTile; }
};

template <typename T>
Plan<T> make_plan(const uint8_t* selected, const T* gate, const SparseAttentionDims& dims) {
  Plan<T> P;
  P.batch = dims.batch, P.heads = dims.heads, P.kv_heads = dims.kv_heads, P.len = dims.t, P.d = dims.d;
  P.dp = round_up(std::max<int64_t>(dims.d, 1), kCols<T>);
  P.group = dims.heads / dims.kv_heads;
  P.window = dims.window, P.sinks = std::min(dims.n_sinks, dims.t);
  P.nqt = (dims.t + kTile - 1) / kTile, P.nkt = P.nqt;
  const int64_t B = P.batch, L = P.len;
  auto is_far = [&](int64_t b, int64_t j) { return j < P.sinks || selected[b * L + j] != 0; };
  P.nf.assign(size_t(B), 0);
  P.ft_off.assign(size_t(B + 1), 0);
  P.before.assign(size_t(B * (L + 1)), 0);
  for (int64_t b = 0; b < B; ++b) {
    int64_t* before = P.before.data() + b * (L + 1);
    for (int64_t j = 0; j < L; ++j) before[j + 1] = before[j] + (is_far(b, j) ? 1 : 0);
    P.nf[size_t(b)] = before[L];
    P.ft_off[size_t(b + 1)] = P.ft_off[size_t(b)] + (before[L] + kTile - 1) / kTile;
  }
  P.fpos.assign(size_t(P.ft_off[size_t(B)] * kTile), L);
  P.fbias.assign(P.fpos.size(), T(0));
  for (int64_t b = 0; b < B; ++b) {
    int64_t c = P.ft_off[size_t(b)] * kTile;
    for (int64_t j = 0; j < L; ++j) {
      if (!is_far(b, j)) continue;
      P.fpos[size_t(c)] = j;
      P.fbias[size_t(c)] = j < P.sinks ? T(0) : T(std::log(gate[b * L + j]));
      ++c;
    }
    for (int64_t g = 0; g < P.kv_heads; ++g)
      for (int64_t ft = 0; ft < P.far_tiles(b); ++ft) P.tiles.push_back({b, g, ft});
  }
  return P;
}

// For every far tile t (see Plan::tiles): rows (kTile × dp, zero padded) of src (B, Hkv, len, d) at the
// tile's far positions, and that tile transposed (d × kTile) when tiles_t is not null.
template <typename T>
void gather_far(T* rows, T* tiles_t, const T* src, const Plan<T>& P) {
  const int64_t d = P.d, dp = P.dp;
  parallel_for(int64_t(P.tiles.size()), grain_for(d, 4096), [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const FarTile& f = P.tiles[size_t(t)];
      const int64_t c0 = f.ft * kTile, cn = std::min(kTile, P.nf[size_t(f.b)] - c0);
      const int64_t* pos = P.far_pos(f.b) + c0;
      const T* s = src + (f.b * P.kv_heads + f.g) * P.len * d;
      T* r = rows + t * kTile * dp;
      for (int64_t jj = 0; jj < kTile; ++jj) {
        if (jj < cn) std::copy(s + pos[jj] * d, s + (pos[jj] + 1) * d, r + jj * dp);
        std::fill(r + jj * dp + (jj < cn ? d : 0), r + (jj + 1) * dp, T(0));
      }
      if (tiles_t) transpose_tile(tiles_t + t * d * kTile, r, cn, d, dp);
    }
  });
}

// Runs fn(begin, end) over [0, cost.size()) split into one contiguous chunk per thread of about equal
// total cost (inline when the total is small). Tasks own their outputs, so the split never changes results.
template <typename F>
void run_tasks(const std::vector<int64_t>& cost, F&& fn) {
  const int64_t n = int64_t(cost.size());
  if (n == 0) return;
  int64_t total = 0;
  for (int64_t c : cost) total += c;
  const int64_t chunks = std::min<int64_t>(num_threads(), n);
  if (chunks <= 1 || total < (int64_t(1) << 17)) {
    fn(int64_t(0), n);
    return;
  }
  std::vector<int64_t> bound(size_t(chunks + 1), n);
  bound[0] = 0;
  int64_t acc = 0, c = 1;
  for (int64_t t = 0; t < n && c < chunks; ++t) {
    acc += cost[size_t(t)];
    while (c < chunks && acc * chunks >= total * c) bound[size_t(c++)] = t + 1;
  }
  parallel_for(chunks, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t ci = c0; ci < c1; ++ci)
      if (bound[size_t(ci)] < bound[size_t(ci + 1)]) fn(bound[size_t(ci)], bound[size_t(ci + 1)]);
  });
}

// The key tiles met by the query tile [i0, i0 + iq) of batch row b: first the far tiles, then the key
// tiles of the window. For each, fills lo/hi (the columns row r sees: [lo[r], hi[r]) of the tile's jn
// columns) and calls f(far, tile, j0, jn) with the tile index (far: within the row's far tiles) and its
// first column (far: index among the row's far keys; window: position).
template <typename T, typename F>
void for_key_tiles(const Plan<T>& P, int64_t b, int64_t i0, int64_t iq, int64_t* lo, int64_t* hi, F&& f) {
  const int64_t nvis = P.far_visible(b, i0 + iq - 1);
  for (int64_t c0 = 0; c0 < nvis; c0 += kTile) {
    const int64_t jn = std::min(kTile, nvis - c0);
    for (int64_t r = 0; r < iq; ++r)
      lo[r] = 0, hi[r] = std::clamp<int64_t>(P.far_visible(b, i0 + r) - c0, 0, jn);
    f(true, c0 / kTile, c0, jn);
  }
  const int64_t jlo = std::max<int64_t>(0, i0 - P.window + 1), jhi = i0 + iq;
  for (int64_t kt = jlo / kTile; kt * kTile < jhi; ++kt) {
    const int64_t j0 = kt * kTile, jn = std::min(kTile, jhi - j0);
    for (int64_t r = 0; r < iq; ++r) {
      lo[r] = std::clamp<int64_t>(i0 + r - P.window + 1 - j0, 0, jn);
      hi[r] = std::clamp<int64_t>(i0 + r + 1 - j0, 0, jn);
    }
    f(false, kt, j0, jn);
  }
}

// Estimated multiply-adds of the query tile qt of batch row b.
template <typename T>
int64_t query_tile_cost(const Plan<T>& P, int64_t b, int64_t qt) {
  const int64_t i0 = qt * kTile, iq = std::min(kTile, P.len - i0);
  return iq * (P.far_visible(b, i0 + iq - 1) + std::min(i0 + iq, P.window + iq) + kTile) * P.d;
}

}  // namespace

template <typename T>
void sparse_attention_forward_cpu(T* out, T* lse, const T* q, const T* k, const T* v, const uint8_t* selected,
                                  const T* gate, const SparseAttentionDims& dims) {
  if (dims.batch * dims.heads * dims.t * dims.d == 0) return;
  const Plan<T> P = make_plan<T>(selected, gate, dims);
  const T scale = T(dims.scale), ninf = -std::numeric_limits<T>::infinity();
  const int64_t D = P.d, Dp = P.dp, L = P.len;
  std::vector<T> k_t(size_t(P.batch * P.kv_heads * P.nkt * D * kTile));
  transpose_tiles(k_t.data(), k, P.batch * P.kv_heads, L, D);
  const int64_t nft = int64_t(P.tiles.size());
  std::vector<T> fk_t(size_t(nft * D * kTile)), fv(size_t(nft * kTile * Dp)),
      scratch_rows(size_t(nft * kTile * Dp));
  gather_far(scratch_rows.data(), fk_t.data(), k, P);
  gather_far(fv.data(), static_cast<T*>(nullptr), v, P);
  scratch_rows = std::vector<T>();

  std::vector<int64_t> cost(size_t(P.batch * P.heads * P.nqt));
  for (size_t w = 0; w < cost.size(); ++w)
    cost[w] = query_tile_cost(P, int64_t(w) / (P.heads * P.nqt), int64_t(w) % P.nqt);
  run_tasks(cost, [&](int64_t w0, int64_t w1) {
    std::vector<T> sc(kTile * kTile), acc(size_t(kTile * Dp)), vbuf(size_t(kTile * Dp)), m(kTile), l(kTile);
    int64_t lo[kTile], hi[kTile];
    for (int64_t w = w0; w < w1; ++w) {
      const int64_t bh = w / P.nqt, b = bh / P.heads, g = bh % P.heads / P.group, bg = b * P.kv_heads + g;
      const int64_t i0 = (w % P.nqt) * kTile, iq = std::min(kTile, L - i0);
      const T* qb = q + (bh * L + i0) * D;
      std::fill(acc.begin(), acc.end(), T(0));
      std::fill(m.begin(), m.end(), ninf);
      std::fill(l.begin(), l.end(), T(0));
      for_key_tiles(P, b, i0, iq, lo, hi, [&](bool far, int64_t tile, int64_t j0, int64_t jn) {
        const int64_t jp = round_up(jn, kCols<T>);
        const T* kt = far ? fk_t.data() + (P.bg_tile(b, g) + tile) * D * kTile
                          : k_t.data() + (bg * P.nkt + tile) * D * kTile;
        tile_gemm<kRows>(iq, jp, D, qb, D, kt, kTile, sc.data(), jp, false, BandOn::cols,
                         RowBand{lo, hi});  // q·kᵀ
        const T* bias = far ? P.far_bias(b) + j0 : nullptr;
        for (int64_t r = 0; r < iq; ++r) {
          T* row = sc.data() + r * jp;
          const T m_new =
              hi[r] > lo[r] ? std::max(m[size_t(r)], mask_max(row, jp, lo[r], hi[r], bias, scale)) : ninf;
          if (m_new == ninf) {  // nothing visible here (or only zero gates so far)
            std::fill(row, row + jp, T(0));
            continue;
          }
          const T alpha = std::exp(m[size_t(r)] - m_new);
          l[size_t(r)] = l[size_t(r)] * alpha + exp_sum(row, jp, m_new);  // row ← unnormalised P
          m[size_t(r)] = m_new;
          if (alpha != T(1)) {
            T* a = acc.data() + r * Dp;
            for (int64_t c = 0; c < Dp; ++c) a[c] *= alpha;
          }
        }
        const T* vr = far ? fv.data() + (P.bg_tile(b, g) + tile) * kTile * Dp
                          : padded_rows(vbuf.data(), v + (bg * L + j0) * D, jn, D, Dp);
        tile_gemm<kRows>(iq, Dp, jn, sc.data(), jp, vr, Dp, acc.data(), Dp, true, BandOn::sum,
                         RowBand{lo, hi});  // += P·v
      });
      for (int64_t r = 0; r < iq; ++r) {
        T* o = out + (bh * L + i0 + r) * D;
        const T* a = acc.data() + r * Dp;
        for (int64_t c = 0; c < D; ++c) o[c] = a[c] / l[size_t(r)];
        lse[bh * L + i0 + r] = m[size_t(r)] + std::log(l[size_t(r)]);
      }
    }
  });
}

namespace {

// The backward tasks. Inputs as in sparse_attention_backward_cpu plus Δ and the copies.
template <typename T>
struct Backward {
  const Plan<T>& P;
  T scale;
  const T *dout, *q, *k, *v, *lse, *delta;
  const T *k_t, *v_t, *q_t, *do_t;  // by tile: (heads, tiles, D, kTile)
  const T *fk, *fv, *fk_t, *fv_t;   // far keys by far tile: rows (kTile, Dp) and transposed (D, kTile)
  T *dq, *dk, *dv;                  // dk, dv: the window part (the far part goes to fdk, fdv)
  T *fdk, *fdv, *fdg;               // by far tile: (kTile, D), (kTile, D), (kTile) gate gradient parts

  struct Scratch {
    std::vector<T> s, dp, acc0, acc1, buf0, buf1, lse_c, delta_c;
    int64_t lo[kTile], hi[kTile];
    explicit Scratch(int64_t dp_cols)
        : s(kTile * kTile),
          dp(kTile * kTile),
          acc0(size_t(kTile * dp_cols)),
          acc1(acc0.size()),
          buf0(acc0.size()),
          buf1(acc0.size()),
          lse_c(kTile),
          delta_c(kTile) {}
  };

  // dq rows of the query tile at i0 of head bh: Σ over the key tiles it meets, in order.
  void dq_tile(int64_t bh, int64_t i0, Scratch& S) const {
    const int64_t D = P.d, Dp = P.dp, L = P.len;
    const int64_t b = bh / P.heads, g = bh % P.heads / P.group, bg = b * P.kv_heads + g;
    const int64_t iq = std::min(kTile, L - i0);
    const T* qb = q + (bh * L + i0) * D;
    const T* db = dout + (bh * L + i0) * D;
    T* dqa = S.acc0.data();
    std::fill(S.acc0.begin(), S.acc0.end(), T(0));
    for_key_tiles(P, b, i0, iq, S.lo, S.hi, [&](bool far, int64_t tile, int64_t j0, int64_t jn) {
      const int64_t jp = round_up(jn, kCols<T>);
      const int64_t toff = far ? (P.bg_tile(b, g) + tile) * D * kTile : (bg * P.nkt + tile) * D * kTile;
      const RowBand band{S.lo, S.hi};
      tile_gemm<kRows>(iq, jp, D, qb, D, (far ? fk_t : k_t) + toff, kTile, S.s.data(), jp, false,
                       BandOn::cols, band);  // q·kᵀ
      tile_gemm<kRows>(iq, jp, D, db, D, (far ? fv_t : v_t) + toff, kTile, S.dp.data(), jp, false,
                       BandOn::cols, band);  // dout·vᵀ
      const T* bias = far ? P.far_bias(b) + j0 : nullptr;
      for (int64_t r = 0; r < iq; ++r) {
        const int64_t row = bh * L + i0 + r;
        query_probs(S.s.data() + r * jp, S.dp.data() + r * jp, jp, S.lo[r], S.hi[r], bias, lse[row],
                    delta[row],
                    scale);  // P, dS
      }
      const T* kr = far ? fk + (P.bg_tile(b, g) + tile) * kTile * Dp
                        : padded_rows(S.buf0.data(), k + (bg * L + j0) * D, jn, D, Dp);
      tile_gemm<kRows>(iq, Dp, jn, S.dp.data(), jp, kr, Dp, dqa, Dp, true, BandOn::sum, band);  // dq += dS·k
    });
    unpack_rows(dq + (bh * L + i0) * D, D, dqa, iq, Dp);
  }

  // The key rows a (rows × D, row stride lda; biases, gate flags) of kv group (b, g) against query tile
  // qt of every head of the group: accumulates dv += Pᵀ·dout and dk += dSᵀ·q into S.acc1 / S.acc0 and the
  // gate gradients into gacc. lo/hi (filled by the caller's set_band) give each key row's query columns.
  template <typename Band>
  void key_rows_vs_query_tile(int64_t bh, int64_t qt, const T* ka, const T* va, int64_t lda, int64_t rows,
                              const T* bias, const bool* gate_grad, T* gacc, Scratch& S,
                              Band&& set_band) const {
    const int64_t D = P.d, Dp = P.dp, L = P.len;
    const int64_t i0 = qt * kTile, iq = std::min(kTile, L - i0), ip = round_up(iq, kCols<T>);
    set_band(i0, iq);
    for (int64_t c = 0; c < ip; ++c) {
      S.lse_c[size_t(c)] = c < iq ? lse[bh * L + i0 + c] : T(0);
      S.delta_c[size_t(c)] = c < iq ? delta[bh * L + i0 + c] : T(0);
    }
    const int64_t toff = (bh * P.nqt + qt) * D * kTile;
    const RowBand band{S.lo, S.hi};
    tile_gemm<kRows>(rows, ip, D, ka, lda, q_t + toff, kTile, S.s.data(), ip, false, BandOn::cols,
                     band);  // k·qᵀ = Sᵀ
    tile_gemm<kRows>(rows, ip, D, va, lda, do_t + toff, kTile, S.dp.data(), ip, false, BandOn::cols,
                     band);  // v·doutᵀ = dPᵀ
    for (int64_t jj = 0; jj < rows; ++jj) {
      const bool gg = gate_grad && gate_grad[jj];
      const T gsum = key_probs(S.s.data() + jj * ip, S.dp.data() + jj * ip, ip, S.lo[jj], S.hi[jj],
                               bias ? bias[jj] : T(0), gg, S.lse_c.data(), S.delta_c.data(), scale);
      if (gg) gacc[jj] += gsum;
    }
    const T* dr = padded_rows(S.buf0.data(), dout + (bh * L + i0) * D, iq, D, Dp);
    const T* qr = padded_rows(S.buf1.data(), q + (bh * L + i0) * D, iq, D, Dp);
    tile_gemm<kRows>(rows, Dp, iq, S.s.data(), ip, dr, Dp, S.acc1.data(), Dp, true, BandOn::sum,
                     band);  // dv += Pᵀ·dout
    tile_gemm<kRows>(rows, Dp, iq, S.dp.data(), ip, qr, Dp, S.acc0.data(), Dp, true, BandOn::sum,
                     band);  // dk += dSᵀ·q
  }

  // Window part of dk, dv for key tile kt of kv group bg: the queries [j, j + W − 1] of every head.
  void window_tile(int64_t bg, int64_t kt, Scratch& S) const {
    const int64_t D = P.d, Dp = P.dp, L = P.len, W = P.window;
    const int64_t b = bg / P.kv_heads, g = bg % P.kv_heads;
    const int64_t j0 = kt * kTile, jn = std::min(kTile, L - j0);
    const int64_t i_end = std::min(L, j0 + jn - 1 + W);  // queries [j0, i_end) see some key of the tile
    std::fill(S.acc0.begin(), S.acc0.end(), T(0));
    std::fill(S.acc1.begin(), S.acc1.end(), T(0));
    auto band = [&](int64_t i0, int64_t iq) {
      for (int64_t jj = 0; jj < jn; ++jj) {
        S.lo[jj] = std::clamp<int64_t>(j0 + jj - i0, 0, iq);
        S.hi[jj] = std::clamp<int64_t>(j0 + jj + W - i0, 0, iq);
      }
    };
    for (int64_t h = g * P.group; h < (g + 1) * P.group; ++h)
      for (int64_t qt = j0 / kTile; qt * kTile < i_end; ++qt)
        key_rows_vs_query_tile(b * P.heads + h, qt, k + (bg * L + j0) * D, v + (bg * L + j0) * D, D, jn,
                               nullptr, nullptr, nullptr, S, band);
    for (int64_t jj = 0; jj < jn; ++jj) {
      std::copy(S.acc0.data() + jj * Dp, S.acc0.data() + jj * Dp + D, dk + (bg * L + j0 + jj) * D);
      std::copy(S.acc1.data() + jj * Dp, S.acc1.data() + jj * Dp + D, dv + (bg * L + j0 + jj) * D);
    }
  }

  // Far part of dk, dv, and the gate gradient, for far tile t: the queries i ≥ j + W of every head.
  void far_tile(int64_t t, Scratch& S) const {
    const int64_t D = P.d, Dp = P.dp, W = P.window;
    const FarTile& f = P.tiles[size_t(t)];
    const int64_t c0 = f.ft * kTile, cn = std::min(kTile, P.nf[size_t(f.b)] - c0);
    const int64_t* pos = P.far_pos(f.b) + c0;
    bool gate_grad[kTile];
    T gacc[kTile];
    for (int64_t jj = 0; jj < cn; ++jj) gate_grad[jj] = pos[jj] >= P.sinks, gacc[jj] = T(0);
    std::fill(S.acc0.begin(), S.acc0.end(), T(0));
    std::fill(S.acc1.begin(), S.acc1.end(), T(0));
    auto band = [&](int64_t i0, int64_t iq) {
      for (int64_t jj = 0; jj < cn; ++jj)
        S.lo[jj] = std::clamp<int64_t>(pos[jj] + W - i0, 0, iq), S.hi[jj] = iq;
    };
    const T* ka = fk + t * kTile * Dp;
    const T* va = fv + t * kTile * Dp;
    for (int64_t h = f.g * P.group; h < (f.g + 1) * P.group; ++h)
      for (int64_t qt = (pos[0] + W) / kTile; qt < P.nqt; ++qt)
        key_rows_vs_query_tile(f.b * P.heads + h, qt, ka, va, Dp, cn, P.far_bias(f.b) + c0, gate_grad, gacc,
                               S, band);
    for (int64_t jj = 0; jj < kTile; ++jj) {
      T* odk = fdk + (t * kTile + jj) * D;
      T* odv = fdv + (t * kTile + jj) * D;
      if (jj < cn) {
        std::copy(S.acc0.data() + jj * Dp, S.acc0.data() + jj * Dp + D, odk);
        std::copy(S.acc1.data() + jj * Dp, S.acc1.data() + jj * Dp + D, odv);
      }
      fdg[t * kTile + jj] = jj < cn ? gacc[jj] : T(0);
    }
  }
};

}  // namespace

template <typename T>
void sparse_attention_backward_cpu(T* dq, T* dk, T* dv, T* dgate, const T* dout, const T* q, const T* k,
                                   const T* v, const uint8_t* selected, const T* gate, const T* out,
                                   const T* lse, const SparseAttentionDims& dims) {
  const int64_t B = dims.batch, Hkv = dims.kv_heads, L = dims.t, D = dims.d;
  if (B * dims.heads * L * D == 0) {
    std::fill(dk, dk + B * Hkv * L * D, T(0));
    std::fill(dv, dv + B * Hkv * L * D, T(0));
    std::fill(dgate, dgate + B * L, T(0));
    return;
  }
  const Plan<T> P = make_plan<T>(selected, gate, dims);
  const int64_t Dp = P.dp;

  // Δ_i = Σ_d dout_id · out_id, one value per query row.
  const int64_t rows = B * P.heads * L;
  std::vector<T> delta(static_cast<size_t>(rows));
  row_dots(delta.data(), dout, out, rows, D);
  std::vector<T> k_t(size_t(B * Hkv * P.nkt * D * kTile)), v_t(k_t.size());
  std::vector<T> q_t(size_t(B * P.heads * P.nqt * D * kTile)), do_t(q_t.size());
  transpose_tiles(k_t.data(), k, B * Hkv, L, D);
  transpose_tiles(v_t.data(), v, B * Hkv, L, D);
  transpose_tiles(q_t.data(), q, B * P.heads, L, D);
  transpose_tiles(do_t.data(), dout, B * P.heads, L, D);
  const int64_t nft = int64_t(P.tiles.size());
  std::vector<T> fk(size_t(nft * kTile * Dp)), fv(fk.size()), fk_t(size_t(nft * D * kTile)),
      fv_t(fk_t.size());
  gather_far(fk.data(), fk_t.data(), k, P);
  gather_far(fv.data(), fv_t.data(), v, P);
  std::vector<T> fdk(size_t(nft * kTile * D)), fdv(fdk.size()), fdg(size_t(nft * kTile));
  const Backward<T> bw{P,         T(dims.scale), dout,        q,           k,          v,
                       lse,       delta.data(),  k_t.data(),  v_t.data(),  q_t.data(), do_t.data(),
                       fk.data(), fv.data(),     fk_t.data(), fv_t.data(), dq,         dk,
                       dv,        fdk.data(),    fdv.data(),  fdg.data()};

  // One run over three kinds of tasks with disjoint outputs: dq by (b, h, query tile); dk, dv (window
  // part) by (b, kv head, key tile); far parts by far tile.
  const int64_t n_q = B * P.heads * P.nqt, n_w = B * Hkv * P.nkt;
  std::vector<int64_t> cost(size_t(n_q + n_w + nft));
  for (int64_t w = 0; w < n_q; ++w)
    cost[size_t(w)] = 3 * query_tile_cost(P, w / (P.heads * P.nqt), w % P.nqt);
  for (int64_t w = 0; w < n_w; ++w) {
    const int64_t j0 = (w % P.nkt) * kTile, jn = std::min(kTile, L - j0);
    cost[size_t(n_q + w)] = 4 * P.group * jn * (std::min(L - j0, P.window + jn) + kTile) * D;
  }
  for (int64_t t = 0; t < nft; ++t) {
    const FarTile& f = P.tiles[size_t(t)];
    const int64_t first = P.far_pos(f.b)[f.ft * kTile];
    cost[size_t(n_q + n_w + t)] =
        4 * P.group * kTile * (std::max<int64_t>(0, L - first - P.window) + kTile) * D;
  }
  run_tasks(cost, [&](int64_t w0, int64_t w1) {
    typename Backward<T>::Scratch S(Dp);
    for (int64_t w = w0; w < w1; ++w) {
      if (w < n_q) {
        bw.dq_tile(w / P.nqt, (w % P.nqt) * kTile, S);
      } else if (w < n_q + n_w) {
        bw.window_tile((w - n_q) / P.nkt, (w - n_q) % P.nkt, S);
      } else {
        bw.far_tile(w - n_q - n_w, S);
      }
    }
  });

  // Far parts into dk, dv (each far key's rows belong to one far tile) and the gate gradient, summed over
  // kv heads in order.
  parallel_for(nft, grain_for(D, 2048), [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const FarTile& f = P.tiles[size_t(t)];
      const int64_t c0 = f.ft * kTile, cn = std::min(kTile, P.nf[size_t(f.b)] - c0);
      const int64_t* pos = P.far_pos(f.b) + c0;
      const int64_t bg = f.b * Hkv + f.g;
      for (int64_t jj = 0; jj < cn; ++jj)
        for (int64_t c = 0; c < D; ++c) {
          dk[(bg * L + pos[jj]) * D + c] += fdk[size_t((t * kTile + jj) * D + c)];
          dv[(bg * L + pos[jj]) * D + c] += fdv[size_t((t * kTile + jj) * D + c)];
        }
    }
  });
  std::fill(dgate, dgate + B * L, T(0));
  for (int64_t b = 0; b < B; ++b) {
    const int64_t* pos = P.far_pos(b);
    for (int64_t c = 0; c < P.nf[size_t(b)]; ++c) {
      if (pos[c] < P.sinks) continue;
      T s = 0;
      for (int64_t g = 0; g < Hkv; ++g) s += fdg[size_t(P.bg_tile(b, g) * kTile + c)];
      dgate[b * L + pos[c]] = s;
    }
  }
}

template void sparse_attention_forward_cpu<float>(float*, float*, const float*, const float*, const float*,
                                                  const uint8_t*, const float*, const SparseAttentionDims&);
template void sparse_attention_forward_cpu<double>(double*, double*, const double*, const double*,
                                                   const double*, const uint8_t*, const double*,
                                                   const SparseAttentionDims&);
template void sparse_attention_backward_cpu<float>(float*, float*, float*, float*, const float*, const float*,
                                                   const float*, const float*, const uint8_t*, const float*,
                                                   const float*, const float*, const SparseAttentionDims&);
template void sparse_attention_backward_cpu<double>(double*, double*, double*, double*, const double*,
                                                    const double*, const double*, const double*,
                                                    const uint8_t*, const double*, const double*,
                                                    const double*, const SparseAttentionDims&);

}  // namespace sra::kern
