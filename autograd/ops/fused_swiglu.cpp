// swiglu(gate, up) = silu(gate) · up in one kernel each way (contract in autograd/fused_ops.h; math in
// kernels/swiglu/swiglu.h). Saves gate and up (the composite saves gate, silu(gate) and up). Under bf16
// autocast the forward kernel also writes y's bf16 copy into the cast cache (the down projection's operand).
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
             kern::swiglu_backward(
                 a.device(), {a.dtype(), ga.defined() ? ga.raw() : nullptr, gb.defined() ? gb.raw() : nullptr,
                              gy.raw(), a.raw(), b.raw(), a.numel()});
             return {ga, gb};
           });
  }
  return y;
}

}  // namespace sra
