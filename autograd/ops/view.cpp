// Shape ops. Views share storage (no copy): view/reshape (when strides allow), transpose, permute,
// slice/narrow, expand, squeeze/unsqueeze. Copies: contiguous, clone, cast, concat, stack.
// Backward: the inverse view (reshape back, inverse permutation), sum_to for expand, zero-padding
// for slice, split for concat/stack.
#include <numeric>
#include <optional>

#include "autograd/ops/common.h"
#include "core/strided_copy.h"

namespace sra {

namespace {

Shape infer_shape(const char* op, const Shape& want, int64_t numel, const Shape& from) {
  Shape s = want;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      SRA_CHECK(infer < 0, "[", op, "] only one dimension can be -1 in ", shape_str(want));
      infer = int64_t(i);
    } else {
      SRA_CHECK(s[i] >= 0, "[", op, "] invalid size in ", shape_str(want));
      known *= s[i];
    }
  }
  if (infer >= 0) {
    SRA_CHECK(known > 0 && numel % known == 0, "[", op, "] cannot reshape ", shape_str(from), " into ",
              shape_str(want));
    s[infer] = numel / known;
  }
  SRA_CHECK(shape_numel(s) == numel, "[", op, "] cannot reshape ", shape_str(from), " (", numel,
            " elements) into ", shape_str(want));
  return s;
}

