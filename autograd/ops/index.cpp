// Indexing, selection and scans (math in kernels/index/index.h, kernels/topk/, kernels/cumsum/).
//   index_select(x, d, index (n))     out = x with dim d replaced by x[..., index[j], ...]
//                                     backward: gx = zeros(x) with g's rows added at index (index_add)
//   gather(x, d, index)               out (index's shape)[p] = x[p with p[d] := index[p]]
//                                     backward: gx = scatter_add(zeros(x), d, index, g)
//   scatter_add(x, d, index, src)     out = x + src scattered along d at index (out-of-place)
//                                     backward: gx = g, gsrc = gather(g, d, index) (zero outside index's
//                                     window)
//   masked_fill(x, mask, v)           out = mask ? v : x (mask u8, broadcast to x); backward: g where !mask
//   where(cond, a, b)                 out = cond ? a : b (broadcast); backward: g split by cond, sum_to a/b
//   topk(x, k, d)                     k largest along d, descending, ties lower index first; i64 indices
//                                     backward: g scattered back to the indices
//   cumsum(x, d)                      inclusive prefix sum; backward: reverse prefix sum of g
//   gt(a, s), eq(a, b)                u8 comparisons, no gradient
// Index tensors are i64 or i32 and are range-checked before any kernel runs: "[op] index value v at
// position [i, j] is out of range [0, n)".
#include "kernels/index/index.h"

#include <algorithm>

#include "autograd/ops/common.h"
#include "kernels/cumsum/cumsum.h"
#include "kernels/topk/topk.h"

