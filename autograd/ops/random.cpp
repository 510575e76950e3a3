// Random factories (no autograd history): uniform (0, 1), standard normal (Box–Muller), Gumbel
// −log(−log u) and logistic log u − log(1 − u) noise of any shape, in f32 or f64, on any device (the
// tensor is created there and the kernel fills it there: no host copy).
// Element i of a draw is a function of philox4x32(counter = base + i, stream = gen.stream(),
// key = gen.seed()) alone, with base = gen.reserve(numel) (kernels/random/random.h): the numbers do not
// depend on the thread count or the device (random.h says how far CPU and CUDA values agree), and
// consecutive draws from one generator never reuse a counter.
#include "kernels/random/random.h"

#include "autograd/ops/common.h"

namespace sra {

namespace {

Tensor noise(const char* op, kern::Noise kind, const Shape& shape, Generator& gen, DType dtype,
             Device device) {
  for (int64_t s : shape) SRA_CHECK(s >= 0, "[", op, "] invalid shape ", shape_str(shape));
  SRA_CHECK(dtype == DType::f32 || dtype == DType::f64, "[", op, "] dtype ", dtype_name(dtype),
            " is not supported (f32 or f64)");
  Tensor out = Tensor::empty(shape, dtype, device);
  int64_t n = out.numel();
  uint64_t base = gen.reserve(uint64_t(n));
  kern::random(device, {kind, dtype, out.raw(), n, base, gen.stream(), gen.seed()});
  return out;
}

}  // namespace

Tensor rand_uniform(const Shape& shape, Generator& gen, DType dtype, Device device) {
  return noise("rand_uniform", kern::Noise::uniform, shape, gen, dtype, device);
}

Tensor randn(const Shape& shape, Generator& gen, DType dtype, Device device) {
  return noise("randn", kern::Noise::normal, shape, gen, dtype, device);
}

Tensor gumbel_noise(const Shape& shape, Generator& gen, DType dtype, Device device) {
  return noise("gumbel_noise", kern::Noise::gumbel, shape, gen, dtype, device);
}

Tensor logistic_noise(const Shape& shape, Generator& gen, DType dtype, Device device) {
  return noise("logistic_noise", kern::Noise::logistic, shape, gen, dtype, device);
}

}  // namespace sra
