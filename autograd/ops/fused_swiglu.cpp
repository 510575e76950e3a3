// swiglu(gate, up) = silu(gate) · up in one kernel each way (contract in autograd/fused_ops.h; math in
// kernels/swiglu/swiglu.h). Saves gate and up (the composite saves gate, silu(gate) and up). Under bf16
// autocast the forward kernel also writes y's bf16 copy into the cast cache (the down projection's operand)
// and saves gate and up rounded to bf16 instead of f32 (the backward is the f32 one at those rounded
// values: half the bytes, as PyTorch's autocast keeps its bf16 activations), and the backward kernel
// writes the gate and up gradients' bf16 copies (the operands of those projections' backward GEMMs).
// bf16 gate and up (the model's, from linear_bf16_out under autocast) are read widened and kept as they
// are; y is f32 and their gradients bf16 only (what the projections' backward GEMMs read: no f32 gradient
// arrays, 2 · 4 bytes an element less written).
#include "autograd/autocast.h"
#include "autograd/fused_ops.h"
#include "autograd/ops/common.h"
#include "kernels/swiglu/swiglu.h"

namespace sra {

Tensor swiglu(const Tensor& gate, const Tensor& up) {
  // bf16 gate and up (linear_bf16_out's, under autocast): read widened, y f32, the gradients bf16
  const bool bf16_in = gate.dtype() == DType::bf16 && up.dtype() == DType::bf16;
  if (!bf16_in) detail::require_same_float("swiglu", gate, up);
  detail::require_same_device("swiglu", {&gate, &up});
  SRA_CHECK(gate.shape() == up.shape(), "[swiglu] gate ", shape_str(gate.shape()), " and up ",
            shape_str(up.shape()), " must have the same shape");
  const Device dev = gate.device();
  const DType dt = bf16_in ? DType::f32 : gate.dtype();  // of y and the math
  Tensor a = detail::dense(gate), b = detail::dense(up);
  Tensor y = Tensor::empty(gate.shape(), dt, dev);
  Tensor y16 = detail::bf16_copy_buffer(y);
  const bool grad = needs_grad({gate, up});
  // f32 inputs under bf16 autocast: the backward reads them rounded to bf16 (half the bytes kept)
  Tensor a16 = grad && !bf16_in ? detail::bf16_copy_buffer(a) : Tensor();
  Tensor b16 = grad && !bf16_in ? detail::bf16_copy_buffer(b) : Tensor();
  using detail::ptr;
  kern::SwigluArgs fw{dt, y.raw(), ptr(y16), a.raw(), b.raw(), a.numel(), ptr(a16), ptr(b16)};
  fw.inputs_bf16 = bf16_in;
  kern::swiglu(dev, fw);
  if (y16.defined()) autocast_keep_bf16(y, y16);
  if (grad) {
    const bool want_a = gate.requires_grad(), want_b = up.requires_grad(), in16 = bf16_in || a16.defined();
    Tensor sa = a16.defined() ? a16 : a, sb = b16.defined() ? b16 : b;
    const Shape shape = a.shape();
    record("swiglu", {gate, up}, {y}, {sa, sb},
           [sa, sb, in16, bf16_in, shape, dt, dev, want_a,
            want_b](const std::vector<Tensor>& g) -> std::vector<Tensor> {
             Tensor gy = detail::dense(g[0]);
             if (bf16_in) {  // bf16 gradients for bf16 inputs, written by the kernel alone
               Tensor ga = want_a ? Tensor::empty(shape, DType::bf16, dev) : Tensor();
               Tensor gb = want_b ? Tensor::empty(shape, DType::bf16, dev) : Tensor();
               kern::SwigluBackwardArgs args{dt,       nullptr,    nullptr, gy.raw(), sa.raw(),
                                             sb.raw(), gy.numel(), ptr(ga), ptr(gb)};
               args.inputs_bf16 = true;
               kern::swiglu_backward(dev, args);
               return {ga, gb};
             }
             Tensor ga = want_a ? Tensor::empty(shape, dt, dev) : Tensor();
             Tensor gb = want_b ? Tensor::empty(shape, dt, dev) : Tensor();
             // under bf16 autocast, the gate and up projections' GEMMs read these gradients in bf16
             Tensor ga16 = detail::bf16_copy_buffer(ga), gb16 = detail::bf16_copy_buffer(gb);
             kern::SwigluBackwardArgs args{dt,       ptr(ga),    ptr(gb),   gy.raw(), sa.raw(),
                                           sb.raw(), gy.numel(), ptr(ga16), ptr(gb16)};
             args.inputs_bf16 = in16;
             kern::swiglu_backward(dev, args);
             if (ga16.defined()) autocast_keep_bf16(ga, ga16);
             if (gb16.defined()) autocast_keep_bf16(gb, gb16);
             return {ga, gb};
           });
  }
  return y;
}

}  // namespace sra
