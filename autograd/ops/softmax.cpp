// Softmax family (math in kernels/softmax/softmax.h and kernels/cross_entropy/cross_entropy.h).
//   softmax(x, d)      y = exp(x − max) / Σ exp(x − max) along d    gx = y · (gy − Σ_d gy·y)
//   log_softmax(x, d)  y = x − max − log Σ exp(x − max)             gx = gy − softmax(x) · Σ_d gy
//   cross_entropy(logits (N, V), targets (N) i64/i32, ignore_index)
//     loss = (1/K) Σ_{n kept} (logsumexp(logits[n]) − logits[n, t[n]]), K = #{n : t[n] != ignore_index};
//     0 when K = 0. Fused: log_softmax is never materialised; the per-row max and log Σ exp are saved.
//     gx[n] = g · (softmax(logits[n]) − onehot(t[n])) / K for kept rows, 0 for ignored rows.
// Any dim works: x is read as a contiguous (outer, size(d), inner) view.
#include "kernels/softmax/softmax.h"

#include "autograd/ops/common.h"
#include "kernels/cross_entropy/cross_entropy.h"

namespace sra {

using detail::dense;
using detail::dispatch_float;

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
  detail::require_cpu(op, {&x});
  SRA_CHECK(x.dim() >= 1, "[", op, "] needs at least one dim, got a scalar");
  int64_t d = wrap_dim(dim, x.dim(), op);
  Lines L = lines_of(x.shape(), d);
  Tensor xc = dense(x);
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  dispatch_float(x.dtype(), op, [&](auto t) {
    using T = decltype(t);
    if (y.numel() > 0) kern::softmax_cpu<T>(y.data<T>(), xc.data<T>(), L.outer, L.r, L.inner, log);
  });
  if (needs_grad({x})) {
    record(op, {x}, {y}, {y}, [op, y, L, log](const std::vector<Tensor>& g) -> std::vector<Tensor> {
      Tensor gy = dense(g[0]);
      Tensor gx = Tensor::empty(y.shape(), y.dtype());
      dispatch_float(y.dtype(), op, [&](auto t) {
        using T = decltype(t);
        if (gx.numel() > 0)
          kern::softmax_backward_cpu<T>(gx.data<T>(), gy.data<T>(), y.data<T>(), L.outer, L.r, L.inner, log);
      });
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
  detail::require_cpu("cross_entropy", {&logits, &targets});
  SRA_CHECK(logits.dim() == 2, "[cross_entropy] logits must be (N, V), got shape ",
            shape_str(logits.shape()));
  SRA_CHECK(targets.dim() == 1 && targets.size(0) == logits.size(0), "[cross_entropy] targets shape ",
            shape_str(targets.shape()), " does not match logits ", shape_str(logits.shape()), " (expected [",
            logits.size(0), "])");
  int64_t n = logits.size(0), v = logits.size(1);
  SRA_CHECK(v > 0 || n == 0, "[cross_entropy] logits ", shape_str(logits.shape()), " have no classes");
  Tensor t = dense(cast(targets, DType::i64));
  const int64_t* tp = t.data<int64_t>();
  int64_t kept = 0;
  for (int64_t r = 0; r < n; ++r) {
    if (tp[r] == ignore_index) continue;
    SRA_CHECK(tp[r] >= 0 && tp[r] < v, "[cross_entropy] target ", tp[r], " at row ", r,
              " is out of range [0, ", v, ") (ignore_index ", ignore_index, ")");
    ++kept;
  }
  Tensor xc = dense(logits);
  Tensor mx = Tensor::empty({n}, logits.dtype()), ls = Tensor::empty({n}, logits.dtype());
  double total = 0;
  dispatch_float(logits.dtype(), "cross_entropy", [&](auto tag) {
    using T = decltype(tag);
    if (n > 0)
      total = kern::cross_entropy_cpu<T>(mx.data<T>(), ls.data<T>(), xc.data<T>(), tp, n, v, ignore_index);
  });
  Tensor loss = Tensor::scalar(kept > 0 ? total / double(kept) : 0.0, logits.dtype());
  if (needs_grad({logits})) {
    record("cross_entropy", {logits, targets}, {loss}, {xc, t},
           [xc, t, mx, ls, n, v, kept, ignore_index](const std::vector<Tensor>& g) -> std::vector<Tensor> {
             double scale = kept > 0 ? g[0].item() / double(kept) : 0.0;
             Tensor gx = Tensor::empty({n, v}, xc.dtype());
             dispatch_float(xc.dtype(), "cross_entropy", [&](auto tag) {
               using T = decltype(tag);
               if (n > 0)
                 kern::cross_entropy_backward_cpu<T>(gx.data<T>(), xc.data<T>(), mx.data<T>(), ls.data<T>(),
                                                     t.data<int64_t>(), n, v, ignore_index, scale);
             });
             return {gx, Tensor()};
           });
  }
  return loss;
}

}  // namespace sra
