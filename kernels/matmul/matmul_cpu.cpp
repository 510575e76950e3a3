// OpenBLAS runs single-threaded (see core/parallel.cpp); we split C into blocks of rows (or columns)
// whose count depends only on the shape, and run one single-threaded GEMM per block on our pool.
// Every C element is then computed by one call over the full K, in the same order whatever the
// thread count: bitwise reproducible, and no second thread pool fighting OpenMP for the cores.
#include <cblas.h>

#include <algorithm>

#include "core/parallel.h"
#include "kernels/matmul/matmul.h"

namespace sra::kern {

namespace {

void blas(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
          const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(m), int(n), int(k),
              alpha, a, int(lda), b, int(ldb), beta, c, int(ldc));
}
void blas(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const double* a, int64_t lda,
          const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(m), int(n), int(k),
              alpha, a, int(lda), b, int(ldb), beta, c, int(ldc));
}

// Number of blocks for an (m, n, k) product: about one per 2^23 multiply-adds, at most 16, each at
// least 128 rows/columns wide (each block repacks the shared operand, so blocks must stay large).
int64_t blocks_for(int64_t m, int64_t n, int64_t k, int64_t split_dim) {
  double work = double(m) * double(n) * double(k);
  int64_t by_work = int64_t(work / double(1 << 23)) + 1;
  return std::clamp<int64_t>(std::min(by_work, split_dim / 128), 1, 16);
}

}  // namespace

template <typename T>
void gemm_cpu(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda, const T* b,
              int64_t ldb, T beta, T* c, int64_t ldc) {
  if (m >= n) {  // split rows of C: rows of op(A)
    int64_t nb = blocks_for(m, n, k, m);
    parallel_for(nb, 1, [&](int64_t bb, int64_t be) {
      for (int64_t blk = bb; blk < be; ++blk) {
        int64_t r0 = m * blk / nb, r1 = m * (blk + 1) / nb;
        const T* ab = ta ? a + r0 : a + r0 * lda;
        blas(ta, tb, r1 - r0, n, k, alpha, ab, lda, b, ldb, beta, c + r0 * ldc, ldc);
      }
    });
  } else {  // split columns of C: columns of op(B)
    int64_t nb = blocks_for(m, n, k, n);
    parallel_for(nb, 1, [&](int64_t bb, int64_t be) {
      for (int64_t blk = bb; blk < be; ++blk) {
        int64_t c0 = n * blk / nb, c1 = n * (blk + 1) / nb;
        const T* bbp = tb ? b + c0 * ldb : b + c0;
        blas(ta, tb, m, c1 - c0, k, alpha, a, lda, bbp, ldb, beta, c + c0, ldc);
      }
    });
  }
}

template void gemm_cpu<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*,
                              int64_t, float, float*, int64_t);
template void gemm_cpu<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t, const double*,
                               int64_t, double, double*, int64_t);

}  // namespace sra::kern
