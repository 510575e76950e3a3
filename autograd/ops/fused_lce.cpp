// linear_cross_entropy (contract in autograd/fused_ops.h): the LM head and the mean cross-entropy over row
// chunks. With z_c = x_c · wᵀ the logits of chunk c (rows × V, one reused buffer):
//   forward   mx, ls, row losses from z_c (kernels/linear_cross_entropy), loss = Σ row losses / kept
//   gradients G_c = (softmax(z_c) − onehot(t_c)) / kept (0 rows for ignored targets), formed in the same
//             kernel right after the chunk's loss, then dx_c = G_c · w and dw += G_cᵀ · x_c (two GEMMs)
//   backward  gx = g · dx, gw = g · dw (g the incoming gradient of the loss, a 0-d tensor on the device)
// Forming the gradients in the forward saves recomputing the logits in the backward (one head GEMM,
// 2·N·V·C FLOPs) at the price of holding dx (N, C) and dw (V, C) until backward. Under bf16 autocast the
// GEMMs take bf16 operands (x and w through the cast cache, G written in bf16 by the kernel) and accumulate
// in fp32; dx, dw and the loss are f32.
#include <algorithm>

#include "autograd/autocast.h"
#include "autograd/fused_ops.h"
#include "autograd/ops/common.h"
#include "kernels/linear_cross_entropy/linear_cross_entropy.h"
#include "kernels/matmul/matmul.h"

namespace sra {

namespace {

constexpr int64_t kChunkLogits = int64_t(1) << 26;  // logits per chunk by default (256 MiB in f32)

struct LceShapes {
  int64_t n, c, v, rows;  // rows: per chunk
};

LceShapes check_lce(const Tensor& x, const Tensor& w, const Tensor& targets, int64_t chunk_rows) {
  const char* op = "linear_cross_entropy";
  detail::require_linear_operands(op, x, w);
  detail::require_index(op, targets, "targets");
  detail::require_same_device(op, {&x, &w});
  SRA_CHECK(x.dim() == 2 && w.dim() == 2 && x.size(1) == w.size(1),
            "[linear_cross_entropy] x must be (N, C) and w (V, C), got x ", shape_str(x.shape()), " and w ",
            shape_str(w.shape()));
  SRA_CHECK(targets.dim() == 1 && targets.size(0) == x.size(0), "[linear_cross_entropy] targets shape ",
            shape_str(targets.shape()), " does not match x ", shape_str(x.shape()), " (expected [", x.size(0),
            "])");
  SRA_CHECK(w.size(0) > 0 || x.size(0) == 0, "[linear_cross_entropy] w ", shape_str(w.shape()),
            " has no classes");
  SRA_CHECK(chunk_rows >= 0, "[linear_cross_entropy] chunk_rows must be >= 0, got ", chunk_rows);
  LceShapes s{x.size(0), x.size(1), w.size(0), chunk_rows};
  if (s.rows == 0) s.rows = std::max<int64_t>(1, kChunkLogits / std::max<int64_t>(s.v, 1));
  s.rows = std::max<int64_t>(1, std::min(s.rows, s.n));
  return s;
}

char* at_row(const Tensor& t, int64_t row, int64_t cols) {  // the address of row `row` of a (·, cols) tensor
  return static_cast<char*>(t.raw()) + row * cols * int64_t(dtype_size(t.dtype()));
}

}  // namespace

Tensor linear_cross_entropy(const Tensor& x, const Tensor& w, const Tensor& targets, int64_t ignore_index,
                            int64_t chunk_rows) {
  const LceShapes s = check_lce(x, w, targets, chunk_rows);
  const Device dev = x.device();
  const DType dt = x.dtype();
  Tensor t = detail::device_targets("linear_cross_entropy", targets, dev, s.v, ignore_index);
  // a frozen bf16 head (train.base_dtype) takes the bf16 path with or without a guard
  const bool bf16 = w.dtype() == DType::bf16 || (dt == DType::f32 && autocast_dtype() == DType::bf16);
  Tensor xo = detail::dense(x), wo = detail::dense(w);
  if (bf16) xo = detail::dense(autocast_bf16_operand(xo)), wo = detail::dense(autocast_bf16_operand(wo));
  const DType op_dt = xo.dtype();  // the GEMMs' operand dtype: dt, or bf16

  const bool grad = needs_grad({x, w});
  const bool want_gx = grad && x.requires_grad(), want_gw = grad && w.requires_grad();
  Tensor loss = Tensor::empty({}, dt, dev), kept = Tensor::empty({}, DType::i64, dev);
  Tensor mx = Tensor::empty({s.n}, dt, dev), ls = Tensor::empty({s.n}, dt, dev);
  Tensor row_loss = Tensor::empty({s.n}, DType::f64, dev);
  Tensor dx = want_gx ? Tensor::empty({s.n, s.c}, dt, dev) : Tensor();
  Tensor dw = want_gw ? Tensor::empty({s.v, s.c}, dt, dev) : Tensor();
  auto* kept_p = static_cast<int64_t*>(kept.raw());
  const auto* t_p = static_cast<const int64_t*>(t.raw());
  kern::xent_count_kept(dev, kept_p, t_p, s.n, ignore_index);
  if (s.n > 0) {
    Tensor z = Tensor::empty({s.rows, s.v}, dt, dev);
    Tensor g = grad ? (bf16 ? Tensor::empty({s.rows, s.v}, DType::bf16, dev) : z) : Tensor();
    if (s.c == 0) z.zero_();
    for (int64_t r0 = 0; r0 < s.n; r0 += s.rows) {
      const int64_t rows = std::min(s.rows, s.n - r0);
      const char* xc = at_row(xo, r0, s.c);
      if (s.c > 0)
        kern::gemm(dev, {op_dt, false, true, rows, s.v, s.c, 1.0, xc, s.c, wo.raw(), s.c, 0.0, z.raw(), s.v});
      kern::xent_chunk(
          dev, {dt, z.raw(), grad ? g.raw() : nullptr, grad && bf16, at_row(mx, r0, 1), at_row(ls, r0, 1),
                static_cast<double*>(row_loss.raw()) + r0, t_p + r0, kept_p, rows, s.v, ignore_index});
      if (want_gx && s.c > 0)
        kern::gemm(dev, {op_dt, false, false, rows, s.c, s.v, 1.0, g.raw(), s.v, wo.raw(), s.c, 0.0,
                         at_row(dx, r0, s.c), s.c});
      if (want_gw && s.c > 0)
        kern::gemm(dev, {op_dt, true, false, s.v, s.c, rows, 1.0, g.raw(), s.v, xc, s.c, r0 == 0 ? 0.0 : 1.0,
                         dw.raw(), s.c});
    }
  } else if (want_gw) {
    dw.zero_();
  }
  kern::xent_finish(dev, dt, loss.raw(), static_cast<const double*>(row_loss.raw()), kept_p, s.n);
  if (grad) {
    record("linear_cross_entropy", {x, w, targets}, {loss}, {},
           [dx, dw](const std::vector<Tensor>& gs) -> std::vector<Tensor> {
             Tensor gl = gs[0];
             return {dx.defined() ? mul(dx, gl) : Tensor(), dw.defined() ? mul(dw, gl) : Tensor(), Tensor()};
           });
  }
  return loss;
}

}  // namespace sra
