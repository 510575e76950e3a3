// Inclusive prefix sums on CUDA over the middle axis of a contiguous (outer, R, inner) view (math in
// cumsum.h; the CPU kernel cumsum_cpu.cpp is the oracle). One thread per line (o, i) in a grid-stride loop
// scans r forward (or backward for the reverse sum) with a double accumulator, storing T: the CPU's order,
// so deterministic and bitwise equal to it. Adjacent threads touch adjacent columns (coalesced for inner >
// 1).
#include "core/cuda_launch.h"
#include "kernels/cumsum/cumsum.h"

namespace sra::kern {

namespace {

template <typename T>
__global__ void cumsum_kernel(T* y, const T* x, int64_t outer, int64_t r, int64_t inner, bool reverse) {
  for (int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; j < outer * inner;
       j += int64_t(gridDim.x) * blockDim.x) {
    int64_t base = (j / inner) * r * inner + j % inner;
    double acc = 0;
    for (int64_t s = 0; s < r; ++s) {
      int64_t off = base + (reverse ? r - 1 - s : s) * inner;
      acc += double(x[off]);
      y[off] = T(acc);
    }
  }
}

}  // namespace

void cumsum_cuda(const CumsumArgs& a, int device) {
  int64_t lines = a.outer * a.inner;
  if (lines * a.r == 0) return;
  cuda::DeviceGuard guard(device);
  if (a.dtype == DType::f32) {
    cumsum_kernel<float><<<cuda::grid_for(lines), cuda::kThreads, 0, cuda::stream(device)>>>(
        static_cast<float*>(a.y), static_cast<const float*>(a.x), a.outer, a.r, a.inner, a.reverse);
  } else {
    SRA_CHECK(a.dtype == DType::f64, "[cumsum] dtype ", dtype_name(a.dtype),
              " is not supported on CUDA (f32 or f64)");
    cumsum_kernel<double><<<cuda::grid_for(lines), cuda::kThreads, 0, cuda::stream(device)>>>(
        static_cast<double*>(a.y), static_cast<const double*>(a.x), a.outer, a.r, a.inner, a.reverse);
  }
  cuda::check_launch("cumsum", device);
}

}  // namespace sra::kern
