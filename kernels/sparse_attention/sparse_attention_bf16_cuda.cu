// Sparse attention on bf16 tensor cores (math in sparse_attention.h; the kernels are kernels/common/
// flash_bf16_cuda.cuh, this file gives them the sparse plans). q, k, v, dout bf16 with D = 64 or 128;
// gate, out, lse, dq, dk, dv f32. The far list (fpos, before) is built by sparse_attention_cuda.cu, which
// also sums dgate from fdg after the backward here.
//   query tile [i0, i0 + nq): the far keys at positions ≤ i0 + nq − 1 − W (a prefix of the list) in tiles
//     of 64, then the window keys [max(0, i0 − W + 1), i0 + nq) in tiles of 64. Key bias log gate_j for a
//     critical far key, else 0. A far tile is partial (masked per element, j ≤ i − W) unless all its 64
//     keys are real and the last lies ≤ i0 − W; a window tile (i − W < j ≤ i) unless its 64 keys lie in
//     [i0 + nq − W, i0].
//   window key pass: key tile [j0, j0 + 64) against the queries [j0, j0 + 63 + W) of each head of its kv
//     group; writes dk, dv. Far key pass (after it): the far keys c0..c0+63 of the list against the
//     queries i ≥ fpos[c0] + W; adds into dk, dv at the keys' positions and writes fdg (per kv head).
#include <algorithm>

#include "core/check.h"
#include "kernels/common/flash_bf16_cuda.cuh"
#include "kernels/sparse_attention/sparse_attention.h"

