// OpenBLAS runs single-threaded (set below, before main); we split C into a grid of blocks whose
// count depends only on the shape, and run one single-threaded GEMM per block on our pool.
// Every C element is then computed by one call over the full K, in the same order whatever the
// thread count: bitwise reproducible, and no second thread pool fighting OpenMP for the cores.
#include <cblas.h>

#include <algorithm>
#include <vector>

#include "core/parallel.h"
#include "kernels/matmul/matmul.h"

extern "C" void openblas_set_num_threads(int);

namespace sra::kern {

namespace {

// OpenBLAS stays single-threaded: GEMMs are split over our OpenMP pool (parallel_for, core/parallel.h),
// so there is one pool, no oversubscription, and GEMM results do not depend on the thread count.
// Every GEMM of the library goes through this file, so this initialiser runs wherever they are used.
struct BlasSingleThreaded {
  BlasSingleThreaded() { openblas_set_num_threads(1); }
} g_blas_single_threaded;

void blas(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
          const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(m), int(n),
              int(k), alpha, a, int(lda), b, int(ldb), beta, c, int(ldc));
}
void blas(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const double* a, int64_t lda,
          const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(m), int(n),
              int(k), alpha, a, int(lda), b, int(ldb), beta, c, int(ldc));
}

// A grid of nr × nc blocks of C for an (m, n, k) product, from the shape alone: blocks at least 256
// wide each way, at least 2^24 multiply-adds each (each block repacks its panels of A and B, so they
// must stay large), at most 64 blocks.
std::pair<int64_t, int64_t> grid_for(int64_t m, int64_t n, int64_t k) {
  int64_t nr = std::max<int64_t>(1, m / 256), nc = std::max<int64_t>(1, n / 256);
  auto work = [&](int64_t r, int64_t c) { return double(m) / double(r) * double(n) / double(c) * double(k); };
  while (nr * nc > 1 && (nr * nc > 64 || work(nr, nc) < double(1 << 24))) {
    if (nr >= nc) {
      nr = (nr + 1) / 2;
    } else {
      nc = (nc + 1) / 2;
    }
  }
  return {nr, nc};
}

}  // namespace

template <typename T>
void gemm_cpu(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda, const T* b,
              int64_t ldb, T beta, T* c, int64_t ldc) {
  auto [nr, nc] = grid_for(m, n, k);
  parallel_for(nr * nc, 1, [&](int64_t bb, int64_t be) {
    for (int64_t blk = bb; blk < be; ++blk) {
      int64_t i = blk / nc, j = blk % nc;
      int64_t r0 = m * i / nr, r1 = m * (i + 1) / nr, c0 = n * j / nc, c1 = n * (j + 1) / nc;
      const T* ab = ta ? a + r0 : a + r0 * lda;  // rows r0.. of op(A)
      const T* bp = tb ? b + c0 * ldb : b + c0;  // columns c0.. of op(B)
      blas(ta, tb, r1 - r0, c1 - c0, k, alpha, ab, lda, bp, ldb, beta, c + r0 * ldc + c0, ldc);
    }
  });
}

namespace {

// The stored (rows, cols) block of a bf16 operand with row stride ld, widened to dense f32 (exact).
std::vector<float> widen(const void* p, int64_t rows, int64_t cols, int64_t ld) {
  const auto* src = static_cast<const bf16*>(p);
  std::vector<float> out(size_t(rows * cols));
  parallel_for(rows, std::max<int64_t>(1, 65536 / std::max<int64_t>(cols, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t c = 0; c < cols; ++c) out[size_t(r * cols + c)] = float(src[r * ld + c]);
  });
  return out;
}

}  // namespace

void gemm_bf16_cpu(const GemmArgs& g) {
  const int64_t ra = g.ta ? g.k : g.m, ca = g.ta ? g.m : g.k;  // A as stored
  const int64_t rb = g.tb ? g.n : g.k, cb = g.tb ? g.k : g.n;  // B as stored
  std::vector<float> c32(g.c_bf16 ? size_t(g.m * g.n) : 0);    // a bf16 C: the f32 product, then rounded
  for (int64_t i = 0; i < g.batch; ++i) {
    std::vector<float> a = widen(static_cast<const bf16*>(g.a) + i * g.stride_a, ra, ca, g.lda);
    std::vector<float> b = widen(static_cast<const bf16*>(g.b) + i * g.stride_b, rb, cb, g.ldb);
    float* c = g.c_bf16 ? c32.data() : static_cast<float*>(g.c) + i * g.stride_c;
    const int64_t ldc = g.c_bf16 ? std::max<int64_t>(g.n, 1) : g.ldc;
    gemm_cpu<float>(g.ta, g.tb, g.m, g.n, g.k, float(g.alpha), a.data(), std::max<int64_t>(ca, 1), b.data(),
                    std::max<int64_t>(cb, 1), float(g.beta), c, ldc);
    if (g.c_bf16) {
      bf16* out = static_cast<bf16*>(g.c) + i * g.stride_c;
      for (int64_t r = 0; r < g.m; ++r)
        for (int64_t j = 0; j < g.n; ++j) out[r * g.ldc + j] = bf16(c32[size_t(r * g.n + j)]);
    }
  }
}

template void gemm_cpu<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                              const float*, int64_t, float, float*, int64_t);
template void gemm_cpu<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                               const double*, int64_t, double, double*, int64_t);

}  // namespace sra::kern
