// Mixed-precision GEMM on CUDA through cuBLASLt (contract in matmul.h; the CPU's gemm_bf16_cpu is the
// oracle): A and B in bf16 (CUDA_R_16BF), C in f32 (CUDA_R_32F) or, with c_bf16, bf16 (CUDA_R_16BF: the
// epilogue rounds the fp32 sums), products accumulated in fp32 (CUBLAS_COMPUTE_32F), alpha and beta f32 on
// the host.
//
// Layout: row-major C = op(A)·op(B) is column-major Cᵀ = op(B)ᵀ·op(A)ᵀ, as in matmul_cuda.cu: cuBLASLt's
// "A" is our B, stored column-major as (N, K) (rows, cols) when B is (K, N) row-major, or (K, N) when B is
// stored transposed; its "B" is our A, (K, M) or (M, K); D = C is column-major (N, M) with ld = ldc.
// A strided batch sets BATCH_COUNT and STRIDED_BATCH_OFFSET on the three layouts (0 reuses one matrix).
//
// Per device: one cuBLASLt handle and one 32 MiB workspace from the caching allocator, made on first use
// and kept for the process. Plans (the matmul descriptor, three layouts and the heuristic's algorithm)
// are cached per shape, transposes, leading dimensions, batch strides and pointer alignment (the
// heuristic may pick kernels that need 16-byte or wider alignment; a view into a tensor may have less),
// so a steady-state call is one cublasLtMatmul queued on the device's current stream. Where the heuristic
// finds no algorithm (CUBLAS_STATUS_NOT_SUPPORTED or none returned), the plan says so and the call goes to
// cublasGemmEx with the same types and fp32 compute (gemm_cuda, matmul_cuda.cu).
#include <cublasLt.h>

#include <array>
#include <climits>
#include <map>
#include <memory>
#include <mutex>

#include "core/cuda_launch.h"
#include "kernels/matmul/cublas_check_cuda.cuh"
#include "kernels/matmul/matmul.h"

namespace sra::kern {

namespace {

constexpr size_t kWorkspaceBytes = size_t(32) << 20;
constexpr int kMaxDevices = 64;

// ta, tb, m, n, k, lda, ldb, ldc, batch, stride_a, stride_b, stride_c, align_a, align_b, align_c, c_bf16
using PlanKey = std::array<int64_t, 16>;

struct Plan {
  bool lt = true;  // false: cuBLASLt has no algorithm; use cublasGemmEx
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;  // cuBLASLt's A (our B), B (our A), C = D
  cublasLtMatmulAlgo_t algo{};
};

struct LtDevice {
  std::once_flag once;
  cublasLtHandle_t handle = nullptr;
  void* workspace = nullptr;
  std::mutex mu;
  std::map<PlanKey, std::unique_ptr<Plan>> plans;  // never destroyed, like the handle
};

LtDevice& lt_device(int device) {
  static auto* devices = new LtDevice[kMaxDevices];  // never destroyed: outlives static tensors
  SRA_ASSERT(device >= 0 && device < kMaxDevices, "device ", device);
  LtDevice& d = devices[device];
  std::call_once(d.once, [&] {
    cuda::DeviceGuard g(device);
    SRA_CUBLAS_CHECK(cublasLtCreate(&d.handle));
    d.workspace = cuda::malloc(kWorkspaceBytes, device);
  });
  return d;
}

// The largest power of two (at most 256) dividing the address of every matrix of the batch, in bytes.
int64_t alignment(const void* p, int64_t stride_bytes) {
  uint64_t bits = uint64_t(reinterpret_cast<uintptr_t>(p)) | uint64_t(stride_bytes) | 256u;
  return int64_t(bits & (~bits + 1));
}

void check_int(int64_t v, const char* what) {
  SRA_CHECK(v >= 0 && v <= INT_MAX, "[matmul] ", what, " = ", v, " is too large for one cuBLASLt call");
}

cublasLtMatrixLayout_t make_layout(cudaDataType_t type, int64_t rows, int64_t cols, int64_t ld, int64_t batch,
                                   int64_t stride) {
  cublasLtMatrixLayout_t l = nullptr;
  SRA_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&l, type, uint64_t(rows), uint64_t(cols), ld));
  if (batch > 1) {
    int32_t count = int32_t(batch);
    SRA_CUBLAS_CHECK(
        cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof(count)));
    SRA_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride,
                                                      sizeof(stride)));
  }
  return l;
}

