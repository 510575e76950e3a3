// GEMM on row-major matrices: C (M, N) = alpha · op(A) · op(B) + beta · C, where op(A) is (M, K)
// and op(B) is (K, N); ta/tb say A is stored (K, M) / B is stored (N, K). lda, ldb, ldc are row
// strides in elements. CPU: OpenBLAS cblas_sgemm / cblas_dgemm.
#pragma once
#include <cstdint>

namespace sra::kern {

template <typename T>
void gemm_cpu(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda, const T* b,
              int64_t ldb, T beta, T* c, int64_t ldc);

}  // namespace sra::kern