namespace sra {

using detail::dense;
using detail::dispatch_float;

namespace {

// index → contiguous i64, every value checked against [0, limit).
Tensor checked_index(const char* op, const Tensor& index, int64_t limit) {
  detail::require_index(op, index);
  detail::require_cpu(op, {&index});
  Tensor idx = dense(cast(index, DType::i64));
  const int64_t* p = idx.data<int64_t>();
  for (int64_t i = 0; i < idx.numel(); ++i) {
    if (p[i] >= 0 && p[i] < limit) continue;
    Shape pos(static_cast<size_t>(idx.dim()));
    int64_t rest = i;
    for (int64_t d = idx.dim() - 1; d >= 0; --d) {
      pos[d] = rest % idx.size(d);
      rest /= idx.size(d);
    }
    SRA_CHECK(false, "[", op, "] index value ", p[i], " at position ", shape_str(pos),
              " is out of range [0, ", limit, ")");
  }
  return idx;
}

// (outer, size(d), inner) of a shape.
void split_at(const Shape& s, int64_t d, int64_t& outer, int64_t& inner) {
  outer = inner = 1;
  for (int64_t k = 0; k < d; ++k) outer *= s[k];
  for (int64_t k = d + 1; k < int64_t(s.size()); ++k) inner *= s[k];
}

// Checks index's rank and that it fits inside `ref` (outside dim d unless `all_dims`).
void check_fits(const char* op, const Tensor& index, const Tensor& ref, int64_t d, bool all_dims,
                const char* ref_name) {
  SRA_CHECK(index.dim() == ref.dim(), "[", op, "] index shape ", shape_str(index.shape()), " and ", ref_name,
            " ", shape_str(ref.shape()), " differ in rank");
  for (int64_t k = 0; k < ref.dim(); ++k) {
    if (k == d && !all_dims) continue;
    SRA_CHECK(index.size(k) <= ref.size(k), "[", op, "] index shape ", shape_str(index.shape()),
              " does not fit ", ref_name, " ", shape_str(ref.shape()), all_dims ? "" : " outside dim ",
              all_dims ? "" : std::to_string(d));
  }
}

}  // namespace

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  detail::require_float("index_select", x);
  detail::require_cpu("index_select", {&x});
  int64_t d = wrap_dim(dim, x.dim(), "index_select");
  SRA_CHECK(index.dim() == 1, "[index_select] index must be 1-D, got shape ", shape_str(index.shape()));
  Tensor idx = checked_index("index_select", index, x.size(d));
  Tensor xc = dense(x);
  int64_t outer, inner, n = idx.numel(), rows = x.size(d);
  split_at(x.shape(), d, outer, inner);
  Shape os = x.shape();
  os[d] = n;
  Tensor out = Tensor::empty(os, x.dtype());
  dispatch_float(x.dtype(), "index_select", [&](auto t) {
    using T = decltype(t);
    kern::index_select_cpu<T>(out.data<T>(), xc.data<T>(), idx.data<int64_t>(), n, outer, rows, inner);
  });
  if (needs_grad({x})) {
    Shape xs = x.shape();
    record("index_select", {x, index}, {out}, {idx},
           [xs, idx, n, outer, rows, inner](const std::vector<Tensor>& g) -> std::vector<Tensor> {
             Tensor gy = dense(g[0]);
             Tensor gx = Tensor::zeros(xs, gy.dtype());
             dispatch_float(gy.dtype(), "index_select", [&](auto t) {
               using T = decltype(t);
               kern::index_add_cpu<T>(gx.data<T>(), gy.data<T>(), idx.data<int64_t>(), n, outer, rows, inner);
             });
             return {gx, Tensor()};
           });
  }
  return out;
}

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  detail::require_float("gather", x);
  detail::require_cpu("gather", {&x});
  int64_t d = wrap_dim(dim, x.dim(), "gather");
  check_fits("gather", index, x, d, false, "input");
  Tensor idx = checked_index("gather", index, x.size(d));
  Tensor xc = dense(x);
  Tensor out = Tensor::empty(idx.shape(), x.dtype());
  dispatch_float(x.dtype(), "gather", [&](auto t) {
    using T = decltype(t);
    if (out.numel() > 0)
      kern::gather_cpu<T>(out.data<T>(), xc.data<T>(), xc.shape(), idx.data<int64_t>(), idx.shape(), d);
  });
  if (needs_grad({x})) {
    Shape xs = x.shape();
    record("gather", {x, index}, {out}, {idx},
           [xs, d, idx](const std::vector<Tensor>& g) -> std::vector<Tensor> {
             return {scatter_add(Tensor::zeros(xs, g[0].dtype()), d, idx, g[0]), Tensor()};
           });
  }
  return out;
}

Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  detail::require_same_float("scatter_add", x, src);
  detail::require_cpu("scatter_add", {&x, &src});
  int64_t d = wrap_dim(dim, x.dim(), "scatter_add");
  check_fits("scatter_add", index, x, d, false, "input");
  check_fits("scatter_add", index, src, d, true, "src");
  Tensor idx = checked_index("scatter_add", index, x.size(d));
  Tensor sc = dense(src);
  Tensor out = Tensor::empty(x.shape(), x.dtype());
  out.copy_(x.detach());
  dispatch_float(x.dtype(), "scatter_add", [&](auto t) {
    using T = decltype(t);
    if (idx.numel() > 0)
      kern::scatter_add_cpu<T>(out.data<T>(), out.shape(), idx.data<int64_t>(), idx.shape(), sc.data<T>(),
                               sc.shape(), d);
  });
  if (needs_grad({x, src})) {
    bool gx_needed = x.requires_grad(), gs_needed = src.requires_grad();
    Shape ss = src.shape();
    record("scatter_add", {x, index, src}, {out}, {idx},
           [gx_needed, gs_needed, ss, d, idx](const std::vector<Tensor>& g) -> std::vector<Tensor> {
             Tensor gs;
             if (gs_needed) {
               gs = gather(g[0], d, idx);
               if (gs.shape() != ss) {
                 Tensor full = Tensor::zeros(ss, gs.dtype());
                 Tensor::make_view(full, gs.shape(), full.strides(), 0).copy_(gs);
                 gs = full;
               }
             }
             return {gx_needed ? g[0] : Tensor(), Tensor(), gs};
           });
  }
  return out;
}

