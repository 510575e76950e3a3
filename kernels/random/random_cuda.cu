// Counter-based noise on CUDA (math in random.h; random_cpu.cpp is the oracle). One thread per element in
// a grid-stride loop; element i is a function of philox4x32_block(base + i, stream, key) alone
// (core/philox.h, the same inline code as the CPU), so the words and the uniforms equal the CPU's bit for
// bit, and the transforms run in double and round to T once, as on the CPU.
#include "core/cuda_launch.h"
#include "core/philox.h"
#include "kernels/random/random.h"

namespace sra::kern {

namespace {

template <typename T>
__device__ inline double first_uniform(const PhiloxBlock& b) {
  if constexpr (sizeof(T) == 4) {
    return double(uniform_open_f32(b.w[0]));
  } else {
    return uniform_open_f64(b.w[0], b.w[1]);
  }
}

template <typename T>
__device__ inline double second_uniform(const PhiloxBlock& b) {
  if constexpr (sizeof(T) == 4) {
    return double(uniform_open_f32(b.w[1]));
  } else {
    return uniform_open_f64(b.w[2], b.w[3]);
  }
}

template <typename T>
__global__ void random_kernel(Noise kind, T* out, int64_t n, uint64_t base, uint64_t stream, uint64_t key) {
  const double two_pi = 2.0 * 3.14159265358979323846;  // 2.0 * std::numbers::pi, as on the CPU
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    PhiloxBlock b = philox4x32_block(base + uint64_t(i), stream, key);
    double u = first_uniform<T>(b);
    double y = 0;
    switch (kind) {
      case Noise::uniform:
        y = u;
        break;
      case Noise::normal:
        y = sqrt(-2.0 * log(u)) * cos(two_pi * second_uniform<T>(b));
        break;
      case Noise::gumbel:
        y = -log(-log(u));
        break;
      case Noise::logistic:
        y = log(u) - log1p(-u);
        break;
    }
    out[i] = T(y);
  }
}

}  // namespace

void random_cuda(const RandomArgs& a, int device) {
  if (a.n == 0) return;
  cuda::DeviceGuard guard(device);
  if (a.dtype == DType::f32) {
    random_kernel<float><<<cuda::grid_for(a.n), cuda::kThreads, 0, cuda::stream(device)>>>(
        a.kind, static_cast<float*>(a.out), a.n, a.base, a.stream, a.key);
  } else {
    SRA_CHECK(a.dtype == DType::f64, "[random] dtype ", dtype_name(a.dtype),
              " is not supported on CUDA (f32 or f64)");
    random_kernel<double><<<cuda::grid_for(a.n), cuda::kThreads, 0, cuda::stream(device)>>>(
        a.kind, static_cast<double*>(a.out), a.n, a.base, a.stream, a.key);
  }
  cuda::check_launch("random", device);
}

}  // namespace sra::kern
