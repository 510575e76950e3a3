// swiglu(gate, up) = silu(gate) · up in one kernel each way (contract in autograd/fused_ops.h; math in
// kernels/swiglu/swiglu.h). Saves gate and up (the composite saves gate, silu(gate) and up). Under bf16
// autocast the forward kernel also writes y's bf16 copy into the cast cache (the down projection's operand),
// and the backward kernel the gate and up gradients' (the operands of those projections' backward GEMMs).
#include "autograd/autocast.h"
#include "autograd/fused_ops.h"
#include "autograd/ops/common.h"
#include "kernels/swiglu/swiglu.h"

namespace sra {

Tensor swiglu(const Tensor& gate, const Tensor& up) {
  detail::require_same_float("swiglu", gate, up);
  detail::require_same_device("swiglu", {&gate, &up});
  SRA_CHECK(gate.shape() == up.shape(), "[swiglu] gate ", shape_str(gate.shape()), " and up ",
            shape_str(up.shape()), " must have the same shape");
  const Device dev = gate.device();
  Tensor a = detail::dense(gate), b = detail::dense(up);
  Tensor y = Tensor::empty(gate.shape(), gate.dtype(), dev);
  Tensor y16 = detail::bf16_copy_buffer(y);
  kern::swiglu(dev, {gate.dtype(), y.raw(), detail::ptr(y16), a.raw(), b.raw(), a.numel()});
  if (y16.defined()) autocast_keep_bf16(y, y16);
  if (needs_grad({gate, up})) {
    const bool want_a = gate.requires_grad(), want_b = up.requires_grad();
    record("swiglu", {gate, up}, {y}, {a, b},
           [a, b, want_a, want_b](const std::vector<Tensor>& g) -> std::vector<Tensor> {
             Tensor gy = detail::dense(g[0]);
             Tensor ga = want_a ? Tensor::empty(a.shape(), a.dtype(), a.device()) : Tensor();
             Tensor gb = want_b ? Tensor::empty(b.shape(), b.dtype(), b.device()) : Tensor();
             // under bf16 autocast, the gate and up projections' GEMMs read these gradients in bf16
             Tensor ga16 = detail::bf16_copy_buffer(ga), gb16 = detail::bf16_copy_buffer(gb);
             using detail::ptr;
             kern::swiglu_backward(a.device(), {a.dtype(), ptr(ga), ptr(gb), gy.raw(), a.raw(), b.raw(),
                                                a.numel(), ptr(ga16), ptr(gb16)});
             if (ga16.defined()) autocast_keep_bf16(ga, ga16);
             if (gb16.defined()) autocast_keep_bf16(gb, gb16);
             return {ga, gb};
           });
  }
  return y;
}

}  // namespace sra
