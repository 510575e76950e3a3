// topk on CUDA over the middle axis of a contiguous (outer, R, inner) view (math in topk.h; the CPU kernel
// topk_cpu.cpp is the oracle). One thread per line (o, i) in a grid-stride loop scans r in order and keeps
// the best k seen so far sorted in its slots of the outputs (insertion: a newcomer that ranks before the
// current k-th shifts the worse ones down). The rank order (NaN first, then larger, then lower index) is
// strict and total, so the result is the CPU's exactly, whatever the launch.
#include "core/cuda_launch.h"
#include "kernels/topk/topk.h"

namespace sra::kern {

namespace {

// (a, ia) ranks before (b, ib).
template <typename T>
__device__ inline bool before(T a, int64_t ia, T b, int64_t ib) {
  bool an = isnan(a), bn = isnan(b);
  if (an != bn) return an;
  if (!an && a != b) return a > b;
  return ia < ib;
}

template <typename T>
__global__ void topk_kernel(T* values, int64_t* indices, const T* x, int64_t outer, int64_t r, int64_t inner,
                            int64_t k) {
  for (int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; j < outer * inner;
       j += int64_t(gridDim.x) * blockDim.x) {
    int64_t o = j / inner, i = j % inner;
    const T* p = x + o * r * inner + i;
    T* vo = values + o * k * inner + i;
    int64_t* io = indices + o * k * inner + i;
    int64_t count = 0;  // slots filled, sorted best first
    for (int64_t s = 0; s < r; ++s) {
      T v = p[s * inner];
      int64_t pos;
      if (count < k) {
        pos = count++;
      } else {
        if (!before(v, s, vo[(k - 1) * inner], io[(k - 1) * inner])) continue;
        pos = k - 1;  // the k-th drops out
      }
      while (pos > 0 && before(v, s, vo[(pos - 1) * inner], io[(pos - 1) * inner])) {
        vo[pos * inner] = vo[(pos - 1) * inner];
        io[pos * inner] = io[(pos - 1) * inner];
        --pos;
      }
      vo[pos * inner] = v;
      io[pos * inner] = s;
    }
  }
}

}  // namespace

void topk_cuda(const TopkArgs& a, int device) {
  int64_t lines = a.outer * a.inner;
  if (lines * a.k == 0) return;
  cuda::DeviceGuard guard(device);
  if (a.dtype == DType::f32) {
    topk_kernel<float><<<cuda::grid_for(lines), cuda::kThreads, 0, cuda::stream(device)>>>(
        static_cast<float*>(a.values), a.indices, static_cast<const float*>(a.x), a.outer, a.r, a.inner, a.k);
  } else {
    SRA_CHECK(a.dtype == DType::f64, "[topk] dtype ", dtype_name(a.dtype),
              " is not supported on CUDA (f32 or f64)");
    topk_kernel<double><<<cuda::grid_for(lines), cuda::kThreads, 0, cuda::stream(device)>>>(
        static_cast<double*>(a.values), a.indices, static_cast<const double*>(a.x), a.outer, a.r, a.inner,
        a.k);
  }
  cuda::check_launch("topk", device);
}

}  // namespace sra::kern