// Strides for viewing x as `shape` without a copy, or empty when impossible (PyTorch's rule:
// each run of merged/split dims must be contiguous within itself).
std::optional<Shape> view_strides(const Tensor& x, const Shape& shape) {
  if (x.numel() == 0 || x.dim() == 0 || shape.empty()) return contiguous_strides(shape);
  Shape out(shape.size());
  const Shape& os = x.shape();
  const Shape& ost = x.strides();
  int64_t view_d = int64_t(shape.size()) - 1;
  int64_t chunk_base_stride = ost.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = x.dim() - 1; d >= 0; --d) {
    tensor_numel *= os[d];
    if (d == 0 || (os[d - 1] != 1 && ost[d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
        out[view_d] = view_numel * chunk_base_stride;
        view_numel *= shape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (d > 0) {
        chunk_base_stride = ost[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return std::nullopt;
  return out;
}

Tensor as_view(const char* op, const Tensor& x, const Shape& shape, const Shape& strides, int64_t offset,
               BackwardFn back) {
  Tensor out = Tensor::make_view(x, shape, strides, offset);
  if (needs_grad({x})) record(op, {x}, {out}, {}, std::move(back));
  return out;
}

Tensor copy_to_contiguous(const Tensor& x) {
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  copy_strided(x.device(), out.raw(), out.dtype(), out.strides(), x.raw(), x.dtype(), x.strides(), x.shape());
  return out;
}

}  // namespace

Tensor reshape(const Tensor& x, const Shape& want) {
  Shape shape = infer_shape("reshape", want, x.numel(), x.shape());
  std::optional<Shape> st = view_strides(x, shape);
  Shape xs = x.shape();
  if (!st) return reshape(contiguous(x), shape);
  return as_view("reshape", x, shape, *st, x.offset(),
                 [xs](const std::vector<Tensor>& g) -> std::vector<Tensor> { return {reshape(g[0], xs)}; });
}

Tensor Tensor::view(const Shape& want) const {
  Shape shape = infer_shape("view", want, numel(), this->shape());
  SRA_CHECK(view_strides(*this, shape).has_value(), "[view] cannot view ", shape_str(this->shape()),
            " with strides ", shape_str(strides()), " as ", shape_str(shape), " without a copy; use reshape");
  return sra::reshape(*this, shape);
}
Tensor Tensor::reshape(const Shape& s) const {
  return sra::reshape(*this, s);
}

Tensor permute(const Tensor& x, const std::vector<int64_t>& dims) {
  SRA_CHECK(int64_t(dims.size()) == x.dim(), "[permute] ", dims.size(), " dims given for a tensor of shape ",
            shape_str(x.shape()));
  std::vector<int64_t> p(dims.size()), inv(dims.size());
  std::vector<bool> seen(dims.size(), false);
  Shape shape(dims.size()), strides(dims.size());
  for (size_t i = 0; i < dims.size(); ++i) {
    p[i] = wrap_dim(dims[i], x.dim(), "permute");
    SRA_CHECK(!seen[p[i]], "[permute] repeated dim ", dims[i]);
    seen[p[i]] = true;
    inv[p[i]] = int64_t(i);
    shape[i] = x.size(p[i]);
    strides[i] = x.stride(p[i]);
  }
  return as_view("permute", x, shape, strides, x.offset(),
                 [inv](const std::vector<Tensor>& g) -> std::vector<Tensor> { return {permute(g[0], inv)}; });
}

Tensor transpose(const Tensor& x, int64_t d0, int64_t d1) {
  std::vector<int64_t> p(static_cast<size_t>(x.dim()));
  std::iota(p.begin(), p.end(), 0);
  std::swap(p[wrap_dim(d0, x.dim(), "transpose")], p[wrap_dim(d1, x.dim(), "transpose")]);
  return permute(x, p);
}

Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step) {
  int64_t d = wrap_dim(dim, x.dim(), "slice");
  int64_t n = x.size(d);
  SRA_CHECK(step >= 1, "[slice] step must be >= 1, got ", step);
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<int64_t>(start, 0, n);
  end = std::clamp<int64_t>(end, start, n);
  Shape shape = x.shape(), strides = x.strides();
  shape[d] = (end - start + step - 1) / step;
  strides[d] *= step;
  Shape xs = x.shape();
  return as_view("slice", x, shape, strides, x.offset() + start * x.stride(d),
                 [xs, d, start, end, step](const std::vector<Tensor>& g) -> std::vector<Tensor> {
                   Tensor gx = Tensor::zeros(xs, g[0].dtype(), g[0].device());
                   Tensor win = slice(gx, d, start, end, step);
                   win.copy_(g[0]);
                   return {gx};
                 });
}

Tensor Tensor::narrow(int64_t dim, int64_t start, int64_t length) const {
  int64_t d = wrap_dim(dim, this->dim(), "narrow");
  SRA_CHECK(start >= 0 && length >= 0 && start + length <= size(d), "[narrow] range [", start, ", ",
            start + length, ") out of bounds for dim ", dim, " of size ", size(d));
  return sra::slice(*this, d, start, start + length);
}

Tensor expand(const Tensor& x, const Shape& shape) {
  SRA_CHECK(int64_t(shape.size()) >= x.dim(), "[expand] cannot expand ", shape_str(x.shape()), " to ",
            shape_str(shape));
  size_t lead = shape.size() - size_t(x.dim());
  Shape out_shape(shape.size()), strides(shape.size(), 0);
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i < lead) {
      SRA_CHECK(shape[i] >= 0, "[expand] invalid size in ", shape_str(shape));
      out_shape[i] = shape[i];
      continue;
    }
    int64_t s = x.size(int64_t(i - lead));
    int64_t want = shape[i] == -1 ? s : shape[i];
    SRA_CHECK(s == want || s == 1, "[expand] cannot expand ", shape_str(x.shape()), " to ", shape_str(shape));
    out_shape[i] = want;
    strides[i] = s == want ? x.stride(int64_t(i - lead)) : 0;
  }
  if (out_shape == x.shape()) return x;
  Shape xs = x.shape();
  return as_view("expand", x, out_shape, strides, x.offset(),
                 [xs](const std::vector<Tensor>& g) -> std::vector<Tensor> { return {sum_to(g[0], xs)}; });
}

Tensor Tensor::unsqueeze(int64_t dim) const {
  int64_t d = wrap_dim(dim, this->dim() + 1, "unsqueeze");
  Shape s = shape();
  s.insert(s.begin() + d, 1);
  return sra::reshape(*this, s);
}

Tensor Tensor::squeeze(int64_t dim) const {
  int64_t d = wrap_dim(dim, this->dim(), "squeeze");
  SRA_CHECK(size(d) == 1, "[squeeze] dim ", dim, " has size ", size(d), ", not 1");
  Shape s = shape();
  s.erase(s.begin() + d);
  return sra::reshape(*this, s);
}

Tensor Tensor::transpose(int64_t d0, int64_t d1) const {
  return sra::transpose(*this, d0, d1);
}
Tensor Tensor::permute(const std::vector<int64_t>& dims) const {
  return sra::permute(*this, dims);
}
Tensor Tensor::slice(int64_t dim, int64_t s, int64_t e, int64_t step) const {
  return sra::slice(*this, dim, s, e, step);
}
Tensor Tensor::expand(const Shape& s) const {
  return sra::expand(*this, s);
}

Tensor contiguous(const Tensor& x) {
  if (x.is_contiguous()) return x;
  Tensor out = copy_to_contiguous(x);
  if (needs_grad({x})) {
    record("contiguous", {x}, {out}, {},
           [](const std::vector<Tensor>& g) -> std::vector<Tensor> { return {g[0]}; });
  }
  return out;
}
Tensor Tensor::contiguous() const {
  return sra::contiguous(*this);
}

Tensor Tensor::clone() const {
  Tensor out = copy_to_contiguous(*this);
  if (needs_grad({*this})) {
    record("clone", {*this}, {out}, {},
           [](const std::vector<Tensor>& g) -> std::vector<Tensor> { return {g[0]}; });
  }
  return out;
}

Tensor cast(const Tensor& x, DType dtype) {
  if (x.dtype() == dtype) return x;
  Tensor out = Tensor::empty(x.shape(), dtype, x.device());
  copy_strided(x.device(), out.raw(), dtype, out.strides(), x.raw(), x.dtype(), x.strides(), x.shape());
  if (needs_grad({x}) && is_floating(dtype)) {
    DType from = x.dtype();
    record("cast", {x}, {out}, {},
           [from](const std::vector<Tensor>& g) -> std::vector<Tensor> { return {cast(g[0], from)}; });
  }
  return out;
}
Tensor Tensor::to(DType dtype) const {
  return cast(*this, dtype);
}

Tensor concat(const std::vector<Tensor>& xs, int64_t dim) {
  SRA_CHECK(!xs.empty(), "[concat] no tensors given");
  const Tensor& x0 = xs[0];
  int64_t d = wrap_dim(dim, x0.dim(), "concat");
  Shape shape = x0.shape();
  shape[d] = 0;
  for (const Tensor& x : xs) {
    SRA_CHECK(x.device() == x0.device(), "[concat] inputs are on different devices: ", x0.device().str(),
              " and ", x.device().str());
    SRA_CHECK(x.dtype() == x0.dtype(), "[concat] dtype mismatch: ", dtype_name(x0.dtype()), " and ",
              dtype_name(x.dtype()));
    bool ok = x.dim() == x0.dim();
    for (int64_t k = 0; ok && k < x.dim(); ++k) ok = k == d || x.size(k) == x0.size(k);
    SRA_CHECK(ok, "[concat] shapes ", shape_str(x0.shape()), " and ", shape_str(x.shape()),
              " differ outside dim ", d);
    shape[d] += x.size(d);
  }
  Tensor out = Tensor::empty(shape, x0.dtype(), x0.device());
  std::vector<int64_t> sizes;
  int64_t at = 0;
  for (const Tensor& x : xs) {
    Tensor win = Tensor::make_view(out, x.shape(), out.strides(), at * out.stride(d));
    copy_strided(x.device(), win.raw(), win.dtype(), win.strides(), x.raw(), x.dtype(), x.strides(),
                 x.shape());
    sizes.push_back(x.size(d));
    at += x.size(d);
  }
  if (needs_grad(xs)) {
    record("concat", xs, {out}, {}, [sizes, d](const std::vector<Tensor>& g) -> std::vector<Tensor> {
      std::vector<Tensor> gs;
      int64_t s = 0;
      for (int64_t n : sizes) {
        gs.push_back(contiguous(slice(g[0], d, s, s + n)));
        s += n;
      }
      return gs;
    });
  }
  return out;
}

Tensor stack(const std::vector<Tensor>& xs, int64_t dim) {
  SRA_CHECK(!xs.empty(), "[stack] no tensors given");
  int64_t d = wrap_dim(dim, xs[0].dim() + 1, "stack");
  std::vector<Tensor> us;
  for (const Tensor& x : xs) {
    SRA_CHECK(x.shape() == xs[0].shape(), "[stack] shapes ", shape_str(xs[0].shape()), " and ",
              shape_str(x.shape()), " differ");
    us.push_back(x.unsqueeze(d));
  }
  return concat(us, d);
}

std::vector<std::vector<double>> read_back(const std::vector<Tensor>& ts) {
  if (ts.empty()) return {};
  NoGradGuard g;
  std::vector<Tensor> flat;
  for (const Tensor& t : ts) flat.push_back(cast(t, DType::f64).reshape({-1}));
  const std::vector<double> all = (flat.size() == 1 ? flat[0] : concat(flat, 0)).to_vector<double>();
  std::vector<std::vector<double>> out;
  size_t at = 0;
  for (const Tensor& t : flat) {
    out.emplace_back(all.begin() + int64_t(at), all.begin() + int64_t(at + size_t(t.numel())));
    at += size_t(t.numel());
  }
  return out;
}

}  // namespace sra
