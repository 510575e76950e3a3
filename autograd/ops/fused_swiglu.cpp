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
  Tensor y16 = autocast_keeps_bf16(y) ? Tensor::empty(gate.shape(), DType::bf16, dev) : Tensor();
  kern::swiglu(dev,
               {gate.dtype(), y.raw(), y16.defined() ? y16.raw() : nullptr, a.raw(), b.raw(), a.numel()});
  if (y16.defined()) autocast_keep_bf16(y, y16);
  if (needs_grad({gate, up})) {
    const bool want_a = gate.requires_grad(), want_b = up.requires_grad();
    record("swiglu", {gate, up}, {y}, {a, b},
           [a, b, want_a, want_b](const std::vector<Tensor>& g) -> std::vector<Tensor> {
             Tensor gy = detail::dense(g[0]);
             Tensor ga = want_a ? Tensor::empty(a.shape(), a.dtype(), a.device()) : Tensor();
             Tensor gb = want_b ? Tensor::empty(b.shape(), b.dtype(), b.device()) : Tensor();
             // under bf16 autocast, the gate and up projections' GEMMs read these gradients in bf16
             auto copy16 = [](const Tensor& t) {
               return t.defined() && autocast_keeps_bf16(t)
                          ? Tensor::empty(t.shape(), DType::bf16, t.device())
                          : Tensor();
             };
             Tensor ga16 = copy16(ga), gb16 = copy16(gb);
             auto raw = [](const Tensor& t) { return t.defined() ? t.raw() : nullptr; };
             kern::swiglu_backward(a.device(), {a.dtype(), raw(ga), raw(gb), gy.raw(), a.raw(), b.raw(),
                                                a.numel(), raw(ga16), raw(gb16)});
             if (ga16.defined()) autocast_keep_bf16(ga, ga16);
             if (gb16.defined()) autocast_keep_bf16(gb, gb16);
             return {ga, gb};
           });
  }
  return y;
}

}  // namespace sra
