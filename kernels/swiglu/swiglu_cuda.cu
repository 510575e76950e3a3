// SwiGLU's gate on CUDA (contract in swiglu.h; swiglu_cpu.cpp is the oracle): one thread per element in a
// grid-stride loop, the forward optionally writing the bf16 copy beside y (one launch, no cast kernel).
#include "core/cuda_launch.h"
#include "kernels/common/bf16_round_cuda.cuh"
#include "kernels/common/dtype_switch.h"
#include "kernels/swiglu/swiglu.h"

namespace sra::kern {

namespace {

template <typename T>
__device__ inline T sigm(T x) {
  return T(1) / (T(1) + exp(-x));
}

template <typename T>
__global__ void swiglu_kernel(T* y, Bf16Bits* y16, const T* a, const T* b, int64_t n) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const T u = a[i];
    const T v = (u * sigm(u)) * b[i];
    y[i] = v;
    if (y16) y16[i] = to_bf16(float(v));
  }
}

template <typename T>
__global__ void swiglu_backward_kernel(T* ga, T* gb, const T* gy, const T* a, const T* b, int64_t n) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const T u = a[i], sg = sigm(u), g = gy[i];
    if (ga) ga[i] = (g * b[i]) * (sg * (T(1) + u * (T(1) - sg)));
    if (gb) gb[i] = g * (u * sg);
  }
}

}  // namespace

void swiglu_cuda(const SwigluArgs& p, int device) {
  cuda::DeviceGuard guard(device);
  for_float(p.dtype, "swiglu", "CUDA", [&](auto tag) {
    using T = decltype(tag);
    swiglu_kernel<T><<<cuda::grid_for(p.n), cuda::kThreads, 0, cuda::stream(device)>>>(
        static_cast<T*>(p.y), static_cast<Bf16Bits*>(p.y16), static_cast<const T*>(p.a),
        static_cast<const T*>(p.b), p.n);
  });
  cuda::check_launch("swiglu", device);
}

void swiglu_backward_cuda(const SwigluBackwardArgs& p, int device) {
  cuda::DeviceGuard guard(device);
  for_float(p.dtype, "swiglu", "CUDA", [&](auto tag) {
    using T = decltype(tag);
    swiglu_backward_kernel<T><<<cuda::grid_for(p.n), cuda::kThreads, 0, cuda::stream(device)>>>(
        static_cast<T*>(p.ga), static_cast<T*>(p.gb), static_cast<const T*>(p.gy), static_cast<const T*>(p.a),
        static_cast<const T*>(p.b), p.n);
  });
  cuda::check_launch("swiglu", device);
}

}  // namespace sra::kern
