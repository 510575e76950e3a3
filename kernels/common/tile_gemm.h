// Tile products and tile copies shared by the CPU attention kernels (kernels/attention/attention_cpu.cpp,
// kernels/sparse_attention/sparse_attention_cpu.cpp).
//
// tile_gemm<MaxRows, TransA>: C (m × n) (+)= A (m × k) · B (k × n) with B's rows contiguous (row stride
// ldb) and n a multiple of kCols (two 32-byte vectors), through one register-blocked kernel (GCC/Clang
// vector extensions; AVX2 + FMA). A's element (r, p) is a[r·lda + p], or a[p·lda + r] when TransA. Rows go
// in register blocks of MaxRows, then 4, then 1. Every needed element of C sums its indices p in
// increasing order, whatever m, n and the blocking: results do not depend on where a row's block starts.
// A band (DiagonalBand, RowBand) limits which entries matter: row r needs only the columns (BandOn::cols)
// or the summation indices (BandOn::sum) in [lo(r), hi(r)), lo and hi non-decreasing in r. Register
// blocks outside are skipped: skipped columns of C are left as they were; skipped summation indices must
// multiply zeros in A, so needed results are unchanged.
//
// transpose_tiles: (heads, n, d) → (heads, tiles, d, kTile), each tile of kTile rows transposed with zero
// padding columns, so a transposed operand (kᵀ, vᵀ, qᵀ, doutᵀ) is a B operand of row stride kTile (rows
// n elements apart would alias in the L1 when n is a power of two). padded_rows / unpack_rows: a
// row-major (rows × d) operand as a B operand of row stride dp (a multiple of kCols) and back.
// row_dots: Δ_r = Σ_c a_rc·b_rc (the softmax backward's per-row term).
#pragma once
#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "core/check.h"
#include "core/parallel.h"
#include "kernels/common/simd.h"

