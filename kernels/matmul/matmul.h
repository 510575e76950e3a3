// GEMM on row-major matrices: C (M, N) = alpha · op(A) · op(B) + beta · C, where op(A) is (M, K)
// and op(B) is (K, N); ta/tb say A is stored (K, M) / B is stored (N, K). lda, ldb, ldc are row
// strides in elements. CPU: OpenBLAS cblas_sgemm / cblas_dgemm; CUDA: cuBLAS (matmul_cuda.cu).
// Callers use the dispatcher gemm(device, args) (matmul.cpp).
#pragma once
#include <cstdint>

#include "core/device.h"
#include "core/dtype.h"

namespace sra::kern {

struct GemmArgs {  // pointers on the call's device
  DType dtype;     // f32 | f64
  bool ta, tb;
  int64_t m, n, k;
  double alpha;
  const void* a;
  int64_t lda;
  const void* b;
  int64_t ldb;
  double beta;
  void* c;
  int64_t ldc;
};

void gemm(Device device, const GemmArgs& args);
void gemm_cuda(const GemmArgs& args, int device);

template <typename T>
void gemm_cpu(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda, const T* b,
              int64_t ldb, T beta, T* c, int64_t ldc);

}  // namespace sra::kern
