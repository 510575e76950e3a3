// The GEMM dispatcher: the one switch from a device to its kernel (contract in matmul.h). The CPU runs
// a strided batch as one GEMM per matrix.
#include "kernels/matmul/matmul.h"

#include "core/check.h"

namespace sra::kern {

namespace {

template <typename T>
void gemm_batch_cpu(const GemmArgs& g) {
  for (int64_t i = 0; i < g.batch; ++i) {
    gemm_cpu<T>(g.ta, g.tb, g.m, g.n, g.k, T(g.alpha), static_cast<const T*>(g.a) + i * g.stride_a, g.lda,
                static_cast<const T*>(g.b) + i * g.stride_b, g.ldb, T(g.beta),
                static_cast<T*>(g.c) + i * g.stride_c, g.ldc);
  }
}

}  // namespace

void gemm(Device d, const GemmArgs& g) {
  SRA_ASSERT(g.batch >= 1 && g.stride_a >= 0 && g.stride_b >= 0 && (g.batch == 1 || g.stride_c > 0),
             "gemm batch ", g.batch, " strides ", g.stride_a, " ", g.stride_b, " ", g.stride_c);
  SRA_ASSERT(!g.c_bf16 || (g.dtype == DType::bf16 && g.beta == 0.0),
             "gemm: a bf16 C needs bf16 operands, beta 0");
  if (d.is_cuda()) {
    if (g.dtype == DType::bf16) return gemm_bf16_cuda(g, d.index);
    return gemm_cuda(g, d.index);
  }
  switch (g.dtype) {
    case DType::f32:
      return gemm_batch_cpu<float>(g);
    case DType::f64:
      return gemm_batch_cpu<double>(g);
    case DType::bf16:
      return gemm_bf16_cpu(g);
    default:
      SRA_CHECK(false, "[matmul] dtype ", dtype_name(g.dtype), " is not supported on cpu");
  }
}

}  // namespace sra::kern
