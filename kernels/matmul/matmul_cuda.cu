// GEMM on CUDA through cuBLAS, f32 and f64 (contract in matmul.h; OpenBLAS on the CPU is the oracle). bf16
// operands go through cuBLASLt (matmul_bf16_cuda.cu); this file's cublasGemm(StridedBatched)Ex with bf16
// operands, an f32 C and CUBLAS_COMPUTE_32F is its fallback for shapes cuBLASLt has no algorithm for.
// Row-major C = op(A)·op(B) is column-major Cᵀ = op(B)ᵀ·op(A)ᵀ, so cuBLAS gets (B, A) swapped with n and m
// swapped and each operand's own transpose flag. A strided batch is one cublas<t>gemmStridedBatched call (a
// stride of 0 reuses one matrix). f32 runs in full fp32 (CUBLAS_DEFAULT_MATH: no TF32), f64 in fp64. One
// handle per device, bound to the device's current stream; cuBLAS keeps its workspace per handle, so
// steady-state calls allocate nothing.
#include <cublas_v2.h>

#include <climits>
#include <mutex>
#include <type_traits>

#include "core/cuda_launch.h"
#include "kernels/matmul/cublas_check_cuda.cuh"
#include "kernels/matmul/matmul.h"

namespace sra::kern {

namespace {

cublasHandle_t handle(int device) {
  constexpr int kMaxDevices = 64;
  static auto* handles = new cublasHandle_t[kMaxDevices]();  // never destroyed: outlives static tensors
  static auto* once = new std::once_flag[kMaxDevices];
  SRA_ASSERT(device >= 0 && device < kMaxDevices, "device ", device);
  std::call_once(once[device], [&] {
    cuda::DeviceGuard g(device);
    SRA_CUBLAS_CHECK(cublasCreate(&handles[device]));
    SRA_CUBLAS_CHECK(cublasSetStream(handles[device], cuda::stream(device)));
    SRA_CUBLAS_CHECK(cublasSetMathMode(handles[device], CUBLAS_DEFAULT_MATH));
  });
  return handles[device];
}

int as_int(int64_t v, const char* what) {
  SRA_CHECK(v >= 0 && v <= INT_MAX, "[matmul] ", what, " = ", v, " is too large for one cuBLAS call");
  return int(v);
}

// One (batched) call in T = float or double.
template <typename T>
void gemm_typed(cublasHandle_t h, const GemmArgs& g) {
  int m = as_int(g.m, "M"), n = as_int(g.n, "N"), k = as_int(g.k, "K");
  int lda = as_int(g.lda, "lda"), ldb = as_int(g.ldb, "ldb"), ldc = as_int(g.ldc, "ldc");
  int batch = as_int(g.batch, "batch");
  cublasOperation_t opa = g.ta ? CUBLAS_OP_T : CUBLAS_OP_N, opb = g.tb ? CUBLAS_OP_T : CUBLAS_OP_N;
  T alpha = T(g.alpha), beta = T(g.beta);
  const T* a = static_cast<const T*>(g.a);
  const T* b = static_cast<const T*>(g.b);
  T* c = static_cast<T*>(g.c);
  if constexpr (std::is_same_v<T, float>) {
    if (batch == 1) {
      SRA_CUBLAS_CHECK(cublasSgemm(h, opb, opa, n, m, k, &alpha, b, ldb, a, lda, &beta, c, ldc));
    } else {
      SRA_CUBLAS_CHECK(cublasSgemmStridedBatched(h, opb, opa, n, m, k, &alpha, b, ldb, g.stride_b, a, lda,
                                                 g.stride_a, &beta, c, ldc, g.stride_c, batch));
    }
  } else {
    if (batch == 1) {
      SRA_CUBLAS_CHECK(cublasDgemm(h, opb, opa, n, m, k, &alpha, b, ldb, a, lda, &beta, c, ldc));
    } else {
      SRA_CUBLAS_CHECK(cublasDgemmStridedBatched(h, opb, opa, n, m, k, &alpha, b, ldb, g.stride_b, a, lda,
                                                 g.stride_a, &beta, c, ldc, g.stride_c, batch));
    }
  }
}

// bf16 A and B, f32 C (bf16 with c_bf16), fp32 accumulation.
void gemm_bf16_ex(cublasHandle_t h, const GemmArgs& g) {
  const cudaDataType_t ct = g.c_bf16 ? CUDA_R_16BF : CUDA_R_32F;
  int m = as_int(g.m, "M"), n = as_int(g.n, "N"), k = as_int(g.k, "K");
  int lda = as_int(g.lda, "lda"), ldb = as_int(g.ldb, "ldb"), ldc = as_int(g.ldc, "ldc");
  int batch = as_int(g.batch, "batch");
  cublasOperation_t opa = g.ta ? CUBLAS_OP_T : CUBLAS_OP_N, opb = g.tb ? CUBLAS_OP_T : CUBLAS_OP_N;
  float alpha = float(g.alpha), beta = float(g.beta);
  if (batch == 1) {
    SRA_CUBLAS_CHECK(cublasGemmEx(h, opb, opa, n, m, k, &alpha, g.b, CUDA_R_16BF, ldb, g.a, CUDA_R_16BF, lda,
                                  &beta, g.c, ct, ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  } else {
    SRA_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
        h, opb, opa, n, m, k, &alpha, g.b, CUDA_R_16BF, ldb, g.stride_b, g.a, CUDA_R_16BF, lda, g.stride_a,
        &beta, g.c, ct, ldc, g.stride_c, batch, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  }
}

}  // namespace

void gemm_cuda(const GemmArgs& g, int device) {
  if (g.m == 0 || g.n == 0) return;
  cuda::DeviceGuard guard(device);
  cublasHandle_t h = handle(device);
  if (g.dtype == DType::f32) {
    gemm_typed<float>(h, g);
  } else if (g.dtype == DType::bf16) {
    gemm_bf16_ex(h, g);
  } else {
    SRA_CHECK(g.dtype == DType::f64, "[matmul] dtype ", dtype_name(g.dtype), " is not supported on CUDA");
    gemm_typed<double>(h, g);
  }
  cuda::check_launch("matmul", device);
}

}  // namespace sra::kern
