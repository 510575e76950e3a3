// RoPE on CUDA (math in rope.h; rope_cpu.cpp is the oracle). One thread per (row, i) pair, row over
// (b, h, t) and i < d/2, in a grid-stride loop: inv_freq (kernels/rope/rope_freq.h) and the angle in double,
// cos and sin in double rounded to T, then the pair's rotation in T, as the CPU computes them.
#include "core/cuda_launch.h"
#include "kernels/rope/rope.h"

namespace sra::kern {

namespace {

template <typename T>
__global__ void rope_kernel(T* out, const T* x, const int64_t* pos, bool pos_per_batch, int64_t b, int64_t h,
                            int64_t t, int64_t d, double theta, bool inverse, RopeScaling scaling) {
  int64_t half = d / 2, n = b * h * t * half;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < n;
       e += int64_t(gridDim.x) * blockDim.x) {
    int64_t row = e / half, i = e % half;
    int64_t ti = row % t, bi = row / (h * t);
    int64_t p = pos_per_batch ? bi * t + ti : ti;
    double inv_freq = rope_inv_freq(i, d, theta, scaling);
    double a = double(pos[p]) * inv_freq;
    T c = T(cos(a));
    T s = T(inverse ? -sin(a) : sin(a));
    const T* xr = x + row * d;
    T* o = out + row * d;
    T x0 = xr[i], x1 = xr[i + half];
    o[i] = x0 * c - x1 * s;
    o[i + half] = x1 * c + x0 * s;
  }
}

}  // namespace

void rope_cuda(const RopeArgs& a, int device) {
  int64_t n = a.b * a.h * a.t * (a.d / 2);
  if (n == 0) return;
  cuda::DeviceGuard guard(device);
  if (a.dtype == DType::f32) {
    rope_kernel<float><<<cuda::grid_for(n), cuda::kThreads, 0, cuda::stream(device)>>>(
        static_cast<float*>(a.out), static_cast<const float*>(a.x), a.pos, a.pos_per_batch, a.b, a.h, a.t,
        a.d, a.theta, a.inverse, a.scaling);
  } else {
    SRA_CHECK(a.dtype == DType::f64, "[rope] dtype ", dtype_name(a.dtype),
              " is not supported on CUDA (f32 or f64)");
    rope_kernel<double><<<cuda::grid_for(n), cuda::kThreads, 0, cuda::stream(device)>>>(
        static_cast<double*>(a.out), static_cast<const double*>(a.x), a.pos, a.pos_per_batch, a.b, a.h, a.t,
        a.d, a.theta, a.inverse, a.scaling);
  }
  cuda::check_launch("rope", device);
}

}  // namespace sra::kern
