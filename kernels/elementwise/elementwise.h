// Elementwise kernels. Callers use the dispatchers (binary, unary, unary_backward, axpy_strided: one
// args struct each, elementwise.cpp picks the device); the _cpu templates (T = float or double) are the
// reference and the _cuda entries (elementwise_cuda.cu) follow them.
//   binary:  out[i] = a[i] ∘ b[i] over a broadcast N-d shape (a, b strided; out contiguous)
//   unary:   y = f(x; p) over n contiguous elements
//   unary_backward: gx = gy · f'(x) (using y = f(x) where that is cheaper)
// Functions and derivatives:
//   neg -x | -1;  exp e^x | y;  log ln x | 1/x;  sqrt √x | 1/(2y);  rsqrt x^-½ | -½·y³;
//   tanh | 1-y²;  sigmoid σ(x) | y(1-y);  silu x·σ(x) | σ(1 + x(1-σ));
//   gelu x·Φ(x) | Φ(x) + x·φ(x);  relu max(x,0) | 1[x>0];  pow x^p | p·x^(p-1);
//   scale p·x | p;  add_scalar x+p | 1
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace sra::kern {

enum class BinaryOp { add, sub, mul, div };
enum class UnaryOp { neg, exp, log, sqrt, rsqrt, tanh, sigmoid, silu, gelu, relu, pow, scale, add_scalar };

// Pointers are element 0 of each view, on the device the call names; strides in elements; dtype f32|f64.
struct BinaryArgs {
  BinaryOp op;
  DType dtype;
  void* out;  // contiguous over shape
  const void* a;
  Shape a_strides;
  const void* b;
  Shape b_strides;
  Shape shape;
};
struct UnaryArgs {
  UnaryOp op;
  DType dtype;
  void* y;
  const void* x;
  int64_t n;
  double p;
};
struct UnaryBackwardArgs {
  UnaryOp op;
  DType dtype;
  void* gx;
  const void* gy;
  const void* x;
  const void* y;
  int64_t n;
  double p;
};
struct AxpyArgs {  // out[i] += alpha·b[i], out strided (never a broadcast view)
  DType dtype;
  void* out;
  Shape out_strides;
  const void* b;
  Shape b_strides;
  Shape shape;
  double alpha;
};

// ---- dispatchers (elementwise.cpp): the one place that picks the device ------------------------------
void binary(Device device, const BinaryArgs& args);
void unary(Device device, const UnaryArgs& args);
void unary_backward(Device device, const UnaryBackwardArgs& args);
void axpy_strided(Device device, const AxpyArgs& args);

// ---- CUDA (elementwise_cuda.cu; kernels/no_cuda.cpp in a build without CUDA) -----------------------
void binary_cuda(const BinaryArgs& args, int device);
void unary_cuda(const UnaryArgs& args, int device);
void unary_backward_cuda(const UnaryBackwardArgs& args, int device);
void axpy_strided_cuda(const AxpyArgs& args, int device);

// ---- CPU reference (elementwise_cpu.cpp) ----------------------------------------------------------

template <typename T>
void binary_cpu(BinaryOp op, T* out, const T* a, const Shape& a_strides, const T* b, const Shape& b_strides,
                const Shape& shape);
template <typename T>
void unary_cpu(UnaryOp op, T* y, const T* x, int64_t n, double p);
template <typename T>
void unary_backward_cpu(UnaryOp op, T* gx, const T* gy, const T* x, const T* y, int64_t n, double p);
// out[i] = a[i] + alpha·b[i] over a broadcast shape, out strided (in-place accumulation).
template <typename T>
void axpy_strided_cpu(T* out, const Shape& out_strides, const T* b, const Shape& b_strides,
                      const Shape& shape, double alpha);

}  // namespace sra::kern
