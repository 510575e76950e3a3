// The GEMM dispatcher: the one switch from a device to its kernel (contract in matmul.h).
#include "kernels/matmul/matmul.h"

#include "core/check.h"

namespace sra::kern {

void gemm(Device d, const GemmArgs& g) {
  if (d.is_cuda()) return gemm_cuda(g, d.index);
  if (g.dtype == DType::f32) {
    gemm_cpu<float>(g.ta, g.tb, g.m, g.n, g.k, float(g.alpha), static_cast<const float*>(g.a), g.lda,
                    static_cast<const float*>(g.b), g.ldb, float(g.beta), static_cast<float*>(g.c), g.ldc);
    return;
  }
  SRA_CHECK(g.dtype == DType::f64, "[matmul] dtype ", dtype_name(g.dtype), " is not supported on cpu");
  gemm_cpu<double>(g.ta, g.tb, g.m, g.n, g.k, g.alpha, static_cast<const double*>(g.a), g.lda,
                   static_cast<const double*>(g.b), g.ldb, g.beta, static_cast<double*>(g.c), g.ldc);
}

}  // namespace sra::kern
