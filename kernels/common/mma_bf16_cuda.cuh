// bf16 tensor-core building blocks for the attention kernels (.cu files only; sm_80+, runs on sm_90):
// cp.async 16-byte copies into shared memory, ldmatrix fragment loads and
// mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 (D = A·B + C, A 16 × 16 and B 16 × 8 in bf16, C and
// D 16 × 8 in f32), and warp-level tile products over shared-memory tiles.
// Fragments (lane = 4g + t, g < 8, t < 4), as the PTX manual lays them out:
//   A (16 × 16, 4 regs of 2 bf16): a0 (row g, cols 2t, 2t+1), a1 (row g+8, same cols), a2 (row g, cols
//     2t+8, 2t+9), a3 (row g+8, cols 2t+8, 2t+9).
//   B (16 × 8, 2 regs): b0 (rows 2t, 2t+1 of column g), b1 (rows 2t+8, 2t+9 of column g).
//   C (16 × 8, 4 f32): c0, c1 (row g, cols 2t, 2t+1), c2, c3 (row g+8, cols 2t, 2t+1).
// A C tile of 16 × 16·KK (2·KK C fragments) becomes the A operand of the next product (KK k-steps) with
// no data movement (to_a): the FlashAttention-2 register reuse of P and dS.
// Shared tiles are row-major bf16 with a row stride of D + 8 elements (16 bytes of padding): the 8 rows
// an ldmatrix phase reads then start 16 bytes apart modulo 128, so they hit distinct banks.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace sra::kern::mma {

using bf16 = __nv_bfloat16;

__device__ inline uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16 bytes global → shared, asynchronous; zero-fills the destination when !valid (src is then not read).
__device__ inline void cp_async16(void* dst, const void* src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(dst)), "l"(src),
               "r"(valid ? 16 : 0));
}
__device__ inline void cp_async_commit() {
  asm volatile("cp.async.commit_group;\n" ::);
}
__device__ inline void cp_async_wait_all() {
  asm volatile("cp.async.wait_group 0;\n" ::: "memory");
}

__device__ inline void ldsm_x4(uint32_t (&r)[4], const bf16* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p)));
}
__device__ inline void ldsm_x4_trans(uint32_t (&r)[4], const bf16* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p)));
}

// c += a·b (one m16n8k16 tensor-core product).
__device__ inline void mma16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Two floats rounded to bf16 (nearest even), lo in the low half (the lower column).
__device__ inline uint32_t pack_bf16(float lo, float hi) {
  const __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&h);
}

// The A fragment of rows r0..r0+15, columns k0..k0+15 of a row-major tile (row stride ld).
__device__ inline void load_a(uint32_t (&a)[4], const bf16* tile, int ld, int r0, int k0) {
  const int l = threadIdx.x % 32;
  ldsm_x4(a, tile + (r0 + l % 16) * ld + k0 + (l / 16) * 8);
}
// The B fragments of the column blocks n0..n0+7 (b[0], b[1]) and n0+8..n0+15 (b[2], b[3]) at rows
// k0..k0+15 of B, from a tile stored transposed, [n][k] (keys × head dims for q·kᵀ).
__device__ inline void load_b_nk(uint32_t (&b)[4], const bf16* tile, int ld, int n0, int k0) {
  const int l = threadIdx.x % 32, m = l / 8;
  ldsm_x4(b, tile + (n0 + l % 8 + (m / 2) * 8) * ld + k0 + (m % 2) * 8);
}
// The same fragments from a tile stored as B, [k][n] (keys × head dims for P·v): a transposing load.
__device__ inline void load_b_kn(uint32_t (&b)[4], const bf16* tile, int ld, int k0, int n0) {
  const int l = threadIdx.x % 32, m = l / 8;
  ldsm_x4_trans(b, tile + (k0 + l % 8 + (m % 2) * 8) * ld + n0 + (m / 2) * 8);
}

template <int MT, int NT>
__device__ inline void zero(float (&c)[MT][NT][4]) {
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int n = 0; n < NT; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) c[mt][n][e] = 0.f;
}

// Products over MT m-tiles of 16 rows per warp (c[mt], a[mt]): each B fragment loaded from shared memory
// feeds MT products, so MT = 2 halves the ldmatrix traffic per tensor-core product (the FlashAttention-2
// warp tile of 32 rows). The m-tile mt of a shared A tile starts r0 + mt·mstride rows in.

