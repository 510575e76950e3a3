#include "model/layers.h"

namespace sra {

Tensor normal_init(const Shape& shape, double std, Generator& gen, DType dtype) {
  NoGradGuard g;
  Tensor t = randn(shape, gen, dtype);
  t.mul_(std);
  return t;
}

Linear::Linear(int64_t in, int64_t out, bool has_bias, double init_std, Generator& gen, DType dtype) {
  weight = register_parameter("weight", normal_init({out, in}, init_std, gen, dtype));
  if (has_bias) bias = register_parameter("bias", Tensor::zeros({out}, dtype));
}

Embedding::Embedding(int64_t vocab, int64_t dim, double init_std, Generator& gen, DType dtype) {
  weight = register_parameter("weight", normal_init({vocab, dim}, init_std, gen, dtype));
}

RMSNorm::RMSNorm(int64_t dim, double eps, DType dtype) : eps_(eps) {
  weight = register_parameter("weight", Tensor::ones({dim}, dtype));
}

}  // namespace sra
