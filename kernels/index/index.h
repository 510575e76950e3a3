// Indexing kernels (CPU reference; T = float or double; indices i64, already range-checked by the op).
// All operands are contiguous.
//   index_select: x (outer, X, inner), index (n) → out (outer, n, inner): out[o, j, i] = x[o, index[j], i]
//   index_add:    gx (outer, X, inner) += g (outer, n, inner) at rows index[j] (index_select's backward)
//   gather:       index of shape S (rank k, S[d] ≤ x's outside `dim`) → out (S):
//                 out[p] = x[p with p[dim] := index[p]]
//   scatter_add:  out (shape O, holding x) += src at out[p with p[dim] := index[p]] for p over S
//                 (src's shape ≥ S elementwise; only its S window is read)
//   masked_fill:  out[i] = mask[i] ? value : x[i]
//   where:        out[i] = cond[i] ? a[i] : b[i]
//   gt:           out[i] = x[i] > s;  eq: out[i] = a[i] == b[i]  (u8 results)
// Accumulating kernels (index_add, scatter_add) give each output element to one thread, which adds its
// contributions in increasing index position: results never depend on the thread count.
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace sra::kern {

template <typename T>
void index_select_cpu(T* out, const T* x, const int64_t* index, int64_t n, int64_t outer, int64_t x_rows,
                      int64_t inner);
template <typename T>
void index_add_cpu(T* gx, const T* g, const int64_t* index, int64_t n, int64_t outer, int64_t x_rows,
                   int64_t inner);
template <typename T>
void gather_cpu(T* out, const T* x, const Shape& x_shape, const int64_t* index, const Shape& index_shape,
                int64_t dim);
template <typename T>
void scatter_add_cpu(T* out, const Shape& out_shape, const int64_t* index, const Shape& index_shape,
                     const T* src, const Shape& src_shape, int64_t dim);
template <typename T>
void masked_fill_cpu(T* out, const T* x, const uint8_t* mask, int64_t n, double value);
template <typename T>
void where_cpu(T* out, const uint8_t* cond, const T* a, const T* b, int64_t n);
// T = float, double, int32_t, int64_t or uint8_t.
template <typename T>
void gt_cpu(uint8_t* out, const T* x, int64_t n, double s);
template <typename T>
void eq_cpu(uint8_t* out, const T* a, const T* b, int64_t n);

}  // namespace sra::kern
