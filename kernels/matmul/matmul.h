// GEMM on row-major matrices: C (M, N) = alpha · op(A) · op(B) + beta · C, where op(A) is (M, K)
// and op(B) is (K, N); ta/tb say A is stored (K, M) / B is stored (N, K). lda, ldb, ldc are row
// strides in elements. Strided batches: matrix i of A starts stride_a elements after matrix i − 1 (0
// reuses one matrix for the whole batch; likewise B; C's stride is never 0).
// dtype: f32 and f64 (A, B, C all of it), or bf16: A and B in bf16, C in f32 — or in bf16 with c_bf16
// (each element rounded to nearest even from its fp32 sum; beta 0) — products accumulated in fp32 (mixed
// precision, autograd/autocast.h).
// CPU: OpenBLAS cblas_sgemm / cblas_dgemm (matmul_cpu.cpp); bf16 widens A and B to f32 (exact) and runs
// sgemm, so it differs from the GPU only in the order of the fp32 additions: the oracle.
// CUDA: f32 / f64 through cuBLAS (matmul_cuda.cu), bf16 through cuBLASLt (matmul_bf16_cuda.cu), or
// cublasGemmEx where cuBLASLt has no algorithm for the shape and alignment.
// Callers use the dispatcher gemm(device, args) (matmul.cpp).
#pragma once
#include <cstdint>

#include "core/device.h"
#include "core/dtype.h"

namespace sra::kern {

struct GemmArgs {  // pointers on the call's device
  DType dtype;     // of A and B: f32 | f64 | bf16 (C is f32 for bf16, else dtype)
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
  int64_t batch = 1;  // strided batch: `batch` products, matrix i at a + i·stride_a (and b, c alike)
  int64_t stride_a = 0, stride_b = 0, stride_c = 0;
  bool c_bf16 = false;  // bf16 operands only: C in bf16 (beta must be 0)
};

void gemm(Device device, const GemmArgs& args);
void gemm_cuda(const GemmArgs& args, int device);       // f32, f64; bf16 (cublasGemmEx: the fallback)
void gemm_bf16_cuda(const GemmArgs& args, int device);  // bf16 operands, f32 C (cuBLASLt)
void gemm_bf16_cpu(const GemmArgs& args);
// The cuBLASLt plans made so far on a device, and how many of them fell back to cublasGemmEx (tests).
struct GemmBf16Plans {
  int64_t plans = 0, fallbacks = 0;
};
GemmBf16Plans gemm_bf16_plans(int device);  // bf16 operands widened to f32, then sgemm

template <typename T>
void gemm_cpu(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda, const T* b,
              int64_t ldb, T beta, T* c, int64_t ldc);

}  // namespace sra::kern
