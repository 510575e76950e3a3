// AdamW update (Loshchilov & Hutter, decoupled weight decay), one parameter tensor of n elements:
//   m = β1·m + (1−β1)·g;  v = β2·v + (1−β2)·g²
//   p = p − lr·wd·p − lr · (m / (1−β1^t)) / (√(v / (1−β2^t)) + eps)
// g is scaled by grad_scale first (global-norm clipping). p, g, m, v: contiguous, n elements.
#pragma once
#include <cstdint>

namespace sra::kern {

struct AdamWStep {
  double lr, beta1, beta2, eps, weight_decay, grad_scale;
  int64_t t;  // 1-based step count, for bias correction
};

template <typename T>
void adamw_cpu(T* p, const T* g, T* m, T* v, int64_t n, const AdamWStep& s);
// Σ g² over n elements, in double, fixed order.
template <typename T>
double sum_squares_cpu(const T* g, int64_t n);

}  // namespace sra::kern