namespace sra::kern {

namespace {

// query m-tiles per warp in the forward and dq at D = 64 (flash::with_mtiles; the key passes keep one): two
// pay once the far stream is long (docs/perf.md "m-tiles": fwd + bwd at T = 16384, B 1, 12 heads × 64
// 1.86 → 1.73–1.76 ms) and cost at shorter ones (T = 1024, B 16: 0.70–0.71 → 0.74–0.75 ms; T = 4096, B 4:
// 0.96 → 0.98–0.99 ms), so two from kTwoMtilesFromT, between the measured 4096 and 16384
int query_mtiles64(int64_t t) {
  constexpr int64_t kTwoMtilesFromT = 8192;
  return t >= kTwoMtilesFromT ? 2 : 1;
}

using flash::kTile;

struct SparseQueryPlan {
  static constexpr bool kBias = true;
  const int* fp;
  const float* gate;
  int nvis, far_tiles, jlo, jhi, tiles, i0, nq, window, sinks;
  __device__ SparseQueryPlan(const flash::Params& p, int64_t b, int first, int n)
      : fp(p.fpos + b * p.t), gate(p.gate + b * p.t), i0(first), nq(n), window(p.window), sinks(p.sinks) {
    const int x = first + n - p.window;  // far keys at positions < x
    nvis = x > 0 ? p.before[b * (int64_t(p.t) + 1) + x] : 0;
    far_tiles = (nvis + kTile - 1) / kTile;
    jlo = max(0, first - p.window + 1);
    jhi = first + n;
    tiles = far_tiles + (jhi - jlo + kTile - 1) / kTile;
  }
  __device__ int key_pos(int tile, int r) const {
    if (tile < far_tiles) {
      const int c = tile * kTile + r;
      return c < nvis ? fp[c] : -1;
    }
    const int j = jlo + (tile - far_tiles) * kTile + r;
    return j < jhi ? j : -1;
  }
  // The bias of the key at position pos (−1: padding) in tile `tile`.
  __device__ float key_bias(int tile, int pos) const {
    return tile < far_tiles && pos >= sinks ? logf(gate[pos]) : 0.f;
  }
  __device__ bool full(int tile) const {
    if (tile < far_tiles) {
      const int last = tile * kTile + kTile - 1;
      return last < nvis && fp[last] <= i0 - window;
    }
    const int j0 = jlo + (tile - far_tiles) * kTile;
    return j0 + kTile <= jhi && j0 + kTile - 1 <= i0 && j0 > i0 + nq - 1 - window;
  }
  __device__ bool visible(int tile, int i, int j) const {
    return j >= 0 && (tile < far_tiles ? j <= i - window : j <= i && j > i - window);
  }
};

struct WindowKeyPlan {
  static constexpr bool kBias = false, kAccumulate = false, kGateGrad = false;
  static constexpr int kKeys = kTile;
  bool empty = false;
  int qt0, qt1, j0, jn, window;
  __device__ WindowKeyPlan(const flash::Params& p, int64_t, int kt, int bq)
      : j0(kt * kTile), jn(min(kTile, p.t - kt * kTile)), window(p.window) {
    const int i_end = min(p.t, j0 + jn - 1 + p.window);  // queries [j0, i_end) see a key of the tile
    qt0 = j0 / bq;
    qt1 = (i_end + bq - 1) / bq;
  }
  __device__ int key_pos(int r) const { return r < jn ? j0 + r : -1; }
  __device__ float key_bias(int) const { return 0.f; }
  __device__ bool full(int i0, int nq) const { return i0 >= j0 + kTile - 1 && i0 + nq - 1 - window < j0; }
  __device__ bool visible(int i, int j) const { return j >= 0 && i >= j && i - window < j; }
  __device__ void gate_grad(const flash::Params&, int64_t, int, float) const {}
};

struct FarKeyPlan {
  static constexpr bool kBias = true, kAccumulate = true, kGateGrad = true;
  static constexpr int kKeys = kTile;
  const int* fp;
  const float* gate;
  bool empty;
  int qt0 = 0, qt1 = 0, c0, cn = 0, last = 0, window, sinks, t;
  __device__ FarKeyPlan(const flash::Params& p, int64_t b, int kt, int bq)
      : fp(p.fpos + b * p.t),
        gate(p.gate + b * p.t),
        c0(kt * kTile),
        window(p.window),
        sinks(p.sinks),
        t(p.t) {
    const int nf = p.before[b * (int64_t(p.t) + 1) + p.t];
    empty = c0 >= nf;
    if (empty) return;
    cn = min(kTile, nf - c0);
    last = fp[c0 + cn - 1];
    const int first = fp[c0] + p.window;  // the first query that sees a key of the tile
    qt1 = (p.t + bq - 1) / bq;
    qt0 = first < p.t ? first / bq : qt1;
  }
  __device__ int key_pos(int r) const { return r < cn ? fp[c0 + r] : -1; }
  __device__ float key_bias(int r) const {
    const int pos = key_pos(r);
    return pos >= sinks ? logf(gate[pos]) : 0.f;
  }
  __device__ bool full(int i0, int) const { return i0 >= last + window; }
  __device__ bool visible(int i, int j) const { return j >= 0 && i >= j + window; }
  // fdg[b·Hkv + g, c] for the far key c = c0 + r: its gate gradient from this kv head (0 for a sink).
  __device__ void gate_grad(const flash::Params& p, int64_t bkv, int r, float g) const {
    if (r < cn) p.fdg[bkv * t + c0 + r] = key_pos(r) >= sinks ? g : 0.f;
  }
};

flash::Params params(const SparseAttentionDims& m, const float* gate, const int* fpos, const int* before) {
  SRA_CHECK(sparse_attention_bf16_head_dim(m.d),
            "[sparse_attention] the bf16 kernel takes head dims 64 and 128, not ", m.d);
  SRA_CHECK(m.t < (int64_t(1) << 30), "[sparse_attention] T = ", m.t, " is too long for CUDA (< 2^30)");
  flash::Params p{};
  p.bh = m.batch * m.heads, p.bkv = m.batch * m.kv_heads;
  p.heads = m.heads, p.kv_heads = m.kv_heads, p.group = m.heads / m.kv_heads;
  p.t = int(m.t), p.s = int(m.t);
  p.scale = float(m.scale);
  p.window = int(std::min(m.window, m.t)), p.sinks = int(std::min(m.n_sinks, m.t));
  p.gate = gate, p.fpos = fpos, p.before = before;
  return p;
}

template <typename F>
void with_d(int64_t d, F&& f) {
  if (d == 64) return f(std::integral_constant<int, 64>{});
  f(std::integral_constant<int, 128>{});
}

}  // namespace

void sparse_attention_forward_bf16_cuda(const SparseAttentionArgs& a, const int* fpos, const int* before,
                                        int device) {
  flash::Params p = params(a.dims, static_cast<const float*>(a.gate), fpos, before);
  p.q = static_cast<const flash::bf16*>(a.q);
  p.k = static_cast<const flash::bf16*>(a.k);
  p.v = static_cast<const flash::bf16*>(a.v);
  p.out = static_cast<float*>(a.out);
  p.lse = static_cast<float*>(a.lse);
  flash::set_rows(p, a.rows, a.dims.d);
  cuda::DeviceGuard guard(device);
  with_d(a.dims.d, [&](auto d) {
    constexpr int D = decltype(d)::value;
    flash::with_mtiles<D, flash::kQueryRole>(query_mtiles64(a.dims.t), [&](auto mt) {
      flash::forward<D, SparseQueryPlan, decltype(mt)::value>(p, cuda::stream(device), device,
                                                              "sparse_attention");
    });
  });
}

void sparse_attention_backward_bf16_cuda(const SparseAttentionBackwardArgs& a, const int* fpos,
                                         const int* before, void* delta, void* fdg, int device) {
  flash::Params p = params(a.dims, static_cast<const float*>(a.gate), fpos, before);
  p.q = static_cast<const flash::bf16*>(a.q);
  p.k = static_cast<const flash::bf16*>(a.k);
  p.v = static_cast<const flash::bf16*>(a.v);
  p.dout = static_cast<const flash::bf16*>(a.dout);
  p.lse_in = static_cast<const float*>(a.lse);
  p.delta = static_cast<float*>(delta);
  p.dq = static_cast<float*>(a.dq);
  p.dk = static_cast<float*>(a.dk);
  p.dv = static_cast<float*>(a.dv);
  p.fdg = static_cast<float*>(fdg);
  flash::set_rows(p, a.rows, a.dims.d);
  cuda::DeviceGuard guard(device);
  cudaStream_t stream = cuda::stream(device);
  with_d(a.dims.d, [&](auto d) {
    constexpr int D = decltype(d)::value;
    const char* op = "sparse_attention";
    flash::with_mtiles<D, flash::kQueryRole>(query_mtiles64(a.dims.t), [&](auto mt) {
      flash::delta_and_dq<D, SparseQueryPlan, decltype(mt)::value>(p, static_cast<const float*>(a.out),
                                                                   stream, device, op);
    });
    flash::dkv<D, WindowKeyPlan>(p, stream, device, op);
    flash::dkv<D, FarKeyPlan>(p, stream, device, op);
  });
}

}  // namespace sra::kern