// c[mt] (16 × 8·NT) += A_mt·Bᵀ over KD columns: A_mt the rows r0 + mt·mstride.. of tile a, B the rows
// 0..8·NT−1 of tile b (both row-major with KD columns): scores q·kᵀ, dout·vᵀ, k·qᵀ, v·doutᵀ.
template <int MT, int NT, int KD>
__device__ inline void gemm_nk(float (&c)[MT][NT][4], const bf16* a, int lda, int r0, int mstride,
                               const bf16* b, int ldb) {
  static_assert(NT % 2 == 0 && KD % 16 == 0, "tile shapes");
#pragma unroll
  for (int kk = 0; kk < KD / 16; ++kk) {
    uint32_t af[MT][4];
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) load_a(af[mt], a, lda, r0 + mt * mstride, 16 * kk);
#pragma unroll
    for (int np = 0; np < NT / 2; ++np) {
      uint32_t bf[4];
      load_b_nk(bf, b, ldb, 16 * np, 16 * kk);
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
        mma16816(c[mt][2 * np], af[mt], bf[0], bf[1]);
        mma16816(c[mt][2 * np + 1], af[mt], bf[2], bf[3]);
      }
    }
  }
}
// The same with A already in registers (KD / 16 fragments per m-tile).
template <int MT, int NT, int KD>
__device__ inline void gemm_nk_reg(float (&c)[MT][NT][4], const uint32_t (&a)[MT][KD / 16][4], const bf16* b,
                                   int ldb) {
#pragma unroll
  for (int kk = 0; kk < KD / 16; ++kk)
#pragma unroll
    for (int np = 0; np < NT / 2; ++np) {
      uint32_t bf[4];
      load_b_nk(bf, b, ldb, 16 * np, 16 * kk);
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
        mma16816(c[mt][2 * np], a[mt][kk], bf[0], bf[1]);
        mma16816(c[mt][2 * np + 1], a[mt][kk], bf[2], bf[3]);
      }
    }
}
// c[mt] (16 × 8·NT) += A_mt·B: A_mt in registers (KK k-steps of 16), B the rows 0..16·KK−1 of a row-major
// tile b with 8·NT columns: P·v, dS·k, Pᵀ·dout, dSᵀ·q.
template <int MT, int NT, int KK>
__device__ inline void gemm_kn(float (&c)[MT][NT][4], const uint32_t (&a)[MT][KK][4], const bf16* b,
                               int ldb) {
#pragma unroll
  for (int kk = 0; kk < KK; ++kk)
#pragma unroll
    for (int np = 0; np < NT / 2; ++np) {
      uint32_t bf[4];
      load_b_kn(bf, b, ldb, 16 * kk, 16 * np);
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
        mma16816(c[mt][2 * np], a[mt][kk], bf[0], bf[1]);
        mma16816(c[mt][2 * np + 1], a[mt][kk], bf[2], bf[3]);
      }
    }
}

// C fragments of a 16 × 16·KK tile → the A fragments of its KK k-steps, rounded to bf16.
template <int KK>
__device__ inline void to_a(uint32_t (&a)[KK][4], const float (&c)[2 * KK][4]) {
#pragma unroll
  for (int kk = 0; kk < KK; ++kk) {
    a[kk][0] = pack_bf16(c[2 * kk][0], c[2 * kk][1]);
    a[kk][1] = pack_bf16(c[2 * kk][2], c[2 * kk][3]);
    a[kk][2] = pack_bf16(c[2 * kk + 1][0], c[2 * kk + 1][1]);
    a[kk][3] = pack_bf16(c[2 * kk + 1][2], c[2 * kk + 1][3]);
  }
}

// Max / sum over the 4 lanes of a quad (the lanes holding one row of a C fragment).
__device__ inline float quad_max(float v) {
  v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
  return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
}
__device__ inline float quad_sum(float v) {
  v += __shfl_xor_sync(0xffffffffu, v, 1);
  return v + __shfl_xor_sync(0xffffffffu, v, 2);
}

// dst (ROWS × D, row stride D + 8) ← the rows row_of(r) of src (row stride `stride` elements, a multiple of
// 8; −1: zeros), by `threads` threads with cp.async (the caller commits and waits).
template <int D, int ROWS, int THREADS, typename RowOf>
__device__ inline void load_rows_async(bf16* dst, const bf16* src, int64_t stride, RowOf&& row_of) {
  constexpr int kChunks = D / 8, kLd = D + 8;
  static_assert(ROWS * kChunks % THREADS == 0, "whole rounds of 16-byte chunks");
#pragma unroll
  for (int i = 0; i < ROWS * kChunks / THREADS; ++i) {
    const int e = int(threadIdx.x) + i * THREADS, r = e / kChunks, c = e % kChunks;
    const int64_t pos = row_of(r);
    cp_async16(dst + r * kLd + c * 8, pos >= 0 ? src + pos * stride + c * 8 : src, pos >= 0);
  }
}

}  // namespace sra::kern::mma
