// Elementwise ops: broadcasting binary arithmetic and unary functions (math in
// kernels/elementwise/elementwise.h). Backward of a broadcast operand sums over the broadcast dims.
#include "kernels/elementwise/elementwise.h"

#include "autograd/ops/common.h"

namespace sra {

using kern::BinaryOp;
using kern::UnaryOp;

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t x = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t y = i < n - b.size() ? 1 : b[i - (n - b.size())];
    SRA_CHECK(x == y || x == 1 || y == 1, "[", op, "] shapes ", shape_str(a), " and ", shape_str(b),
              " cannot be broadcast together");
    out[i] = x == 1 ? y : x;
  }
  return out;
}

namespace {

Tensor binary_forward(const char* op, BinaryOp kind, const Tensor& a, const Tensor& b) {
  detail::require_same_float(op, a, b);
  detail::require_same_device(op, {&a, &b});
  Shape shape = broadcast_shapes(a.shape(), b.shape(), op);
  Tensor out = Tensor::empty(shape, a.dtype(), a.device());
  kern::binary(a.device(), {kind, a.dtype(), out.raw(), a.raw(), broadcast_strides(a, shape, op), b.raw(),
                            broadcast_strides(b, shape, op), shape});
  return out;
}

Tensor unary_forward(const char* op, UnaryOp kind, const Tensor& x, double p = 0.0) {
  detail::require_float(op, x);
  Tensor xc = detail::dense(x);
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  kern::unary(x.device(), {kind, x.dtype(), y.raw(), xc.raw(), y.numel(), p});
  return y;
}

// gx = gy · f'(x), recorded for unary ops; `x` and `y` are the saved forward input and output.
Tensor unary_grad(const char* op, UnaryOp kind, const Tensor& gy, const Tensor& x, const Tensor& y,
                  double p) {
  detail::require_same_device(op, {&gy, &x});
  Tensor g = detail::dense(gy);
  Tensor xc = detail::dense(x);
  Tensor gx = Tensor::empty(x.shape(), x.dtype(), x.device());
  kern::unary_backward(x.device(), {kind, x.dtype(), gx.raw(), g.raw(), xc.raw(), y.raw(), gx.numel(), p});
  return gx;
}

Tensor unary(const char* op, UnaryOp kind, const Tensor& x, double p = 0.0) {
  Tensor y = unary_forward(op, kind, x, p);
  if (needs_grad({x})) {
    record(op, {x}, {y}, {x, y}, [op, kind, x, y, p](const std::vector<Tensor>& g) -> std::vector<Tensor> {
      return {unary_grad(op, kind, g[0], x, y, p)};
    });
  }
  return y;
}

}  // namespace

// add and sub skip the gradient of an operand that does not need one (e.g. a broadcast constant such as
// the router's threshold, whose gradient would be a reduction over the whole output).
Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward("add", BinaryOp::add, a, b);
  if (needs_grad({a, b})) {
    Shape sa = a.shape(), sb = b.shape();
    bool ga = a.requires_grad(), gb = b.requires_grad();
    record("add", {a, b}, {out}, {}, [sa, sb, ga, gb](const std::vector<Tensor>& g) -> std::vector<Tensor> {
      return {ga ? sum_to(g[0], sa) : Tensor(), gb ? sum_to(g[0], sb) : Tensor()};
    });
  }
  return out;
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward("sub", BinaryOp::sub, a, b);
  if (needs_grad({a, b})) {
    Shape sa = a.shape(), sb = b.shape();
    bool ga = a.requires_grad(), gb = b.requires_grad();
    record("sub", {a, b}, {out}, {}, [sa, sb, ga, gb](const std::vector<Tensor>& g) -> std::vector<Tensor> {
      return {ga ? sum_to(g[0], sa) : Tensor(), gb ? sum_to(neg(g[0]), sb) : Tensor()};
    });
  }
  return out;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward("mul", BinaryOp::mul, a, b);
  if (needs_grad({a, b})) {
    record("mul", {a, b}, {out}, {a, b}, [a, b](const std::vector<Tensor>& g) -> std::vector<Tensor> {
      return {a.requires_grad() ? sum_to(mul(g[0], b), a.shape()) : Tensor(),
              b.requires_grad() ? sum_to(mul(g[0], a), b.shape()) : Tensor()};
    });
  }
  return out;
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor out = binary_forward("div", BinaryOp::div, a, b);
  if (needs_grad({a, b})) {
    record("div", {a, b}, {out}, {b, out}, [a, b, out](const std::vector<Tensor>& g) -> std::vector<Tensor> {
      Tensor ga = div(g[0], b);  // d(a/b)/da = 1/b
      return {a.requires_grad() ? sum_to(ga, a.shape()) : Tensor(),
              b.requires_grad() ? sum_to(neg(mul(ga, out)), b.shape()) : Tensor()};  // -a/b² = -(1/b)·out
    });
  }
  return out;
}

// clang-format off
Tensor add(const Tensor& a, double s) { return unary("add_scalar", UnaryOp::add_scalar, a, s); }
Tensor mul(const Tensor& a, double s) { return unary("scale", UnaryOp::scale, a, s); }
Tensor div(const Tensor& a, double s) { return div(a, Tensor::full({}, s, a.dtype(), a.device())); }
Tensor neg(const Tensor& x) { return unary("neg", UnaryOp::neg, x); }
Tensor pow(const Tensor& x, double p) { return unary("pow", UnaryOp::pow, x, p); }
Tensor exp(const Tensor& x) { return unary("exp", UnaryOp::exp, x); }
Tensor log(const Tensor& x) { return unary("log", UnaryOp::log, x); }
Tensor sqrt(const Tensor& x) { return unary("sqrt", UnaryOp::sqrt, x); }
Tensor rsqrt(const Tensor& x) { return unary("rsqrt", UnaryOp::rsqrt, x); }
Tensor tanh(const Tensor& x) { return unary("tanh", UnaryOp::tanh, x); }
Tensor sigmoid(const Tensor& x) { return unary("sigmoid", UnaryOp::sigmoid, x); }
Tensor silu(const Tensor& x) { return unary("silu", UnaryOp::silu, x); }
Tensor gelu(const Tensor& x) { return unary("gelu", UnaryOp::gelu, x); }
Tensor relu(const Tensor& x) { return unary("relu", UnaryOp::relu, x); }
// clang-format on

// ---- in-place members (not recorded) ----------------------------------------------------------
Tensor& Tensor::add_(const Tensor& other, double alpha) {
  detail::require_same_float("add_", *this, other);
  detail::require_same_device("add_", {this, &other});
  SRA_CHECK(!(requires_grad() && is_leaf() && grad_enabled()),
            "[add_] in-place update of a leaf that requires "
            "grad; wrap it in NoGradGuard");
  Shape shape = broadcast_shapes(this->shape(), other.shape(), "add_");
  SRA_CHECK(shape == this->shape(), "[add_] cannot broadcast ", shape_str(other.shape()), " into ",
            shape_str(this->shape()));
  kern::axpy_strided(device(), {dtype(), raw(), strides(), other.raw(),
                                broadcast_strides(other, shape, "add_"), shape, alpha});
  bump_version();
  return *this;
}

Tensor& Tensor::mul_(double s) {
  detail::require_float("mul_", *this);
  SRA_CHECK(is_contiguous(), "[mul_] needs a contiguous tensor");
  kern::unary(device(), {UnaryOp::scale, dtype(), raw(), raw(), numel(), s});
  bump_version();
  return *this;
}

}  // namespace sra