std::unique_ptr<Plan> make_plan(cublasLtHandle_t h, const GemmArgs& g, const PlanKey& key) {
  auto p = std::make_unique<Plan>();
  SRA_CUBLAS_CHECK(cublasLtMatmulDescCreate(&p->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  cublasOperation_t op_a = g.tb ? CUBLAS_OP_T : CUBLAS_OP_N, op_b = g.ta ? CUBLAS_OP_T : CUBLAS_OP_N;
  SRA_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSA, &op_a, sizeof(op_a)));
  SRA_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSB, &op_b, sizeof(op_b)));
  p->a = make_layout(CUDA_R_16BF, g.tb ? g.k : g.n, g.tb ? g.n : g.k, g.ldb, g.batch, g.stride_b);
  p->b = make_layout(CUDA_R_16BF, g.ta ? g.m : g.k, g.ta ? g.k : g.m, g.lda, g.batch, g.stride_a);
  p->c = make_layout(g.c_bf16 ? CUDA_R_16BF : CUDA_R_32F, g.n, g.m, g.ldc, g.batch, g.stride_c);

  cublasLtMatmulPreference_t pref = nullptr;
  SRA_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
  uint64_t ws = kWorkspaceBytes;
  // our B is cuBLASLt's A and our A its B: their alignments swap with them
  uint32_t align_a = uint32_t(key[13]), align_b = uint32_t(key[12]), align_c = uint32_t(key[14]);
  auto set = [&](cublasLtMatmulPreferenceAttributes_t attr, const void* v, size_t n) {
    SRA_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, attr, v, n));
  };
  set(CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws));
  set(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &align_a, sizeof(align_a));
  set(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &align_b, sizeof(align_b));
  set(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &align_c, sizeof(align_c));
  set(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &align_c, sizeof(align_c));
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  cublasStatus_t st =
      cublasLtMatmulAlgoGetHeuristic(h, p->desc, p->a, p->b, p->c, p->c, pref, 1, &result, &found);
  cublasLtMatmulPreferenceDestroy(pref);
  SRA_CUBLAS_CHECK(st);
  SRA_CHECK(found > 0, "[matmul] cuBLASLt has no bf16 algorithm for M=", g.m, " N=", g.n, " K=", g.k, " (ta ",
            g.ta, ", tb ", g.tb, ", lda ", g.lda, ", ldb ", g.ldb, ", ldc ", g.ldc, ", batch ", g.batch, ")");
  p->algo = result.algo;
  return p;
}

}  // namespace

GemmBf16Plans gemm_bf16_plans(int device) {
  LtDevice& d = lt_device(device);
  std::lock_guard<std::mutex> lock(d.mu);
  GemmBf16Plans out;
  for (const auto& [key, plan] : d.plans) {
    ++out.plans;
    if (!plan->lt) ++out.fallbacks;
  }
  return out;
}

void gemm_bf16_cuda(const GemmArgs& g, int device) {
  SRA_CHECK(g.dtype == DType::bf16, "[matmul] cuBLASLt path expects bf16 operands, got ",
            dtype_name(g.dtype));
  if (g.m == 0 || g.n == 0) return;
  SRA_CHECK(g.k > 0, "[matmul] the cuBLASLt path needs K > 0 (callers zero C for K = 0)");
  for (int64_t v : {g.m, g.n, g.k, g.batch}) check_int(v, "a GEMM size");
  cuda::DeviceGuard guard(device);
  LtDevice& d = lt_device(device);
  const int64_t ab = int64_t(sizeof(uint16_t)), cb = g.c_bf16 ? ab : int64_t(sizeof(float));
  PlanKey key{g.ta,
              g.tb,
              g.m,
              g.n,
              g.k,
              g.lda,
              g.ldb,
              g.ldc,
              g.batch,
              g.batch > 1 ? g.stride_a : 0,
              g.batch > 1 ? g.stride_b : 0,
              g.batch > 1 ? g.stride_c : 0,
              alignment(g.a, g.batch > 1 ? g.stride_a * ab : 0),
              alignment(g.b, g.batch > 1 ? g.stride_b * ab : 0),
              alignment(g.c, g.batch > 1 ? g.stride_c * cb : 0),
              g.c_bf16};
  Plan* plan = nullptr;
  {
    std::lock_guard<std::mutex> lock(d.mu);
    auto it = d.plans.find(key);
    if (it == d.plans.end()) it = d.plans.emplace(key, make_plan(d.handle, g, key)).first;
    plan = it->second.get();
  }
  if (!plan->lt) return gemm_cuda(g, device);
  float alpha = float(g.alpha), beta = float(g.beta);
  SRA_CUBLAS_CHECK(cublasLtMatmul(d.handle, plan->desc, &alpha, g.b, plan->a, g.a, plan->b, &beta, g.c,
                                  plan->c, g.c, plan->c, &plan->algo, d.workspace, kWorkspaceBytes,
                                  cuda::stream(device)));
  cuda::check_launch("matmul", device);
}

}  // namespace sra::kern