namespace sra::kern::tile {

using namespace simd;

constexpr int64_t kTile = 64;  // rows per tile of a transposed operand (queries or keys per tile)
template <typename T>
constexpr int64_t kCols = 2 * kLanes<T>;  // columns of a register block (two vectors)

enum class BandOn { none, cols, sum };

// Row r needs [r + lo, r + hi): a band parallel to a (causal) diagonal. kNone: no limit on that side.
struct DiagonalBand {
  static constexpr int64_t kNone = int64_t(1) << 40;
  int64_t lo = -kNone, hi = kNone;
  int64_t lo_at(int64_t r) const { return r + lo; }
  int64_t hi_at(int64_t r) const { return r + hi; }
};

// Row r needs [lo[r], hi[r]).
struct RowBand {
  const int64_t* lo = nullptr;
  const int64_t* hi = nullptr;
  int64_t lo_at(int64_t r) const { return lo[r]; }
  int64_t hi_at(int64_t r) const { return hi[r]; }
};

// C rows [0, R) × columns [0, kCols) (+)= A (R × k) · B (k × kCols, row stride ldb), A as in tile_gemm.
// The sum over p runs in order.
template <typename T, int R, bool TransA>
inline void block_kernel(int64_t k, const T* a, int64_t lda, const T* b, int64_t ldb, T* c, int64_t ldc,
                         bool accumulate) {
  constexpr int64_t W = kLanes<T>;
  Vec<T> acc[R][2];
  for (int r = 0; r < R; ++r) {
    acc[r][0] = accumulate ? load(c + r * ldc) : Vec<T>{};
    acc[r][1] = accumulate ? load(c + r * ldc + W) : Vec<T>{};
  }
  for (int64_t p = 0; p < k; ++p) {
    const Vec<T> b0 = load(b + p * ldb), b1 = load(b + p * ldb + W);
    for (int r = 0; r < R; ++r) {
      const T ar = TransA ? a[p * lda + r] : a[r * lda + p];
      acc[r][0] += ar * b0;
      acc[r][1] += ar * b1;
    }
  }
  for (int r = 0; r < R; ++r) {
    store(c + r * ldc, acc[r][0]);
    store(c + r * ldc + W, acc[r][1]);
  }
}

template <int MaxRows, bool TransA = false, typename T, typename Band>
void tile_gemm(int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, const T* b, int64_t ldb, T* c,
               int64_t ldc, bool accumulate, BandOn on, const Band& band) {
  static_assert(MaxRows >= 4);
  SRA_ASSERT(n % kCols<T> == 0);
  const int64_t ars = TransA ? 1 : lda, aks = TransA ? lda : 1;  // A strides: rows, summation index
  auto block = [&](int64_t i, auto rows_tag) {
    constexpr int R = decltype(rows_tag)::value;
    int64_t j0 = 0, j1 = n, p0 = 0, p1 = k;
    if (on == BandOn::cols) {
      j0 = std::clamp<int64_t>(band.lo_at(i), 0, n) / kCols<T> * kCols<T>;
      j1 = std::min(n, round_up(std::max<int64_t>(band.hi_at(i + R - 1), 0), kCols<T>));
    } else if (on == BandOn::sum) {
      p0 = std::clamp<int64_t>(band.lo_at(i), 0, k);
      p1 = std::clamp<int64_t>(band.hi_at(i + R - 1), p0, k);
    }
    for (int64_t j = j0; j < j1; j += kCols<T>)
      block_kernel<T, R, TransA>(p1 - p0, a + i * ars + p0 * aks, lda, b + p0 * ldb + j, ldb, c + i * ldc + j,
                                 ldc, accumulate);
  };
  int64_t i = 0;
  if constexpr (MaxRows > 4) {
    for (; i + MaxRows <= m; i += MaxRows) block(i, std::integral_constant<int, MaxRows>{});
  }
  for (; i + 4 <= m; i += 4) block(i, std::integral_constant<int, 4>{});
  for (; i < m; ++i) block(i, std::integral_constant<int, 1>{});
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

// dst (d × kTile) = the first d columns of src rows [0, rows) (row stride lds) transposed; columns past
// rows are zero. f32: full 8 × 8 blocks with vector shuffles; the rest (and f64) element by element.
template <typename T>
void transpose_tile(T* dst, const T* src, int64_t rows, int64_t d, int64_t lds) {
  const int64_t rb = std::is_same_v<T, float> ? rows / 8 * 8 : 0,
                cb = std::is_same_v<T, float> ? d / 8 * 8 : 0;
  if constexpr (std::is_same_v<T, float>) {
    for (int64_t r0 = 0; r0 < rb; r0 += 8)
      for (int64_t c0 = 0; c0 < cb; c0 += 8)
        transpose8x8(dst + c0 * kTile + r0, kTile, src + r0 * lds + c0, lds);
  }
  for (int64_t c = 0; c < d; ++c) {
    for (int64_t r = c < cb ? rb : 0; r < rows; ++r) dst[c * kTile + r] = src[r * lds + c];
    for (int64_t r = rows; r < kTile; ++r) dst[c * kTile + r] = T(0);
  }
}

// src (heads, n, d) → dst (heads, tiles, d, kTile). Parallel over (head, tile); a pure copy, so the
// thread count cannot matter.
template <typename T>
void transpose_tiles(T* dst, const T* src, int64_t heads, int64_t n, int64_t d) {
  const int64_t nt = (n + kTile - 1) / kTile;
  parallel_for(heads * nt, grain_for(d * kTile, int64_t(1) << 17), [&](int64_t w0, int64_t w1) {
    for (int64_t w = w0; w < w1; ++w) {
      const int64_t r0 = (w % nt) * kTile;
      transpose_tile(dst + w * d * kTile, src + ((w / nt) * n + r0) * d, std::min(kTile, n - r0), d, d);
    }
  });
}

// A row-major operand of `rows` rows × d columns as a B operand with row stride dp (a multiple of kCols):
// src itself when d == dp, else a zero-padded copy in buf.
template <typename T>
const T* padded_rows(T* buf, const T* src, int64_t rows, int64_t d, int64_t dp) {
  if (d == dp) return src;
  for (int64_t r = 0; r < rows; ++r) {
    std::copy(src + r * d, src + (r + 1) * d, buf + r * dp);
    std::fill(buf + r * dp + d, buf + (r + 1) * dp, T(0));
  }
  return buf;
}

// The first d columns of `rows` rows of src (row stride dp) into dst (row stride d).
template <typename T>
void unpack_rows(T* dst, int64_t d, const T* src, int64_t rows, int64_t dp) {
  for (int64_t r = 0; r < rows; ++r) std::copy(src + r * dp, src + r * dp + d, dst + r * d);
}

// out[r] = Σ_c a[r·d + c]·b[r·d + c] for r in [0, rows), summed in order of c.
template <typename T>
void row_dots(T* out, const T* a, const T* b, int64_t rows, int64_t d) {
  parallel_for(rows, grain_for(d, 16384), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      T s = 0;
      for (int64_t c = 0; c < d; ++c) s += a[r * d + c] * b[r * d + c];
      out[r] = s;
    }
  });
}

}  // namespace sra::kern::tile
