// Inverted dropout with a counter-based mask. Element i draws u = uniform_open_f32(w0) from
// w = philox4x32(counter = base + i, stream, key) (core/philox.h; the same u for f32 and f64, so the mask
// does not depend on the dtype, the thread count or the device: the CUDA kernel calls the same inline
// Philox, and u ≥ p compares exactly, so CPU and CUDA masks are identical):
//   forward   mask[i] = u ≥ p,  y[i] = mask[i] ? x[i] · scale : 0,  scale = 1 / (1 − p)
//   apply     y[i] = mask[i] ? x[i] · scale : 0  (the backward, with the saved mask: gx = apply(gy))
// Callers use the dispatchers dropout / dropout_apply (dropout.cpp). T = float or double.
#pragma once
#include <cstdint>

#include "core/device.h"
#include "core/dtype.h"

namespace sra::kern {

struct DropoutArgs {  // n contiguous elements on the call's device
  DType dtype;        // f32 | f64
  void* y;
  uint8_t* mask;
  const void* x;
  int64_t n;
  double p;
  uint64_t base, stream, key;
};
struct DropoutApplyArgs {
  DType dtype;
  void* y;
  const void* x;
  const uint8_t* mask;
  int64_t n;
  double scale;
};

void dropout(Device device, const DropoutArgs& args);
void dropout_apply(Device device, const DropoutApplyArgs& args);
void dropout_cuda(const DropoutArgs& args, int device);
void dropout_apply_cuda(const DropoutApplyArgs& args, int device);

template <typename T>
void dropout_cpu(T* y, uint8_t* mask, const T* x, int64_t n, double p, uint64_t base, uint64_t stream,
                 uint64_t key);
template <typename T>
void dropout_apply_cpu(T* y, const T* x, const uint8_t* mask, int64_t n, double scale);

}  // namespace sra::kern
