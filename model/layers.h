// Basic layers as modules (parameter names follow PyTorch / Hugging Face):
//   Linear     weight (out, in) [+ bias (out)]:  y = x·Wᵀ + b          x (…, in) → (…, out)
//   Embedding  weight (V, C):                      y = W[ids]           ids (…) → (…, C)
//   RMSNorm    weight (C):                         y = x / √(mean x² + eps) · w
// Weights are drawn N(0, std²) from a counter-based Generator, so a seed fixes the whole model.
#pragma once
#include "autograd/module.h"
#include "autograd/ops.h"

namespace sra {

class Linear : public Module {
 public:
  Linear(int64_t in, int64_t out, bool bias, double init_std, Generator& gen, DType dtype = DType::f32);
  Tensor forward(const Tensor& x) const { return linear(x, weight, bias); }
  // The output in bf16 under bf16 autocast (linear_bf16_out; a Linear with a bias takes forward).
  Tensor forward_bf16_out(const Tensor& x) const {
    return bias.defined() ? forward(x) : linear_bf16_out(x, weight);
  }
  Tensor weight, bias;
};

class Embedding : public Module {
 public:
  Embedding(int64_t vocab, int64_t dim, double init_std, Generator& gen, DType dtype = DType::f32);
  Tensor forward(const Tensor& ids) const { return embedding(weight, ids); }
  Tensor weight;
};

class RMSNorm : public Module {
 public:
  RMSNorm(int64_t dim, double eps, DType dtype = DType::f32);
  Tensor forward(const Tensor& x) const { return rmsnorm(x, weight, eps_); }
  double eps() const { return eps_; }
  Tensor weight;

 private:
  double eps_;
};

// N(0, std²) of the given shape (no history).
Tensor normal_init(const Shape& shape, double std, Generator& gen, DType dtype);

}  // namespace sra
