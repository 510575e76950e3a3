// Indexing kernels (CPU reference; T = float or double; indices i64, range-checked by the op on the CPU).
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
// CUDA (index_cuda.cu) keeps these orders: index_add one thread per (o, column) scanning j = 0..n−1,
// scatter_add one thread per index line scanning it in order (both bitwise equal to the CPU), the rest one
// thread per output element. Indices are range-checked by the op only when they live on the CPU; on CUDA
// an index outside the range is never dereferenced: index_select / gather give NaN there, index_add /
// scatter_add drop that contribution.
// Callers use the dispatchers below (index.cpp); pointers live on the call's device; up to 8 dims on CUDA.
#pragma once
#include <cstdint>

#include "core/device.h"
#include "core/tensor.h"

namespace sra::kern {

struct IndexSelectArgs {  // out (outer, n, inner) = x (outer, x_rows, inner) rows index[j]
  DType dtype;            // f32 | f64
  void* out;
  const void* x;
  const int64_t* index;  // (n)
  int64_t n, outer, x_rows, inner;
};

struct IndexAddArgs {  // gx (outer, x_rows, inner) += g (outer, n, inner) at rows index[j]
  DType dtype;
  void* gx;
  const void* g;
  const int64_t* index;
  int64_t n, outer, x_rows, inner;
};

struct GatherArgs {  // out (index_shape) = x (x_shape) gathered along dim
  DType dtype;
  void* out;
  const void* x;
  Shape x_shape;
  const int64_t* index;
  Shape index_shape;
  int64_t dim;
};

struct ScatterAddArgs {  // out (out_shape) += src (src_shape, its index_shape window) along dim
  DType dtype;
  void* out;
  Shape out_shape;
  const int64_t* index;
  Shape index_shape;
  const void* src;
  Shape src_shape;
  int64_t dim;
};

struct MaskedFillArgs {  // out[i] = mask[i] ? value : x[i], n elements
  DType dtype;
  void* out;
  const void* x;
  const uint8_t* mask;
  int64_t n;
  double value;
};

struct WhereArgs {  // out[i] = cond[i] ? a[i] : b[i], n elements
  DType dtype;
  void* out;
  const uint8_t* cond;
  const void* a;
  const void* b;
  int64_t n;
};

struct GtArgs {  // out[i] = x[i] > s
  DType dtype;   // f32 | f64 | i32 | i64 | u8
  uint8_t* out;
  const void* x;
  int64_t n;
  double s;
};

struct EqArgs {  // out[i] = a[i] == b[i]
  DType dtype;   // f32 | f64 | i32 | i64 | u8
  uint8_t* out;
  const void* a;
  const void* b;
  int64_t n;
};

void index_select(Device device, const IndexSelectArgs& args);
void index_add(Device device, const IndexAddArgs& args);
void gather(Device device, const GatherArgs& args);
void scatter_add(Device device, const ScatterAddArgs& args);
void masked_fill(Device device, const MaskedFillArgs& args);
void where(Device device, const WhereArgs& args);
void gt(Device device, const GtArgs& args);
void eq(Device device, const EqArgs& args);

void index_select_cuda(const IndexSelectArgs& args, int device);
void index_add_cuda(const IndexAddArgs& args, int device);
void gather_cuda(const GatherArgs& args, int device);
void scatter_add_cuda(const ScatterAddArgs& args, int device);
void masked_fill_cuda(const MaskedFillArgs& args, int device);
void where_cuda(const WhereArgs& args, int device);
void gt_cuda(const GtArgs& args, int device);
void eq_cuda(const EqArgs& args, int device);

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