Tensor masked_fill(const Tensor& x, const Tensor& mask, double value) {
  detail::require_float("masked_fill", x);
  detail::require_cpu("masked_fill", {&x, &mask});
  SRA_CHECK(mask.defined() && mask.dtype() == DType::u8, "[masked_fill] mask must be u8");
  bool fits = mask.dim() <= x.dim();
  for (int64_t k = 1; fits && k <= mask.dim(); ++k) fits = mask.size(-k) == 1 || mask.size(-k) == x.size(-k);
  SRA_CHECK(fits, "[masked_fill] mask shape ", shape_str(mask.shape()), " cannot be broadcast to input ",
            shape_str(x.shape()));
  Tensor m = dense(expand(mask, x.shape()));
  Tensor xc = dense(x);
  Tensor out = Tensor::empty(x.shape(), x.dtype());
  dispatch_float(x.dtype(), "masked_fill", [&](auto t) {
    using T = decltype(t);
    kern::masked_fill_cpu<T>(out.data<T>(), xc.data<T>(), m.data<uint8_t>(), out.numel(), value);
  });
  if (needs_grad({x})) {
    record("masked_fill", {x, mask}, {out}, {m}, [m](const std::vector<Tensor>& g) -> std::vector<Tensor> {
      return {masked_fill(g[0], m, 0.0), Tensor()};
    });
  }
  return out;
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  detail::require_same_float("where", a, b);
  detail::require_cpu("where", {&cond, &a, &b});
  SRA_CHECK(cond.defined() && cond.dtype() == DType::u8, "[where] cond must be u8");
  Shape shape = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  Tensor c = dense(expand(cond, shape));
  Tensor ac = dense(expand(a.detach(), shape)), bc = dense(expand(b.detach(), shape));
  Tensor out = Tensor::empty(shape, a.dtype());
  dispatch_float(a.dtype(), "where", [&](auto t) {
    using T = decltype(t);
    kern::where_cpu<T>(out.data<T>(), c.data<uint8_t>(), ac.data<T>(), bc.data<T>(), out.numel());
  });
  if (needs_grad({a, b})) {
    Shape sa = a.shape(), sb = b.shape();
    bool ga_needed = a.requires_grad(), gb_needed = b.requires_grad();
    record("where", {cond, a, b}, {out}, {c},
           [c, sa, sb, ga_needed, gb_needed](const std::vector<Tensor>& g) -> std::vector<Tensor> {
             Tensor zero = Tensor::zeros({}, g[0].dtype());
             return {Tensor(), ga_needed ? sum_to(where(c, g[0], zero), sa) : Tensor(),
                     gb_needed ? sum_to(where(c, zero, g[0]), sb) : Tensor()};
           });
  }
  return out;
}

std::pair<Tensor, Tensor> topk(const Tensor& x, int64_t k, int64_t dim) {
  detail::require_float("topk", x);
  detail::require_cpu("topk", {&x});
  int64_t d = wrap_dim(dim, x.dim(), "topk");
  SRA_CHECK(k >= 0 && k <= x.size(d), "[topk] k = ", k, " out of range for dim ", d, " of size ", x.size(d),
            " in shape ", shape_str(x.shape()));
  Tensor xc = dense(x);
  int64_t outer, inner;
  split_at(x.shape(), d, outer, inner);
  Shape os = x.shape();
  os[d] = k;
  Tensor values = Tensor::empty(os, x.dtype());
  Tensor indices = Tensor::empty(os, DType::i64);
  dispatch_float(x.dtype(), "topk", [&](auto t) {
    using T = decltype(t);
    if (values.numel() > 0)
      kern::topk_cpu<T>(values.data<T>(), indices.data<int64_t>(), xc.data<T>(), outer, x.size(d), inner, k);
  });
  if (needs_grad({x})) {
    Shape xs = x.shape();
    record("topk", {x}, {values}, {indices},
           [xs, d, indices](const std::vector<Tensor>& g) -> std::vector<Tensor> {
             return {scatter_add(Tensor::zeros(xs, g[0].dtype()), d, indices, g[0])};
           });
  }
  return {values, indices};
}

