// swiglu(gate, up) = silu(gate) · up in one kernel each way (contract in autograd/fused_ops.h; math in
// kernels/swiglu/swiglu.h). Saves gate and up (the composite saves gate, silu(gate) and up). Under bf16
// autocast the forward kernel also writes y's bf16 copy into the cast cache (the down projection's operand)
// and saves gate and up rounded to bf16 instead of f32 (the backward is the f32 one at those rounded
// values: half the bytes, as PyTorch's autocast keeps its bf16 activations), and the backward kernel
// writes the gate and up gradients' bf16 copies (the operands of those projections' backward GEMMs).
// bf16 gate and up (the model's, from linear_bf16_out under autocast) are read widened and kept as they
// are; y is f32 and their gradients bf16 only (what the projections' backward GEMMs read: no f32 gradient
// arrays, 2 · 4 bytes an element less written). When they are the two halves of one stacked matrix
// (linear_stacked_bf16_out's column blocks) both kernels read them in place, and the backward writes the
// two gradients side by side in the same layout, the one matrix the stacked backward GEMMs read.
#include "autograd/autocast.h"
#include "autograd/fused_ops.h"
#include "autograd/ops/common.h"
#include "kernels/swiglu/swiglu.h"

namespace sra {

namespace {

// The row stride ld when bf16 gate and up (…, C) are the two halves of one matrix of rows ld apart (up's
// elements C after gate's: linear_stacked_bf16_out's column blocks), read in place; else 0 (dense copies).
int64_t halves_row_stride(const Tensor& gate, const Tensor& up) {
  const int64_t c = gate.size(-1), nd = gate.dim();
  if (nd < 2 || gate.stride(-1) != 1 || up.strides() != gate.strides() || up.storage() != gate.storage() ||
      up.offset() != gate.offset() + c)
    return 0;
  const int64_t ld = gate.stride(-2);
  int64_t rows_below = 1;  // the rows in the dims after d: stride(d) must be ld · that (one row per index)
  for (int64_t d = nd - 2; d >= 0; --d) {
    if (gate.size(d) > 1 && gate.stride(d) != ld * rows_below) return 0;
    rows_below *= gate.size(d);
  }
  return ld >= 2 * c ? ld : 0;
}

}  // namespace

Tensor swiglu(const Tensor& gate, const Tensor& up) {
  // bf16 gate and up (linear_bf16_out's, under autocast): read widened, y f32, the gradients bf16
  const bool bf16_in = gate.dtype() == DType::bf16 && up.dtype() == DType::bf16;
  if (!bf16_in) detail::require_same_float("swiglu", gate, up);
  detail::require_same_device("swiglu", {&gate, &up});
  SRA_CHECK(gate.shape() == up.shape(), "[swiglu] gate ", shape_str(gate.shape()), " and up ",
            shape_str(up.shape()), " must have the same shape");
  const Device dev = gate.device();
  const DType dt = bf16_in ? DType::f32 : gate.dtype();  // of y and the math
  const int64_t ld = bf16_in && gate.numel() > 0 ? halves_row_stride(gate, up) : 0, cols = gate.size(-1);
  Tensor a = ld ? gate : detail::dense(gate), b = ld ? up : detail::dense(up);
  Tensor y = Tensor::empty(gate.shape(), dt, dev);
  Tensor y16 = detail::bf16_copy_buffer(y);
  const bool grad = needs_grad({gate, up});
  // f32 inputs under bf16 autocast: the backward reads them rounded to bf16 (half the bytes kept)
  Tensor a16 = grad && !bf16_in ? detail::bf16_copy_buffer(a) : Tensor();
  Tensor b16 = grad && !bf16_in ? detail::bf16_copy_buffer(b) : Tensor();
  using detail::ptr;
  kern::SwigluArgs fw{dt, y.raw(), ptr(y16), a.raw(), b.raw(), a.numel(), ptr(a16), ptr(b16)};
  fw.inputs_bf16 = bf16_in;
  if (ld) fw.cols = cols, fw.ld = ld;
  kern::swiglu(dev, fw);
  if (y16.defined()) autocast_keep_bf16(y, y16);
  if (grad) {
    const bool want_a = gate.requires_grad(), want_b = up.requires_grad(), in16 = bf16_in || a16.defined();
    Tensor sa = a16.defined() ? a16 : a, sb = b16.defined() ? b16 : b;
    const Shape shape = a.shape();
    record(
        "swiglu", {gate, up}, {y}, {sa, sb},
        [sa, sb, in16, bf16_in, shape, dt, dev, want_a, want_b, ld, cols,
         strides = a.strides()](const std::vector<Tensor>& g) -> std::vector<Tensor> {
          Tensor gy = detail::dense(g[0]);
          if (bf16_in) {  // bf16 gradients for bf16 inputs, written by the kernel alone
            Tensor ga, gb;
            if (ld) {  // side by side in one matrix laid out as gate and up (linear_stacked reads it whole)
              Tensor both = Tensor::empty({shape_numel(shape) / cols * ld}, DType::bf16, dev);
              if (want_a) ga = Tensor::make_view(both, shape, strides, 0);
              if (want_b) gb = Tensor::make_view(both, shape, strides, cols);
            } else {
              if (want_a) ga = Tensor::empty(shape, DType::bf16, dev);
              if (want_b) gb = Tensor::empty(shape, DType::bf16, dev);
            }
            kern::SwigluBackwardArgs args{dt,       nullptr,    nullptr, gy.raw(), sa.raw(),
                                          sb.raw(), gy.numel(), ptr(ga), ptr(gb)};
            args.inputs_bf16 = true;
            if (ld) args.cols = cols, args.ld = ld;
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
