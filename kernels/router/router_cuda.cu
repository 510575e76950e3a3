// The router's kernels on CUDA (math in router.h; router_cpu.cpp is the oracle): the threshold arithmetic
// with the same explicit fma per element (grid-stride) and for θ (one thread), so the bits equal the
// CPU's; the fused router MLP for generation (router_scores), one block per row.
#include <algorithm>

#include "core/check.h"
#include "core/cuda_launch.h"
#include "kernels/common/block_tree_cuda.cuh"
#include "kernels/common/dtype_switch.h"
#include "kernels/router/router.h"

namespace sra::kern {

namespace {

template <typename T>
__global__ void perturbed_scores_kernel(double* u, const T* s, const T* noise, int64_t n, double tau) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    u[i] = fma(tau, double(noise[i]), double(s[i]));
}

__global__ void threshold_step_kernel(double* theta, const double* value, double lr, bool toward_value,
                                      double target) {
  const double t = theta[0];
  const double c = toward_value ? t : target;
  theta[0] = fma(lr, value[0] - c, t);
}

constexpr int kRouterThreads = row_tree::kRowThreads;

// router_scores (router.h), one block per row (grid-stride): the normalised row n and the activations a
// in shared memory (c + hidden values of T); warp w computes hidden units w, w + 8, ...
template <typename T>
__global__ void router_scores_kernel(T* out, const T* h, const T* g, double eps, const T* up_w, const T* up_b,
                                     const T* down_w, const T* down_b, int64_t rows, int64_t c,
                                     int64_t hidden) {
  extern __shared__ unsigned char smem[];
  __shared__ double part[kRouterThreads];
  T* n = reinterpret_cast<T*>(smem);
  T* act = n + c;
  const int lane = int(threadIdx.x) % 32, warp = int(threadIdx.x) / 32, warps = kRouterThreads / 32;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* x = h + r * c;
    double ss = 0;
    for (int64_t i = threadIdx.x; i < c; i += kRouterThreads) ss += double(x[i]) * double(x[i]);
    ss = row_tree::block_sum(ss, part);
    const T rs = T(1.0 / sqrt(ss / double(c) + eps));
    for (int64_t i = threadIdx.x; i < c; i += kRouterThreads) n[i] = x[i] * rs * g[i];
    __syncthreads();
    for (int64_t j = warp; j < hidden; j += warps) {
      double acc = 0;
      for (int64_t i = lane; i < c; i += 32) acc += double(up_w[j * c + i]) * double(n[i]);
      acc = row_tree::warp_sum(acc);
      if (lane == 0) {
        const T u = T(acc) + up_b[j];
        act[j] = u * (T(1) / (T(1) + exp(-u)));
      }
    }
    __syncthreads();
    double acc = 0;
    for (int64_t j = threadIdx.x; j < hidden; j += kRouterThreads) acc += double(down_w[j]) * double(act[j]);
    acc = row_tree::block_sum(acc, part);  // ends with a barrier: n and act are free for the next row
    if (threadIdx.x == 0) out[r] = T(acc) + down_b[0];
  }
}

}  // namespace

void router_scores_cuda(const RouterScoresArgs& a, int device) {
  cuda::DeviceGuard guard(device);
  for_float(a.dtype, "router", "CUDA", [&](auto tag) {
    using T = decltype(tag);
    const size_t smem = size_t(a.c + a.hidden) * sizeof(T);
    SRA_CHECK(router_scores_fits_cuda(a.dtype, a.c, a.hidden), "[router] d_model ", a.c, " + hidden ",
              a.hidden, " are too large for the fused router kernel");
    static_assert(kRouterThreads == 256, "router_scores_fits_cuda counts a tree of 256 doubles");
    router_scores_kernel<T>
        <<<unsigned(std::min<int64_t>(a.rows, 65535)), kRouterThreads, smem, cuda::stream(device)>>>(
            static_cast<T*>(a.s), static_cast<const T*>(a.h), static_cast<const T*>(a.norm_w), a.eps,
            static_cast<const T*>(a.up_w), static_cast<const T*>(a.up_b), static_cast<const T*>(a.down_w),
            static_cast<const T*>(a.down_b), a.rows, a.c, a.hidden);
  });
  cuda::check_launch("router", device);
}

void perturbed_scores_cuda(const PerturbedScoresArgs& a, int device) {
  cuda::DeviceGuard guard(device);
  if (a.dtype == DType::f32) {
    perturbed_scores_kernel<float><<<cuda::grid_for(a.n), cuda::kThreads, 0, cuda::stream(device)>>>(
        a.u, static_cast<const float*>(a.s), static_cast<const float*>(a.noise), a.n, a.tau);
  } else {
    SRA_CHECK(a.dtype == DType::f64, "[router] dtype ", dtype_name(a.dtype),
              " is not supported on CUDA (f32 or f64)");
    perturbed_scores_kernel<double><<<cuda::grid_for(a.n), cuda::kThreads, 0, cuda::stream(device)>>>(
        a.u, static_cast<const double*>(a.s), static_cast<const double*>(a.noise), a.n, a.tau);
  }
  cuda::check_launch("router", device);
}

void threshold_step_cuda(const ThresholdStepArgs& a, int device) {
  cuda::DeviceGuard guard(device);
  threshold_step_kernel<<<1, 1, 0, cuda::stream(device)>>>(a.theta, a.value, a.lr, a.toward_value, a.target);
  cuda::check_launch("router", device);
}

}  // namespace sra::kern