Tensor cumsum(const Tensor& x, int64_t dim) {
  detail::require_float("cumsum", x);
  detail::require_cpu("cumsum", {&x});
  int64_t d = wrap_dim(dim, x.dim(), "cumsum");
  Tensor xc = dense(x);
  int64_t outer, inner, r = x.size(d);
  split_at(x.shape(), d, outer, inner);
  auto scan = [outer, r, inner](const Tensor& in, bool reverse) {
    Tensor y = Tensor::empty(in.shape(), in.dtype());
    dispatch_float(in.dtype(), "cumsum", [&](auto t) {
      using T = decltype(t);
      kern::cumsum_cpu<T>(y.data<T>(), in.data<T>(), outer, r, inner, reverse);
    });
    return y;
  };
  Tensor out = scan(xc, false);
  if (needs_grad({x})) {
    record("cumsum", {x}, {out}, {},
           [scan](const std::vector<Tensor>& g) -> std::vector<Tensor> { return {scan(dense(g[0]), true)}; });
  }
  return out;
}

Tensor gt(const Tensor& a, double s) {
  detail::require_cpu("gt", {&a});
  Tensor ac = dense(a.detach());
  Tensor out = Tensor::empty(a.shape(), DType::u8);
  int64_t n = a.numel();
  uint8_t* o = out.data<uint8_t>();
  switch (a.dtype()) {
    case DType::f32:
      kern::gt_cpu<float>(o, ac.data<float>(), n, s);
      break;
    case DType::f64:
      kern::gt_cpu<double>(o, ac.data<double>(), n, s);
      break;
    case DType::i32:
      kern::gt_cpu<int32_t>(o, ac.data<int32_t>(), n, s);
      break;
    case DType::i64:
      kern::gt_cpu<int64_t>(o, ac.data<int64_t>(), n, s);
      break;
    case DType::u8:
      kern::gt_cpu<uint8_t>(o, ac.data<uint8_t>(), n, s);
      break;
    default:
      SRA_CHECK(false, "[gt] dtype ", dtype_name(a.dtype()), " is not supported");
  }
  return out;
}

Tensor eq(const Tensor& a, const Tensor& b) {
  detail::require_cpu("eq", {&a, &b});
  SRA_CHECK(a.dtype() == b.dtype(), "[eq] dtype mismatch: ", dtype_name(a.dtype()), " and ",
            dtype_name(b.dtype()));
  Shape shape = broadcast_shapes(a.shape(), b.shape(), "eq");
  Tensor ac = dense(expand(a.detach(), shape)), bc = dense(expand(b.detach(), shape));
  Tensor out = Tensor::empty(shape, DType::u8);
  int64_t n = out.numel();
  uint8_t* o = out.data<uint8_t>();
  switch (a.dtype()) {
    case DType::f32:
      kern::eq_cpu<float>(o, ac.data<float>(), bc.data<float>(), n);
      break;
    case DType::f64:
      kern::eq_cpu<double>(o, ac.data<double>(), bc.data<double>(), n);
      break;
    case DType::i32:
      kern::eq_cpu<int32_t>(o, ac.data<int32_t>(), bc.data<int32_t>(), n);
      break;
    case DType::i64:
      kern::eq_cpu<int64_t>(o, ac.data<int64_t>(), bc.data<int64_t>(), n);
      break;
    case DType::u8:
      kern::eq_cpu<uint8_t>(o, ac.data<uint8_t>(), bc.data<uint8_t>(), n);
      break;
    default:
      SRA_CHECK(false, "[eq] dtype ", dtype_name(a.dtype()), " is not supported");
  }
  return out;
}

}  // namespace sra
