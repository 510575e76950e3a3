// Elementwise kernels (CPU reference; T = float or double).
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

template <typename T>
void binary_cpu(BinaryOp op, T* out, const T* a, const Shape& a_strides, const T* b, const Shape& b_strides,
                const Shape& shape);
template <typename T>
void unary_cpu(UnaryOp op, T* y, const T* x, int64_t n, double p);
template <typename T>
void unary_backward_cpu(UnaryOp op, T* gx, const T* gy, const T* x, const T* y, int64_t n, double p);
// out[i] = a[i] + alpha·b[i] over a broadcast shape, out strided (in-place accumulation).
template <typename T>
void axpy_strided_cpu(T* out, const Shape& out_strides, const T* b, const Shape& b_strides, const Shape& shape,
                      double alpha);

}  // namespace sra::kern
