// Dense attention on bf16 tensor cores (math in attention.h; the kernels are kernels/common/
// flash_bf16_cuda.cuh, this file gives them the dense plans). q, k, v, dout bf16 with D = 64 or 128;
// out, lse, dq, dk, dv f32. Query tiles and dk/dv key blocks of 128 rows at D = 64 (two m-tiles per warp),
// 64 at D = 128 (the text below says 64).
// Query tile [i0, i0 + nq) meets the key tiles of 64 up to its causal limit
// min(S, i0 + nq + S − T) (all S keys when not causal); a tile is partial (masked per element: key
// j ≤ i + S − T, j < S) when it reaches past S or past the first query's causal limit. Key tile
// [j0, j0 + 64) meets the query tiles from the first query that sees j0 (max(0, j0 − (S − T))) to T, of
// every query head of its kv group in order. Backward: Δ, dq, then dk and dv (written, not accumulated).
#include "core/check.h"
#include "kernels/attention/attention.h"
#include "kernels/common/flash_bf16_cuda.cuh"

namespace sra::kern {

namespace {

// m-tiles per warp at D = 64 (flash::with_mtiles): query rows in the forward and dq, keys in dk/dv; two
// each, measured faster (docs/perf.md "m-tiles": dense core at 16k 7.615 → 6.522 ms against one each)
constexpr int kQueryMtiles64 = 2, kKeyMtiles64 = 2;

using flash::kTile;

struct DenseQueryPlan {
  static constexpr bool kBias = false;
  int tiles, s, i0, shift;
  bool causal;
  __device__ DenseQueryPlan(const flash::Params& p, int64_t, int first, int nq)
      : s(p.s), i0(first), shift(p.shift), causal(p.causal) {
    const int kend = causal ? min(p.s, first + nq + p.shift) : p.s;
    tiles = (kend + kTile - 1) / kTile;
  }
  __device__ int key_pos(int tile, int r) const {
    const int j = tile * kTile + r;
    return j < s ? j : -1;
  }
  __device__ float key_bias(int, int) const { return 0.f; }
  __device__ bool full(int tile) const {
    const int j0 = tile * kTile;
    return j0 + kTile <= s && (!causal || j0 + kTile - 1 <= i0 + shift);
  }
  __device__ bool visible(int, int i, int j) const { return j >= 0 && (!causal || j <= i + shift); }
};

template <int BN>  // keys per block: kTile or 2·kTile
struct DenseKeyPlan {
  static constexpr bool kBias = false, kAccumulate = false, kGateGrad = false;
  static constexpr int kKeys = BN;
  bool empty = false;
  int qt0, qt1, j0, nk, shift;
  bool causal;
  __device__ DenseKeyPlan(const flash::Params& p, int64_t, int kt, int bq)
      : j0(kt * BN), nk(min(BN, p.s - kt * BN)), shift(p.shift), causal(p.causal) {
    const int first = causal ? max(0, j0 - shift) : 0;  // the first query that sees key j0
    qt1 = (p.t + bq - 1) / bq;
    qt0 = min(first / bq, qt1);
  }
  __device__ int key_pos(int r) const { return r < nk ? j0 + r : -1; }
  __device__ float key_bias(int) const { return 0.f; }
  __device__ bool full(int i0, int) const { return !causal || j0 + BN - 1 <= i0 + shift; }
  __device__ bool visible(int i, int j) const { return j >= 0 && (!causal || j <= i + shift); }
  __device__ void gate_grad(const flash::Params&, int64_t, int, float) const {}
};

flash::Params params(const AttentionDims& m) {
  SRA_CHECK(attention_bf16_head_dim(m.d), "[attention] the bf16 kernel takes head dims 64 and 128, not ",
            m.d);
  SRA_CHECK(m.t < (int64_t(1) << 30) && m.s < (int64_t(1) << 30), "[attention] T = ", m.t, ", S = ", m.s,
            " are too long for the bf16 kernel (< 2^30)");
  flash::Params p{};
  p.bh = m.batch * m.heads, p.bkv = m.batch * m.kv_heads;
  p.heads = m.heads, p.kv_heads = m.kv_heads, p.group = m.heads / m.kv_heads;
  p.t = int(m.t), p.s = int(m.s), p.shift = int(m.s - m.t);
  p.causal = m.causal;
  p.scale = float(m.scale);
  return p;
}

template <typename F>
void with_d(int64_t d, F&& f) {
  if (d == 64) return f(std::integral_constant<int, 64>{});
  f(std::integral_constant<int, 128>{});
}

}  // namespace

void attention_forward_bf16_cuda(const AttentionArgs& a, int device) {
  flash::Params p = params(a.dims);
  p.q = static_cast<const flash::bf16*>(a.q);
  p.k = static_cast<const flash::bf16*>(a.k);
  p.v = static_cast<const flash::bf16*>(a.v);
  p.out = static_cast<float*>(a.out);
  p.lse = static_cast<float*>(a.lse);
  flash::set_rows(p, a.rows, a.dims.d);
  cuda::DeviceGuard guard(device);
  with_d(a.dims.d, [&](auto d) {
    constexpr int D = decltype(d)::value;
    flash::with_mtiles<D, flash::kQueryRole>(kQueryMtiles64, [&](auto mt) {
      flash::forward<D, DenseQueryPlan, decltype(mt)::value>(p, cuda::stream(device), device, "attention");
    });
  });
}

void attention_backward_bf16_cuda(const AttentionBackwardArgs& a, int device) {
  const AttentionDims& m = a.dims;
  SRA_CHECK(a.scratch != nullptr && a.scratch_bytes >= size_t(m.batch * m.heads * m.t) * sizeof(float),
            "[attention] backward scratch of ", a.scratch_bytes, " bytes is too small");
  flash::Params p = params(m);
  p.q = static_cast<const flash::bf16*>(a.q);
  p.k = static_cast<const flash::bf16*>(a.k);
  p.v = static_cast<const flash::bf16*>(a.v);
  p.dout = static_cast<const flash::bf16*>(a.dout);
  p.lse_in = static_cast<const float*>(a.lse);
  p.delta = static_cast<float*>(a.scratch);
  p.dq = static_cast<float*>(a.dq);
  p.dk = static_cast<float*>(a.dk);
  p.dv = static_cast<float*>(a.dv);
  flash::set_rows(p, a.rows, m.d);
  cuda::DeviceGuard guard(device);
  cudaStream_t stream = cuda::stream(device);
  with_d(m.d, [&](auto d) {
    constexpr int D = decltype(d)::value;
    flash::with_mtiles<D, flash::kQueryRole>(kQueryMtiles64, [&](auto mt) {
      flash::delta_and_dq<D, DenseQueryPlan, decltype(mt)::value>(p, static_cast<const float*>(a.out), stream,
                                                                  device, "attention");
    });
    flash::with_mtiles<D, flash::kKeyRole>(kKeyMtiles64, [&](auto mt) {
      flash::dkv<D, DenseKeyPlan<kTile* decltype(mt)::value>>(p, stream, device, "attention");
    });
  });
}

}  // namespace sra::kern
