// RoPE on CUDA (math in rope.h; rope_cpu.cpp is the oracle). One thread per (row, i) pair, row over
// (b, h, t) and i < d/2, in a grid-stride loop: inv_freq (kernels/rope/rope_freq.h) and the angle in double,
// cos and sin in double rounded to T, then the pair's rotation in T, as the CPU computes them. x and out are
// addressed through their strides; the optional bf16 copy is written beside out.
#include "core/cuda_launch.h"
#include "kernels/common/bf16_round_cuda.cuh"
#include "kernels/rope/rope.h"

namespace sra::kern {

namespace {

struct Strides {
  int64_t b, h, t;
};

template <typename T>
__global__ void rope_kernel(T* out, Bf16Bits* out16, const T* x, const int64_t* pos, bool pos_per_batch,
                            int64_t b, int64_t h, int64_t t, int64_t d, double theta, bool inverse,
                            RopeScaling scaling, Strides xs, Strides os) {
  int64_t half = d / 2, n = b * h * t * half;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < n;
       e += int64_t(gridDim.x) * blockDim.x) {
    int64_t row = e / half, i = e % half;
    int64_t ti = row % t, hi = (row / t) % h, bi = row / (h * t);
    int64_t p = pos_per_batch ? bi * t + ti : ti;
    double inv_freq = rope_inv_freq(i, d, theta, scaling);
    double a = double(pos[p]) * inv_freq;
    T c = T(cos(a));
    T s = T(inverse ? -sin(a) : sin(a));
    const T* xr = x + bi * xs.b + hi * xs.h + ti * xs.t;
    const int64_t oo = bi * os.b + hi * os.h + ti * os.t;
    T x0 = xr[i], x1 = xr[i + half];
    T y0 = x0 * c - x1 * s, y1 = x1 * c + x0 * s;
    out[oo + i] = y0;
    out[oo + i + half] = y1;
    if (out16) {
      out16[oo + i] = to_bf16(float(y0));
      out16[oo + i + half] = to_bf16(float(y1));
    }
  }
}

}  // namespace

void rope_cuda(const RopeArgs& a, int device) {
  int64_t n = a.b * a.h * a.t * (a.d / 2);
  if (n == 0) return;
  cuda::DeviceGuard guard(device);
  const Strides xs{a.xs[0], a.xs[1], a.xs[2]}, os{a.os[0], a.os[1], a.os[2]};
  auto* out16 = static_cast<Bf16Bits*>(a.out16);
  if (a.dtype == DType::f32) {
    rope_kernel<float><<<cuda::grid_for(n), cuda::kThreads, 0, cuda::stream(device)>>>(
        static_cast<float*>(a.out), out16, static_cast<const float*>(a.x), a.pos, a.pos_per_batch, a.b, a.h,
        a.t, a.d, a.theta, a.inverse, a.scaling, xs, os);
  } else {
    SRA_CHECK(a.dtype == DType::f64, "[rope] dtype ", dtype_name(a.dtype),
              " is not supported on CUDA (f32 or f64)");
    rope_kernel<double><<<cuda::grid_for(n), cuda::kThreads, 0, cuda::stream(device)>>>(
        static_cast<double*>(a.out), nullptr, static_cast<const double*>(a.x), a.pos, a.pos_per_batch, a.b,
        a.h, a.t, a.d, a.theta, a.inverse, a.scaling, xs, os);
  }
  cuda::check_launch("rope", device);
}

}  // namespace sra::kern
