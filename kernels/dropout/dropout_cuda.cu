// Dropout on CUDA (math in dropout.h; dropout_cpu.cpp is the oracle). One thread per element in grid-stride
// loops; the mask of element i comes from philox4x32_block(base + i, stream, key) (core/philox.h, the CPU's
// inline code), so it equals the CPU's mask bit for bit. T = float or double; arithmetic in T.
#include "core/cuda_launch.h"
#include "core/philox.h"
#include "kernels/common/dtype_switch.h"
#include "kernels/dropout/dropout.h"

namespace sra::kern {

namespace {

template <typename T>
__global__ void dropout_kernel(T* y, uint8_t* mask, const T* x, int64_t n, double p, T scale, uint64_t base,
                               uint64_t stream, uint64_t key) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    float u = uniform_open_f32(philox4x32_block(base + uint64_t(i), stream, key).w[0]);
    bool keep = double(u) >= p;
    mask[i] = keep ? 1 : 0;
    y[i] = keep ? x[i] * scale : T(0);
  }
}

template <typename T>
__global__ void dropout_apply_kernel(T* y, const T* x, const uint8_t* mask, int64_t n, T scale) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    y[i] = mask[i] ? x[i] * scale : T(0);
}

}  // namespace

void dropout_cuda(const DropoutArgs& a, int device) {
  if (a.n == 0) return;
  cuda::DeviceGuard guard(device);
  for_float(a.dtype, "dropout", "CUDA", [&](auto t) {
    using T = decltype(t);
    T scale = T(1.0 / (1.0 - a.p));  // as dropout_cpu: rounded to T once
    dropout_kernel<T><<<cuda::grid_for(a.n), cuda::kThreads, 0, cuda::stream(device)>>>(
        static_cast<T*>(a.y), a.mask, static_cast<const T*>(a.x), a.n, a.p, scale, a.base, a.stream, a.key);
  });
  cuda::check_launch("dropout", device);
}

void dropout_apply_cuda(const DropoutApplyArgs& a, int device) {
  if (a.n == 0) return;
  cuda::DeviceGuard guard(device);
  for_float(a.dtype, "dropout", "CUDA", [&](auto t) {
    using T = decltype(t);
    dropout_apply_kernel<T><<<cuda::grid_for(a.n), cuda::kThreads, 0, cuda::stream(device)>>>(
        static_cast<T*>(a.y), static_cast<const T*>(a.x), a.mask, a.n, T(a.scale));
  });
  cuda::check_launch("dropout_apply", device);
}

}  // namespace sra::kern
