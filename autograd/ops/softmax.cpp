// Softmax family (math in kernels/softmax/softmax.h and kernels/cross_entropy/cross_entropy.h).
//   softmax(x, d)      y = exp(x − max) / Σ exp(x − max) along d    gx = y · (gy − Σ_d gy·y)
//   log_softmax(x, d)  y = x − max − log Σ exp(x − max)             gx = gy − softmax(x) · Σ_d gy
//   cross_entropy(logits (N, V), targets (N) i64/i32, ignore_index)
//     loss = (1/K) Σ_{n kept} (logsumexp(logits[n]) − logits[n, t[n]]), K = #{n : t[n] != ignore_index};
//     0 when K = 0. Fused: log_softmax is never materialised; the per-row max and log Σ exp are saved.
//     gx[n] = g · (softmax(logits[n]) − onehot(t[n])) / K for kept rows, 0 for ignored rows.
// Any dim works: x is read as a contiguous (outer, size(d), inner) view.
// Everything runs on the input's (the logits') device. cross_entropy's targets may sit on the CPU: they are
// range-checked there and copied to the logits' device; targets already on a GPU are never read on the host
// (what the CUDA kernel does with a bad target: kernels/cross_entropy/cross_entropy.h).
#include "kernels/softmax/softmax.h"

#include "autograd/ops/common.h"
#include "kernels/cross_entropy/cross_entropy.h"

namespace sra {

using detail::dense;

namespace {

struct Lines {
  int64_t outer = 1, r = 1, inner = 1;
};

Lines lines_of(const Shape& s, int64_t d) {
  Lines L;
  for (int64_t k = 0; k < d; ++k) L.outer *= s[k];
  L.r = s[d];
  for (int64_t k = d + 1; k < int64_t(s.size()); ++k) L.inner *= s[k];
  return L;
}

Tensor softmax_impl(const char* op, const Tensor& x, int64_t dim, bool log) {
  detail::require_float(op, x);
  SRA_CHECK(x.dim() >= 1, "[", op, "] needs at least one dim, got a scalar");
  int64_t d = wrap_dim(dim, x.dim(), op);
  Lines L = lines_of(x.shape(), d);
  Tensor xc = dense(x);
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  kern::softmax(x.device(), {x.dtype(), y.raw(), xc.raw(), L.outer, L.r, L.inner, log});
  if (needs_grad({x})) {
    record(op, {x}, {y}, {y}, [y, L, log](const std::vector<Tensor>& g) -> std::vector<Tensor> {
      Tensor gy = dense(g[0]);
      Tensor gx = Tensor::empty(y.shape(), y.dtype(), y.device());
      kern::softmax_backward(y.device(),
                             {y.dtype(), gx.raw(), gy.raw(), y.raw(), L.outer, L.r, L.inner, log});
      return {gx};
    });
  }
  return y;
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) {
  return softmax_impl("softmax", x, dim, false);
}

Tensor log_softmax(const Tensor& x, int64_t dim) {
  return softmax_impl("log_softmax", x, dim, true);
}

Tensor cross_entropy(const Tensor& logits, const Tensor& targets, int64_t ignore_index) {
  detail::require_float("cross_entropy", logits, "logits");
  detail::require_index("cross_entropy", targets, "targets");
  SRA_CHECK(logits.dim() == 2, "[cross_entropy] logits must be (N, V), got shape ",
            shape_str(logits.shape()));
  SRA_CHECK(targets.dim() == 1 && targets.size(0) == logits.size(0), "[cross_entropy] targets shape ",
            shape_str(targets.shape()), " does not match logits ", shape_str(logits.shape()), " (expected [",
            logits.size(0), "])");
  int64_t n = logits.size(0), v = logits.size(1);
  SRA_CHECK(v > 0 || n == 0, "[cross_entropy] logits ", shape_str(logits.shape()), " have no classes");
  Device dev = logits.device();
  Tensor t = detail::device_targets("cross_entropy", targets, dev, v, ignore_index);
  Tensor xc = dense(logits);
  Tensor mx = Tensor::empty({n}, logits.dtype(), dev), ls = Tensor::empty({n}, logits.dtype(), dev);
  Tensor loss = Tensor::empty({}, logits.dtype(), dev), kept = Tensor::empty({}, DType::i64, dev);
  Tensor row_loss = dev.is_cuda() ? Tensor::empty({n}, DType::f64, dev) : Tensor();
  kern::cross_entropy(dev, {logits.dtype(), loss.raw(), static_cast<int64_t*>(kept.raw()), mx.raw(), ls.raw(),
                            row_loss.defined() ? static_cast<double*>(row_loss.raw()) : nullptr, xc.raw(),
                            static_cast<const int64_t*>(t.raw()), n, v, ignore_index});
  if (needs_grad({logits})) {
    record("cross_entropy", {logits, targets}, {loss}, {xc, t},
           [xc, t, mx, ls, kept, n, v, ignore_index](const std::vector<Tensor>& g) -> std::vector<Tensor> {
             Tensor gl = dense(g[0]);
             Tensor gx = Tensor::empty({n, v}, xc.dtype(), xc.device());
             kern::cross_entropy_backward(
                 xc.device(),
                 {xc.dtype(), gx.raw(), xc.raw(), mx.raw(), ls.raw(), static_cast<const int64_t*>(t.raw()),
                  gl.raw(), static_cast<const int64_t*>(kept.raw()), n, v, ignore_index});
             return {gx, Tensor()};
           });
  }
  return loss;
}

}  // namespace sra
