// The indexing dispatchers: the one switch from a device to its kernel (contracts in index.h). Empty
// operations return before any kernel.
#include "kernels/index/index.h"

#include "core/check.h"
#include "kernels/common/dtype_switch.h"

namespace sra::kern {

void index_select(Device d, const IndexSelectArgs& a) {
  if (a.outer * a.n * a.inner == 0) return;
  if (d.is_cuda()) return index_select_cuda(a, d.index);
  for_float(a.dtype, "index_select", "cpu", [&](auto t) {
    using T = decltype(t);
    index_select_cpu<T>(static_cast<T*>(a.out), static_cast<const T*>(a.x), a.index, a.n, a.outer, a.x_rows,
                        a.inner);
  });
}

void index_add(Device d, const IndexAddArgs& a) {
  if (a.outer * a.n * a.inner == 0) return;
  if (d.is_cuda()) return index_add_cuda(a, d.index);
  for_float(a.dtype, "index_select", "cpu", [&](auto t) {
    using T = decltype(t);
    index_add_cpu<T>(static_cast<T*>(a.gx), static_cast<const T*>(a.g), a.index, a.n, a.outer, a.x_rows,
                     a.inner);
  });
}

void gather(Device d, const GatherArgs& a) {
  if (shape_numel(a.index_shape) == 0) return;
  if (d.is_cuda()) return gather_cuda(a, d.index);
  for_float(a.dtype, "gather", "cpu", [&](auto t) {
    using T = decltype(t);
    gather_cpu<T>(static_cast<T*>(a.out), static_cast<const T*>(a.x), a.x_shape, a.index, a.index_shape,
                  a.dim);
  });
}

void scatter_add(Device d, const ScatterAddArgs& a) {
  if (shape_numel(a.index_shape) == 0) return;
  if (d.is_cuda()) return scatter_add_cuda(a, d.index);
  for_float(a.dtype, "scatter_add", "cpu", [&](auto t) {
    using T = decltype(t);
    scatter_add_cpu<T>(static_cast<T*>(a.out), a.out_shape, a.index, a.index_shape,
                       static_cast<const T*>(a.src), a.src_shape, a.dim);
  });
}

void masked_fill(Device d, const MaskedFillArgs& a) {
  if (a.n == 0) return;
  if (d.is_cuda()) return masked_fill_cuda(a, d.index);
  for_float(a.dtype, "masked_fill", "cpu", [&](auto t) {
    using T = decltype(t);
    masked_fill_cpu<T>(static_cast<T*>(a.out), static_cast<const T*>(a.x), a.mask, a.n, a.value);
  });
}

void where(Device d, const WhereArgs& a) {
  if (a.n == 0) return;
  if (d.is_cuda()) return where_cuda(a, d.index);
  for_float(a.dtype, "where", "cpu", [&](auto t) {
    using T = decltype(t);
    where_cpu<T>(static_cast<T*>(a.out), a.cond, static_cast<const T*>(a.a), static_cast<const T*>(a.b), a.n);
  });
}

void gt(Device d, const GtArgs& a) {
  if (a.n == 0) return;
  if (d.is_cuda()) return gt_cuda(a, d.index);
  for_any(a.dtype, "gt", "cpu", [&](auto t) {
    using T = decltype(t);
    gt_cpu<T>(a.out, static_cast<const T*>(a.x), a.n, a.s);
  });
}

void eq(Device d, const EqArgs& a) {
  if (a.n == 0) return;
  if (d.is_cuda()) return eq_cuda(a, d.index);
  for_any(a.dtype, "eq", "cpu", [&](auto t) {
    using T = decltype(t);
    eq_cpu<T>(a.out, static_cast<const T*>(a.a), static_cast<const T*>(a.b), a.n);
  });
}

}  // namespace sra::kern
