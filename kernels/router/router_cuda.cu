// The router's threshold arithmetic on CUDA (math in router.h; router_cpu.cpp is the oracle): the same
// explicit fma per element (grid-stride) and for θ (one thread), so the bits equal the CPU's.
#include "core/cuda_launch.h"
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

}  // namespace

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
