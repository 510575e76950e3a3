// The noise dispatcher: the one switch from a device to its kernel (contract in random.h).
#include "kernels/random/random.h"

#include "core/check.h"

namespace sra::kern {

void random(Device d, const RandomArgs& a) {
  if (a.n == 0) return;
  if (d.is_cuda()) return random_cuda(a, d.index);
  if (a.dtype == DType::f32)
    return random_cpu<float>(a.kind, static_cast<float*>(a.out), a.n, a.base, a.stream, a.key);
  SRA_CHECK(a.dtype == DType::f64, "[random] dtype ", dtype_name(a.dtype),
            " is not supported on cpu (f32 or f64)");
  random_cpu<double>(a.kind, static_cast<double*>(a.out), a.n, a.base, a.stream, a.key);
}

}  // namespace sra::kern
