// Softmax over the middle axis of a contiguous (outer, R, inner) view (R = the softmax dim), per line
// x[o, ·, i] with m = max_r x and s = Σ_r exp(x − m) (accumulated in double):
//   softmax      y = exp(x − m) / s             backward  gx = y · (gy − Σ_r gy·y)
//   log_softmax  y = (x − m) − log s             backward  gx = gy − exp(y) · Σ_r gy
// T = float or double. CPU: each line is handled by one thread in a fixed order. CUDA (softmax_cuda.cu):
// inner == 1: one block per row, max and Σ through a fixed-shape tree (Σ in double); inner > 1: one thread
// per line, r in order (as the CPU). Either way the result never depends on the launch.
// Callers use the dispatchers softmax / softmax_backward (softmax.cpp).
#pragma once
#include <cstdint>

#include "core/device.h"
#include "core/dtype.h"

namespace sra::kern {

struct SoftmaxArgs {  // pointers on the call's device; x, y contiguous (outer, r, inner)
  DType dtype;        // f32 | f64
  void* y;
  const void* x;
  int64_t outer, r, inner;
  bool log;  // log_softmax
};

struct SoftmaxBackwardArgs {  // pointers on the call's device; all contiguous (outer, r, inner)
  DType dtype;
  void* gx;
  const void* gy;
  const void* y;  // the forward's output
  int64_t outer, r, inner;
  bool log;
};

void softmax(Device device, const SoftmaxArgs& args);
void softmax_backward(Device device, const SoftmaxBackwardArgs& args);

void softmax_cuda(const SoftmaxArgs& args, int device);
void softmax_backward_cuda(const SoftmaxBackwardArgs& args, int device);

template <typename T>
void softmax_cpu(T* y, const T* x, int64_t outer, int64_t r, int64_t inner, bool log);
template <typename T>
void softmax_backward_cpu(T* gx, const T* gy, const T* y, int64_t outer, int64_t r, int64_t inner, bool log);

}  // namespace sra::kern
