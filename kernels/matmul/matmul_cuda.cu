// GEMM on CUDA through cuBLAS (contract in matmul.h; OpenBLAS on the CPU is the oracle). Row-major
// C = op(A)·op(B) is column-major Cᵀ = op(B)ᵀ·op(A)ᵀ, so cuBLAS gets (B, A) swapped with n and m swapped
// and each operand's own transpose flag. f32 runs in full fp32 (CUBLAS_DEFAULT_MATH: no TF32), f64 in
// fp64. One handle per device, bound to the device's current stream; cuBLAS keeps its workspace per
// handle, so steady-state calls allocate nothing.
#include <cublas_v2.h>

#include <climits>
#include <mutex>

#include "core/cuda_launch.h"
#include "kernels/matmul/matmul.h"

namespace sra::kern {

namespace {

void check_cublas(cublasStatus_t st, const char* what) {
  SRA_CHECK(st == CUBLAS_STATUS_SUCCESS, "[matmul] ", what, " failed: cuBLAS status ", int(st), " (",
            cublasGetStatusString(st), ")");
}

cublasHandle_t handle(int device) {
  constexpr int kMaxDevices = 64;
  static auto* handles = new cublasHandle_t[kMaxDevices]();  // never destroyed: outlives static tensors
  static auto* once = new std::once_flag[kMaxDevices];
  SRA_ASSERT(device >= 0 && device < kMaxDevices, "device ", device);
  std::call_once(once[device], [&] {
    cuda::DeviceGuard g(device);
    check_cublas(cublasCreate(&handles[device]), "cublasCreate");
    check_cublas(cublasSetStream(handles[device], cuda::stream(device)), "cublasSetStream");
    check_cublas(cublasSetMathMode(handles[device], CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
  });
  return handles[device];
}

int as_int(int64_t v, const char* what) {
  SRA_CHECK(v >= 0 && v <= INT_MAX, "[matmul] ", what, " = ", v, " is too large for one cuBLAS call");
  return int(v);
}

}  // namespace

void gemm_cuda(const GemmArgs& g, int device) {
  if (g.m == 0 || g.n == 0) return;
  cuda::DeviceGuard guard(device);
  cublasHandle_t h = handle(device);
  int m = as_int(g.m, "M"), n = as_int(g.n, "N"), k = as_int(g.k, "K");
  int lda = as_int(g.lda, "lda"), ldb = as_int(g.ldb, "ldb"), ldc = as_int(g.ldc, "ldc");
  cublasOperation_t opa = g.ta ? CUBLAS_OP_T : CUBLAS_OP_N, opb = g.tb ? CUBLAS_OP_T : CUBLAS_OP_N;
  if (g.dtype == DType::f32) {
    float alpha = float(g.alpha), beta = float(g.beta);
    check_cublas(cublasSgemm(h, opb, opa, n, m, k, &alpha, static_cast<const float*>(g.b), ldb,
                             static_cast<const float*>(g.a), lda, &beta, static_cast<float*>(g.c), ldc),
                 "cublasSgemm");
  } else {
    SRA_CHECK(g.dtype == DType::f64, "[matmul] dtype ", dtype_name(g.dtype), " is not supported on CUDA");
    double alpha = g.alpha, beta = g.beta;
    check_cublas(cublasDgemm(h, opb, opa, n, m, k, &alpha, static_cast<const double*>(g.b), ldb,
                             static_cast<const double*>(g.a), lda, &beta, static_cast<double*>(g.c), ldc),
                 "cublasDgemm");
  }
  cuda::check_launch("matmul", device);
}

}  // namespace sra::kern
