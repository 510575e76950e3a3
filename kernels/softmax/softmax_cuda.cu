// Softmax and log_softmax on CUDA over the middle axis of a contiguous (outer, R, inner) view (math in
// softmax.h; the CPU kernel softmax_cpu.cpp is the oracle).
//   inner == 1 (softmax over the last dim): one block of kRowThreads per row (block-stride over rows); the
//               max and the Σ (in double) go through fixed-shape trees (kernels/common/block_tree_cuda.cuh):
//               deterministic.
//   inner > 1:  one thread per line (o, i), r in order with a double accumulator, exactly the CPU's order.
// Outputs are written with the CPU's expressions: y = exp(x − m)·T(1/s) or (x − m) − T(log s);
// backward gx = y·(gy − T(Σ gy·y)) or gy − exp(y)·T(Σ gy).
#include "core/cuda_launch.h"
#include "kernels/common/block_tree_cuda.cuh"
#include "kernels/common/dtype_switch.h"
#include "kernels/softmax/softmax.h"

namespace sra::kern {

namespace {

using row_tree::exp_t;
using row_tree::kRowThreads;

unsigned row_blocks(int64_t rows) {
  return unsigned(rows < 65535 ? rows : 65535);  // block-stride loops cover the rest
}

template <typename T>
__global__ void softmax_rows_kernel(T* y, const T* x, int64_t outer, int64_t r, bool log) {
  __shared__ T tpart[kRowThreads];
  __shared__ double dpart[kRowThreads];
  for (int64_t o = blockIdx.x; o < outer; o += gridDim.x) {
    const T* xr = x + o * r;
    T* yr = y + o * r;
    T m = row_tree::row_max(xr, r, tpart);
    double s = 0;
    for (int64_t k = threadIdx.x; k < r; k += kRowThreads) s += double(exp_t(T(xr[k] - m)));
    s = row_tree::block_sum(s, dpart);
    if (log) {
      T ls = T(::log(s));
      for (int64_t k = threadIdx.x; k < r; k += kRowThreads) yr[k] = (xr[k] - m) - ls;
    } else {
      T inv = T(1.0 / s);
      for (int64_t k = threadIdx.x; k < r; k += kRowThreads) yr[k] = exp_t(T(xr[k] - m)) * inv;
    }
  }
}

template <typename T>
__global__ void softmax_lines_kernel(T* y, const T* x, int64_t outer, int64_t r, int64_t inner, bool log) {
  for (int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; j < outer * inner;
       j += int64_t(gridDim.x) * blockDim.x) {
    int64_t o = j / inner, i = j % inner;
    const T* xb = x + o * r * inner + i;
    T* yb = y + o * r * inner + i;
    T m = xb[0];
    for (int64_t k = 1; k < r; ++k) m = row_tree::max_t(m, xb[k * inner]);
    if (isinf(m) && m < 0) m = T(0);
    double s = 0;
    if (log) {
      for (int64_t k = 0; k < r; ++k) s += double(exp_t(T(xb[k * inner] - m)));
      T ls = T(::log(s));
      for (int64_t k = 0; k < r; ++k) yb[k * inner] = (xb[k * inner] - m) - ls;
    } else {
      for (int64_t k = 0; k < r; ++k) {
        T ex = exp_t(T(xb[k * inner] - m));
        yb[k * inner] = ex;
        s += double(ex);
      }
      T inv = T(1.0 / s);
      for (int64_t k = 0; k < r; ++k) yb[k * inner] *= inv;
    }
  }
}

template <typename T>
__global__ void softmax_backward_rows_kernel(T* gx, const T* gy, const T* y, int64_t outer, int64_t r,
                                             bool log) {
  __shared__ double dpart[kRowThreads];
  for (int64_t o = blockIdx.x; o < outer; o += gridDim.x) {
    const T* g = gy + o * r;
    const T* yr = y + o * r;
    T* out = gx + o * r;
    double s = 0;
    for (int64_t k = threadIdx.x; k < r; k += kRowThreads)
      s += log ? double(g[k]) : double(g[k]) * double(yr[k]);
    T st = T(row_tree::block_sum(s, dpart));
    for (int64_t k = threadIdx.x; k < r; k += kRowThreads)
      out[k] = log ? g[k] - exp_t(yr[k]) * st : yr[k] * (g[k] - st);
  }
}

template <typename T>
__global__ void softmax_backward_lines_kernel(T* gx, const T* gy, const T* y, int64_t outer, int64_t r,
                                              int64_t inner, bool log) {
  for (int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; j < outer * inner;
       j += int64_t(gridDim.x) * blockDim.x) {
    int64_t base = (j / inner) * r * inner + j % inner;
    const T* g = gy + base;
    const T* yb = y + base;
    T* out = gx + base;
    double s = 0;
    for (int64_t k = 0; k < r; ++k)
      s += log ? double(g[k * inner]) : double(g[k * inner]) * double(yb[k * inner]);
    T st = T(s);
    for (int64_t k = 0; k < r; ++k)
      out[k * inner] = log ? g[k * inner] - exp_t(yb[k * inner]) * st : yb[k * inner] * (g[k * inner] - st);
  }
}

}  // namespace

void softmax_cuda(const SoftmaxArgs& a, int device) {
  if (a.outer * a.r * a.inner == 0) return;
  const char* op = a.log ? "log_softmax" : "softmax";
  cuda::DeviceGuard guard(device);
  for_float(a.dtype, op, "CUDA", [&](auto t) {
    using T = decltype(t);
    auto* y = static_cast<T*>(a.y);
    auto* x = static_cast<const T*>(a.x);
    if (a.inner == 1) {
      softmax_rows_kernel<T>
          <<<row_blocks(a.outer), kRowThreads, 0, cuda::stream(device)>>>(y, x, a.outer, a.r, a.log);
    } else {
      softmax_lines_kernel<T><<<cuda::grid_for(a.outer * a.inner), cuda::kThreads, 0, cuda::stream(device)>>>(
          y, x, a.outer, a.r, a.inner, a.log);
    }
  });
  cuda::check_launch(op, device);
}

void softmax_backward_cuda(const SoftmaxBackwardArgs& a, int device) {
  if (a.outer * a.r * a.inner == 0) return;
  const char* op = a.log ? "log_softmax" : "softmax";
  cuda::DeviceGuard guard(device);
  for_float(a.dtype, op, "CUDA", [&](auto t) {
    using T = decltype(t);
    auto* gx = static_cast<T*>(a.gx);
    auto* gy = static_cast<const T*>(a.gy);
    auto* y = static_cast<const T*>(a.y);
    if (a.inner == 1) {
      softmax_backward_rows_kernel<T>
          <<<row_blocks(a.outer), kRowThreads, 0, cuda::stream(device)>>>(gx, gy, y, a.outer, a.r, a.log);
    } else {
      softmax_backward_lines_kernel<T>
          <<<cuda::grid_for(a.outer * a.inner), cuda::kThreads, 0, cuda::stream(device)>>>(
              gx, gy, y, a.outer, a.r, a.inner, a.log);
    }
  });
  cuda::check_launch(op, device);
}

}  // namespace sra::kern
