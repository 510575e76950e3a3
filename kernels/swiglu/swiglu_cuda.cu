// SwiGLU's gate on CUDA (contract in swiglu.h; swiglu_cpu.cpp is the oracle): a grid-stride loop in which
// each thread loads kUnroll elements (a grid stride apart) before computing them (one element in flight per
// thread ran the 135M step's 16384 x 2048 gate at ~60% of the H200's bandwidth), the forward optionally
// writing the bf16 copy beside y (one launch, no cast kernel) and, under autocast, bf16 copies of a and b,
// which the backward then reads (half the bytes the op keeps alive between the passes).
#include <type_traits>

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

constexpr int kUnroll = 4;  // elements per thread and round, loaded before they are used

// Where elements i0, i0 + step, i0 + 2·step, … of the grid-stride loop sit in the row-laid arrays (swiglu.h:
// rows of cols elements ld apart; ld 0: dense): one division per thread, then additions (a 64-bit
// division per element made the 135M step's SwiGLU kernels several times slower, H200 2026-12-02).
struct RowWalk {
  int64_t r = 0, c = 0, dq = 0, dr = 0, cols = 0, ld = 0;
  __device__ RowWalk(int64_t i0, int64_t step, int64_t cols_, int64_t ld_) : cols(cols_), ld(ld_) {
    if (ld == 0) return;
    r = i0 / cols, c = i0 - r * cols, dq = step / cols, dr = step - dq * cols;
  }
  __device__ int64_t at(int64_t i) const { return ld == 0 ? i : r * ld + c; }  // i: the dense index
  __device__ void next() {                                                     // to i + step
    if (ld == 0) return;
    r += dq, c += dr;
    if (c >= cols) c -= cols, ++r;
  }
};

__device__ inline float widen(Bf16Bits x) {
  return __uint_as_float(uint32_t(x.bits) << 16);
}
template <typename T>
__device__ inline T widen(T x) {
  return x;
}

// TI: T, or Bf16Bits for bf16 inputs a and b (widened, then T = float math)
template <typename T, typename TI>
__global__ void swiglu_kernel(T* y, Bf16Bits* y16, Bf16Bits* a16, Bf16Bits* b16, const TI* a, const TI* b,
                              int64_t n, int64_t cols, int64_t ld) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  const int64_t first = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  RowWalk w(first, step, cols, ld);
  for (int64_t i0 = first; i0 < n; i0 += step * kUnroll) {
    T ua[kUnroll], ub[kUnroll];
#pragma unroll
    for (int k = 0; k < kUnroll; ++k, w.next())
      if (i0 + k * step < n) {
        const int64_t j = w.at(i0 + k * step);
        ua[k] = widen(a[j]), ub[k] = widen(b[j]);
      }
#pragma unroll
    for (int k = 0; k < kUnroll; ++k) {
      const int64_t i = i0 + k * step;
      if (i >= n) break;
      const T u = ua[k];
      const T v = (u * sigm(u)) * ub[k];
      y[i] = v;
      if (y16) y16[i] = to_bf16(float(v));
      if (a16) a16[i] = to_bf16(float(u));
      if (b16) b16[i] = to_bf16(float(ub[k]));
    }
  }
}

// TI: T, or Bf16Bits for bf16 inputs a and b (widened, then T = float math)
template <typename T, typename TI>
__global__ void swiglu_backward_kernel(T* ga, T* gb, Bf16Bits* ga16, Bf16Bits* gb16, const T* gy, const TI* a,
                                       const TI* b, int64_t n, int64_t cols, int64_t ld) {
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  const int64_t first = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  RowWalk w(first, step, cols, ld);
  for (int64_t i0 = first; i0 < n; i0 += step * kUnroll) {
    T ua[kUnroll], ub[kUnroll], ug[kUnroll];
    int64_t at[kUnroll];  // where element k sits in a, b and the bf16-only gradients
#pragma unroll
    for (int k = 0; k < kUnroll; ++k, w.next()) {
      at[k] = w.at(i0 + k * step);
      if (i0 + k * step < n) ua[k] = widen(a[at[k]]), ub[k] = widen(b[at[k]]), ug[k] = gy[i0 + k * step];
    }
#pragma unroll
    for (int k = 0; k < kUnroll; ++k) {
      const int64_t i = i0 + k * step;
      if (i >= n) break;
      const int64_t j = at[k];  // where a bf16-only gradient goes: a and b's rows
      const T u = ua[k], sg = sigm(u), g = ug[k];
      if (ga || ga16) {
        const T v = (g * ub[k]) * (sg * (T(1) + u * (T(1) - sg)));
        if (ga) ga[i] = v;
        if (ga16) ga16[ga ? i : j] = to_bf16(float(v));
      }
      if (gb || gb16) {
        const T v = g * (u * sg);
        if (gb) gb[i] = v;
        if (gb16) gb16[gb ? i : j] = to_bf16(float(v));
      }
    }
  }
}

// launch(TI{}) with TI the inputs' element type: T, or Bf16Bits for bf16 inputs (f32 math only).
template <typename T, typename F>
void with_input_type(bool inputs_bf16, F&& launch) {
  if constexpr (std::is_same_v<T, float>) {
    if (inputs_bf16) return launch(Bf16Bits{});
  }
  launch(T{});
}

}  // namespace

void swiglu_cuda(const SwigluArgs& p, int device) {
  cuda::DeviceGuard guard(device);
  const unsigned grid = cuda::grid_for((p.n + kUnroll - 1) / kUnroll);
  for_float(p.dtype, "swiglu", "CUDA", [&](auto tag) {
    using T = decltype(tag);
    auto launch = [&](auto in) {
      using TI = decltype(in);
      swiglu_kernel<T, TI><<<grid, cuda::kThreads, 0, cuda::stream(device)>>>(
          static_cast<T*>(p.y), static_cast<Bf16Bits*>(p.y16), static_cast<Bf16Bits*>(p.a16),
          static_cast<Bf16Bits*>(p.b16), static_cast<const TI*>(p.a), static_cast<const TI*>(p.b), p.n,
          p.cols, p.ld);
    };
    with_input_type<T>(p.inputs_bf16, launch);
  });
  cuda::check_launch("swiglu", device);
}

void swiglu_backward_cuda(const SwigluBackwardArgs& p, int device) {
  cuda::DeviceGuard guard(device);
  const unsigned grid = cuda::grid_for((p.n + kUnroll - 1) / kUnroll);
  for_float(p.dtype, "swiglu", "CUDA", [&](auto tag) {
    using T = decltype(tag);
    auto launch = [&](auto in) {
      using TI = decltype(in);
      swiglu_backward_kernel<T, TI><<<grid, cuda::kThreads, 0, cuda::stream(device)>>>(
          static_cast<T*>(p.ga), static_cast<T*>(p.gb), static_cast<Bf16Bits*>(p.ga16),
          static_cast<Bf16Bits*>(p.gb16), static_cast<const T*>(p.gy), static_cast<const TI*>(p.a),
          static_cast<const TI*>(p.b), p.n, p.cols, p.ld);
    };
    with_input_type<T>(p.inputs_bf16, launch);
  });
  cuda::check_launch("swiglu", device);
}

}  // namespace sra::kern
