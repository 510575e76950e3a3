// add_rmsnorm(x, delta, w, eps) = (s = x + delta, rmsnorm(s, w, eps)) in one kernel each way (contract in
// autograd/fused_ops.h; math in kernels/rmsnorm/rmsnorm.h, whose residual / gsum fields carry the add).
// Saves s, w and the row factors r (the composite saves the same through rmsnorm, and nothing for add).
#include "autograd/autocast.h"
#include "autograd/fused_ops.h"
#include "autograd/ops/common.h"
#include "kernels/rmsnorm/rmsnorm.h"

namespace sra {

std::pair<Tensor, Tensor> add_rmsnorm(const Tensor& x, const Tensor& delta, const Tensor& weight,
                                      double eps) {
  detail::require_same_float("add_rmsnorm", x, delta);
  detail::require_same_float("add_rmsnorm", x, weight);
  detail::require_same_device("add_rmsnorm", {&x, &delta, &weight});
  SRA_CHECK(x.shape() == delta.shape(), "[add_rmsnorm] x ", shape_str(x.shape()), " and delta ",
            shape_str(delta.shape()), " must have the same shape");
  SRA_CHECK(x.dim() >= 1 && weight.dim() == 1 && weight.size(0) == x.size(-1), "[add_rmsnorm] weight shape ",
            shape_str(weight.shape()), " does not match the last dim of input ", shape_str(x.shape()));
  SRA_CHECK(eps >= 0, "[add_rmsnorm] eps must be >= 0, got ", eps);
  const int64_t c = x.size(-1), n = c > 0 ? x.numel() / c : 0;
  const Device dev = x.device();
  const DType dt = x.dtype();
  Tensor xc = detail::dense(x), dc = detail::dense(delta), wc = detail::dense(weight);
  Tensor s = Tensor::empty(x.shape(), dt, dev), y = Tensor::empty(x.shape(), dt, dev);
  Tensor rstd = Tensor::empty({n}, dt, dev);
  Tensor y16 = detail::bf16_copy_buffer(y);
  kern::rmsnorm(
      dev, {dt, y.raw(), rstd.raw(), xc.raw(), wc.raw(), n, c, eps, detail::ptr(y16), dc.raw(), s.raw()});
  if (y16.defined()) autocast_keep_bf16(y, y16);
  if (needs_grad({x, delta, weight})) {
    const bool want_x = x.requires_grad(), want_d = delta.requires_grad(), want_w = weight.requires_grad();
    record("add_rmsnorm", {x, delta, weight}, {s, y}, {s, wc},
           [s, wc, rstd, n, c, dev, want_x, want_d,
            want_w](const std::vector<Tensor>& g) -> std::vector<Tensor> {
             Tensor gs = detail::dense(g[0]), gy = detail::dense(g[1]);
             Tensor gx = want_x || want_d ? Tensor::empty(s.shape(), s.dtype(), dev) : Tensor();
             Tensor gw = want_w ? Tensor::empty({c}, s.dtype(), dev) : Tensor();
             detail::Scratch scratch(want_w ? kern::rmsnorm_backward_scratch_bytes(dev, n, c) : 0, dev);
             // under bf16 autocast the projection that produced delta reads gx in bf16 in its backward
             Tensor gx16 = want_d ? detail::bf16_copy_buffer(gx) : Tensor();
             kern::rmsnorm_backward(
                 dev, {s.dtype(), detail::ptr(gx), detail::ptr(gw), gy.raw(), s.raw(), wc.raw(), rstd.raw(),
                       n, c, scratch.data(), scratch.size(), gs.raw(), detail::ptr(gx16)});
             if (gx16.defined()) autocast_keep_bf16(gx, gx16);
             return {want_x ? gx : Tensor(), want_d ? gx : Tensor(), gw};
           });
  }
  return {s, y};
}

}  // namespace sra
