// SwiGLU's gate, elementwise over n values (T = f32 | f64), with σ(a) = 1 / (1 + exp(−a)):
//   forward   y = (a·σ(a))·b, and, when y16 is not null, y rounded to bf16 (nearest even) into y16
//             and when a16 / b16 are set (f32), a and b rounded to bf16 (what autocast saves for the
//             backward); with inputs_bf16 (f32 y) a and b are bf16 arrays, widened (exact) before the same
//             f32 math
//   backward  ga = (gy·b)·(σ(a)·(1 + a·(1 − σ(a)))),  gb = gy·(a·σ(a))   (either may be null), and when
//             ga16 / gb16 are set, ga / gb rounded to bf16 (CUDA beside them; the CPU rounds afterwards);
//             ga16 without ga (gb16 without gb): that gradient in bf16 only (the gradient of a bf16 input,
//             whose consumer, a GEMM, reads bf16: no f32 array written); with inputs_bf16 (f32) a and b
//             are bf16 arrays, widened (exact) before the same f32 math
// Rows (inputs_bf16 only; ld > 0): a and b — and in the backward the bf16-only gradients ga16 / gb16 —
// are rows of `cols` elements `ld` apart (element i at (i / cols)·ld + i % cols: the gate and up halves of
// one stacked (rows, 2·cols) GEMM output, read and written in place); y, gy and the other arrays dense.
// The same operations in the same order as the composite mul(silu(a), b) and its backward
// (kernels/elementwise), so the two agree to the last bit on one device. CPU: parallel_for over elements;
// CUDA (swiglu_cuda.cu): one thread per element, grid-stride. Callers use the dispatchers (swiglu.cpp).
#pragma once
#include <cstdint>

#include "core/device.h"
#include "core/dtype.h"

namespace sra::kern {

struct SwigluArgs {  // on the call's device; contiguous, or a and b as rows (above)
  DType dtype;
  void* y;
  void* y16;  // bf16 copy of y, or null
  const void* a;
  const void* b;
  int64_t n;
  void* a16 = nullptr;  // f32 only: a and b rounded to bf16, or null
  void* b16 = nullptr;
  bool inputs_bf16 = false;  // f32 only: a and b are bf16 (a linear_bf16_out's outputs)
  int64_t cols = 0, ld = 0;  // with inputs_bf16: a and b as rows (above); ld 0: dense
};

struct SwigluBackwardArgs {
  DType dtype;
  void* ga;  // or null (then ga16 alone, if set)
  void* gb;  // or null (then gb16 alone, if set)
  const void* gy;
  const void* a;
  const void* b;
  int64_t n;
  void* ga16 = nullptr;  // f32 only: ga / gb rounded to bf16 (the GEMMs' operands under autocast), or null
  void* gb16 = nullptr;
  bool inputs_bf16 = false;  // f32 only: a and b are bf16 (the forward's a16, b16)
  int64_t cols = 0, ld = 0;  // with inputs_bf16: a, b and the bf16-only ga16 / gb16 as rows; ld 0: dense
};

void swiglu(Device device, const SwigluArgs& args);
void swiglu_backward(Device device, const SwigluBackwardArgs& args);
void swiglu_cuda(const SwigluArgs& args, int device);
void swiglu_backward_cuda(const SwigluBackwardArgs& args, int device);

template <typename T>
void swiglu_cpu(const SwigluArgs& args);
template <typename T>
void swiglu_backward_cpu(const SwigluBackwardArgs& args);

}  // namespace sra::kern
