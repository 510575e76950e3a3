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
// Index tensors are i64 or i32. An index on the CPU is range-checked before any kernel runs ("[op] index
// value v at position [i, j] is out of range [0, n)") and then copied to the data's device; an index already
// on a GPU is not read on the host (no sync): the CUDA kernels never dereference an out-of-range index
// (kernels/index/index.h says what they do instead). Everything else runs on the inputs' device.
#include "kernels/index/index.h"

#include <algorithm>

#include "autograd/ops/common.h"
#include "kernels/cumsum/cumsum.h"
#include "kernels/topk/topk.h"

namespace sra {

using detail::dense;

namespace {

// index → contiguous i64 on `device`. On the CPU every value is checked against [0, limit) first; an index
// on a GPU must be on `device` and is not read here (see the header comment).
Tensor checked_index(const char* op, const Tensor& index, int64_t limit, Device device) {
  detail::require_index(op, index);
  Tensor idx = dense(cast(index, DType::i64));
  if (!idx.device().is_cpu()) {
    SRA_CHECK(idx.device() == device, "[", op, "] inputs are on different devices: ", device.str(), " and ",
              idx.device().str());
    return idx;
  }
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
  return idx.to(device);
}

int64_t* index_ptr(const Tensor& idx) {
  return static_cast<int64_t*>(idx.raw());
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
  int64_t d = wrap_dim(dim, x.dim(), "index_select");
  SRA_CHECK(index.dim() == 1, "[index_select] index must be 1-D, got shape ", shape_str(index.shape()));
  Tensor idx = checked_index("index_select", index, x.size(d), x.device());
  Tensor xc = dense(x);
  int64_t outer, inner, n = idx.numel(), rows = x.size(d);
  split_at(x.shape(), d, outer, inner);
  Shape os = x.shape();
  os[d] = n;
  Tensor out = Tensor::empty(os, x.dtype(), x.device());
  kern::index_select(x.device(), {x.dtype(), out.raw(), xc.raw(), index_ptr(idx), n, outer, rows, inner});
  if (needs_grad({x})) {
    Shape xs = x.shape();
    record("index_select", {x, index}, {out}, {idx},
           [xs, idx, n, outer, rows, inner](const std::vector<Tensor>& g) -> std::vector<Tensor> {
             Tensor gy = dense(g[0]);
             Tensor gx = Tensor::zeros(xs, gy.dtype(), gy.device());
             kern::index_add(gy.device(),
                             {gy.dtype(), gx.raw(), gy.raw(), index_ptr(idx), n, outer, rows, inner});
             return {gx, Tensor()};
           });
  }
  return out;
}

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  detail::require_float("gather", x);
  int64_t d = wrap_dim(dim, x.dim(), "gather");
  check_fits("gather", index, x, d, false, "input");
  Tensor idx = checked_index("gather", index, x.size(d), x.device());
  Tensor xc = dense(x);
  Tensor out = Tensor::empty(idx.shape(), x.dtype(), x.device());
  kern::gather(x.device(), {x.dtype(), out.raw(), xc.raw(), xc.shape(), index_ptr(idx), idx.shape(), d});
  if (needs_grad({x})) {
    Shape xs = x.shape();
    record("gather", {x, index}, {out}, {idx},
           [xs, d, idx](const std::vector<Tensor>& g) -> std::vector<Tensor> {
             return {scatter_add(Tensor::zeros(xs, g[0].dtype(), g[0].device()), d, idx, g[0]), Tensor()};
           });
  }
  return out;
}

Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  detail::require_same_float("scatter_add", x, src);
  detail::require_same_device("scatter_add", {&x, &src});
  int64_t d = wrap_dim(dim, x.dim(), "scatter_add");
  check_fits("scatter_add", index, x, d, false, "input");
  check_fits("scatter_add", index, src, d, true, "src");
  Tensor idx = checked_index("scatter_add", index, x.size(d), x.device());
  Tensor sc = dense(src);
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  out.copy_(x.detach());
  kern::scatter_add(
      x.device(), {x.dtype(), out.raw(), out.shape(), index_ptr(idx), idx.shape(), sc.raw(), sc.shape(), d});
  if (needs_grad({x, src})) {
    bool gx_needed = x.requires_grad(), gs_needed = src.requires_grad();
    Shape ss = src.shape();
    record("scatter_add", {x, index, src}, {out}, {idx},
           [gx_needed, gs_needed, ss, d, idx](const std::vector<Tensor>& g) -> std::vector<Tensor> {
             Tensor gs;
             if (gs_needed) {
               gs = gather(g[0], d, idx);
               if (gs.shape() != ss) {
                 Tensor full = Tensor::zeros(ss, gs.dtype(), gs.device());
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
  SRA_CHECK(mask.defined() && mask.dtype() == DType::u8, "[masked_fill] mask must be u8");
  detail::require_same_device("masked_fill", {&x, &mask});
  bool fits = mask.dim() <= x.dim();
  for (int64_t k = 1; fits && k <= mask.dim(); ++k) fits = mask.size(-k) == 1 || mask.size(-k) == x.size(-k);
  SRA_CHECK(fits, "[masked_fill] mask shape ", shape_str(mask.shape()), " cannot be broadcast to input ",
            shape_str(x.shape()));
  Tensor m = dense(expand(mask, x.shape()));
  Tensor xc = dense(x);
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  kern::masked_fill(
      x.device(), {x.dtype(), out.raw(), xc.raw(), static_cast<const uint8_t*>(m.raw()), out.numel(), value});
  if (needs_grad({x})) {
    record("masked_fill", {x, mask}, {out}, {m}, [m](const std::vector<Tensor>& g) -> std::vector<Tensor> {
      return {masked_fill(g[0], m, 0.0), Tensor()};
    });
  }
  return out;
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  detail::require_same_float("where", a, b);
  SRA_CHECK(cond.defined() && cond.dtype() == DType::u8, "[where] cond must be u8");
  detail::require_same_device("where", {&cond, &a, &b});
  Shape shape = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  Tensor c = dense(expand(cond, shape));
  Tensor ac = dense(expand(a.detach(), shape)), bc = dense(expand(b.detach(), shape));
  Tensor out = Tensor::empty(shape, a.dtype(), a.device());
  kern::where(a.device(),
              {a.dtype(), out.raw(), static_cast<const uint8_t*>(c.raw()), ac.raw(), bc.raw(), out.numel()});
  if (needs_grad({a, b})) {
    Shape sa = a.shape(), sb = b.shape();
    bool ga_needed = a.requires_grad(), gb_needed = b.requires_grad();
    record("where", {cond, a, b}, {out}, {c},
           [c, sa, sb, ga_needed, gb_needed](const std::vector<Tensor>& g) -> std::vector<Tensor> {
             Tensor zero = Tensor::zeros({}, g[0].dtype(), g[0].device());
             return {Tensor(), ga_needed ? sum_to(where(c, g[0], zero), sa) : Tensor(),
                     gb_needed ? sum_to(where(c, zero, g[0]), sb) : Tensor()};
           });
  }
  return out;
}

std::pair<Tensor, Tensor> topk(const Tensor& x, int64_t k, int64_t dim) {
  detail::require_float("topk", x);
  int64_t d = wrap_dim(dim, x.dim(), "topk");
  SRA_CHECK(k >= 0 && k <= x.size(d), "[topk] k = ", k, " out of range for dim ", d, " of size ", x.size(d),
            " in shape ", shape_str(x.shape()));
  Tensor xc = dense(x);
  int64_t outer, inner;
  split_at(x.shape(), d, outer, inner);
  Shape os = x.shape();
  os[d] = k;
  Tensor values = Tensor::empty(os, x.dtype(), x.device());
  Tensor indices = Tensor::empty(os, DType::i64, x.device());
  kern::topk(x.device(), {x.dtype(), values.raw(), index_ptr(indices), xc.raw(), outer, x.size(d), inner, k});
  if (needs_grad({x})) {
    Shape xs = x.shape();
    record("topk", {x}, {values}, {indices},
           [xs, d, indices](const std::vector<Tensor>& g) -> std::vector<Tensor> {
             return {scatter_add(Tensor::zeros(xs, g[0].dtype(), g[0].device()), d, indices, g[0])};
           });
  }
  return {values, indices};
}

Tensor cumsum(const Tensor& x, int64_t dim) {
  detail::require_float("cumsum", x);
  int64_t d = wrap_dim(dim, x.dim(), "cumsum");
  Tensor xc = dense(x);
  int64_t outer, inner, r = x.size(d);
  split_at(x.shape(), d, outer, inner);
  auto scan = [outer, r, inner](const Tensor& in, bool reverse) {
    Tensor y = Tensor::empty(in.shape(), in.dtype(), in.device());
    kern::cumsum(in.device(), {in.dtype(), y.raw(), in.raw(), outer, r, inner, reverse});
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
  Tensor ac = dense(a.detach());
  Tensor out = Tensor::empty(a.shape(), DType::u8, a.device());
  kern::gt(a.device(), {a.dtype(), static_cast<uint8_t*>(out.raw()), ac.raw(), a.numel(), s});
  return out;
}

Tensor eq(const Tensor& a, const Tensor& b) {
  detail::require_same_device("eq", {&a, &b});
  SRA_CHECK(a.dtype() == b.dtype(), "[eq] dtype mismatch: ", dtype_name(a.dtype()), " and ",
            dtype_name(b.dtype()));
  Shape shape = broadcast_shapes(a.shape(), b.shape(), "eq");
  Tensor ac = dense(expand(a.detach(), shape)), bc = dense(expand(b.detach(), shape));
  Tensor out = Tensor::empty(shape, DType::u8, a.device());
  kern::eq(a.device(), {a.dtype(), static_cast<uint8_t*>(out.raw()), ac.raw(), bc.raw(), out.numel()});
  return out;
}

}  // namespace sra
