// Reductions: sum / mean over a set of dims, max / argmax over one dim, kth_smallest over all elements.
// Backward: sum → broadcast g back; mean → g / count; max → g scattered to the chosen index; kth_smallest
// records nothing.
#include "kernels/reduce/reduce.h"

#include <algorithm>

#include "autograd/ops/common.h"
#include "kernels/kth_smallest/kth_smallest.h"

namespace sra {

namespace {

// x's shape with the reduced dims set to 1, and their element count.
std::pair<Shape, int64_t> keep_shape_of(const char* op, const Tensor& x, const std::vector<int64_t>& dims) {
  Shape ks = x.shape();
  int64_t count = 1;
  for (int64_t d : dims) {
    int64_t w = wrap_dim(d, x.dim(), op);
    if (x.dim() > 0 && ks[w] != 1) count *= ks[w], ks[w] = 1;
  }
  return {ks, count};
}

struct ReduceLayout {
  Tensor x;  // contiguous, read as (outer, r, inner)
  int64_t outer = 1, r = 1, inner = 1;
  Shape keep_shape;  // x's shape with reduced dims set to 1
  Shape out_shape;   // keep_shape without the reduced dims unless keepdim
};

ReduceLayout reduce_layout(const char* op, const Tensor& x, std::vector<int64_t> dims, bool keepdim) {
  for (int64_t& d : dims) d = wrap_dim(d, x.dim(), op);
  std::sort(dims.begin(), dims.end());
  SRA_CHECK(std::adjacent_find(dims.begin(), dims.end()) == dims.end(), "[", op, "] repeated dim");
  ReduceLayout L;
  L.keep_shape = x.shape();
  for (int64_t d : dims) L.keep_shape[d] = 1;
  for (int64_t d = 0; d < x.dim(); ++d) {
    bool red = std::binary_search(dims.begin(), dims.end(), d);
    if (!red || keepdim) L.out_shape.push_back(red ? 1 : x.size(d));
  }
  if (x.dim() == 0) {
    L.x = x.contiguous();
    return L;
  }
  bool consecutive = dims.empty() || dims.back() - dims.front() + 1 == int64_t(dims.size());
  if (consecutive) {
    L.x = detail::dense(x);
    int64_t lo = dims.empty() ? x.dim() : dims.front(), hi = dims.empty() ? x.dim() : dims.back() + 1;
    for (int64_t d = 0; d < lo; ++d) L.outer *= x.size(d);
    for (int64_t d = lo; d < hi; ++d) L.r *= x.size(d);
    for (int64_t d = hi; d < x.dim(); ++d) L.inner *= x.size(d);
  } else {
    std::vector<int64_t> perm;
    for (int64_t d = 0; d < x.dim(); ++d)
      if (!std::binary_search(dims.begin(), dims.end(), d)) perm.push_back(d);
    for (int64_t d : dims) perm.push_back(d);
    L.x = contiguous(permute(x, perm));
    for (int64_t d : dims) L.r *= x.size(d);
    L.outer = x.numel() / std::max<int64_t>(L.r, 1);
  }
  return L;
}

Tensor sum_impl(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim, bool is_mean) {
  const char* op = is_mean ? "mean" : "sum";
  detail::require_float(op, x);
  NoGradGuard inner_guard;  // the helpers below must not record
  ReduceLayout L = reduce_layout(op, x, dims, keepdim);
  Tensor out = Tensor::empty(L.out_shape, x.dtype(), x.device());
  detail::Scratch scratch(kern::sum_scratch_bytes(x.device(), L.outer, L.r, L.inner), x.device());
  kern::sum(x.device(),
            {x.dtype(), out.raw(), L.x.raw(), L.outer, L.r, L.inner, scratch.data(), scratch.size()});
  if (is_mean) {
    SRA_CHECK(L.r > 0, "[mean] over an empty dim");
    out.mul_(1.0 / double(L.r));
  }
  return out;
}

}  // namespace

Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  Tensor out = sum_impl(x, dims, keepdim, false);
  if (needs_grad({x})) {
    Shape xs = x.shape();
    Shape ks = keep_shape_of("sum", x, dims).first;
    record("sum", {x}, {out}, {}, [xs, ks](const std::vector<Tensor>& g) -> std::vector<Tensor> {
      return {contiguous(expand(reshape(g[0], ks), xs))};
    });
  }
  return out;
}

Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  Tensor out = sum_impl(x, dims, keepdim, true);
  if (needs_grad({x})) {
    Shape xs = x.shape();
    auto [ks, count] = keep_shape_of("mean", x, dims);
    double inv = 1.0 / double(count);
    record("mean", {x}, {out}, {}, [xs, ks, inv](const std::vector<Tensor>& g) -> std::vector<Tensor> {
      return {contiguous(expand(reshape(mul(g[0], inv), ks), xs))};
    });
  }
  return out;
}

Tensor sum(const Tensor& x) {
  std::vector<int64_t> all;
  for (int64_t d = 0; d < x.dim(); ++d) all.push_back(d);
  return sum(x, all, false);
}

Tensor mean(const Tensor& x) {
  std::vector<int64_t> all;
  for (int64_t d = 0; d < x.dim(); ++d) all.push_back(d);
  return mean(x, all, false);
}

std::pair<Tensor, Tensor> max(const Tensor& x, int64_t dim, bool keepdim) {
  detail::require_float("max", x);
  int64_t d = wrap_dim(dim, x.dim(), "max");
  SRA_CHECK(x.dim() == 0 || x.size(d) > 0, "[max] over an empty dim of shape ", shape_str(x.shape()));
  ReduceLayout L;
  {
    NoGradGuard g;
    L = reduce_layout("max", x, {d}, keepdim);
  }
  Tensor values = Tensor::empty(L.out_shape, x.dtype(), x.device());
  Tensor idx = Tensor::empty(L.out_shape, DType::i64, x.device());
  kern::max(x.device(), {x.dtype(), values.raw(), L.x.raw(), L.outer, L.r, L.inner},
            static_cast<int64_t*>(idx.raw()));
  if (needs_grad({x})) {
    Shape xs = x.shape(), ks = L.keep_shape;
    int64_t dd = x.dim() == 0 ? 0 : d;
    bool scalar = x.dim() == 0;
    record("max", {x}, {values}, {},
           [xs, ks, dd, idx, scalar](const std::vector<Tensor>& g) -> std::vector<Tensor> {
             if (scalar) return {g[0]};
             Tensor zeros = Tensor::zeros(xs, g[0].dtype(), g[0].device());
             return {scatter_add(zeros, dd, reshape(idx, ks), reshape(g[0], ks))};
           });
  }
  return {values, idx};
}

Tensor argmax(const Tensor& x, int64_t dim, bool keepdim) {
  NoGradGuard g;
  return max(x, dim, keepdim).second;
}

Tensor kth_smallest(const Tensor& x, int64_t k) {
  detail::require_float("kth_smallest", x);
  SRA_CHECK(k >= 0 && k < x.numel(), "[kth_smallest] k = ", k, " is outside [0, ", x.numel(),
            ") for a tensor of shape ", shape_str(x.shape()));
  Tensor xc = detail::dense(x.detach());
  Tensor out = Tensor::empty({}, x.dtype(), x.device());
  kern::kth_smallest(x.device(), {x.dtype(), out.raw(), xc.raw(), x.numel(), k});
  return out;
}

}  // namespace sra
