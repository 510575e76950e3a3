// Rotary position embedding, Hugging Face Llama layout ("rotate_half"). x (B, H, T, D), D even, h = D/2,
// positions pos (T) shared by the batch or (B, T) (i64):
//   inv_freq[i] = theta^(−2i/D) (or its Llama 3 scaling: kernels/rope/rope_freq.h), angle[b, t, i] = pos[b,
//   t] · inv_freq[i]  (i < h; double, then cos and sin rounded to T) out[i]     = x[i] · cos − x[i + h] · sin
//   out[i + h] = x[i + h] · cos + x[i] · sin        (= x·cos + rotate_half(x)·sin, cos/sin duplicated)
// inverse = true rotates by −angle: the backward (the rotation is orthogonal, so gx = R(−angle)·gy).
// The CPU builds a cos/sin table per position; CUDA (rope_cuda.cu) builds the same table per block for a
// tile of positions in shared memory (inv_freq and the angle in double, cos and sin in double rounded to
// T) and applies it to every head. The device's double pow/cos/sin may differ from glibc's in the last bit:
// equal up to rounding. Callers use the dispatcher rope(device, args) (rope.cpp). T = float or double.
#pragma once
#include <array>
#include <cstdint>

#include "core/device.h"
#include "core/dtype.h"
#include "kernels/rope/rope_freq.h"

namespace sra::kern {

struct RopeArgs {      // on the call's device
  DType dtype;         // f32 | f64
  void* out;           // (b, h, t, d), strides os
  const void* x;       // (b, h, t, d), strides xs
  const int64_t* pos;  // (t) or (b, t), contiguous
  bool pos_per_batch;
  int64_t b, h, t, d;
  double theta;
  bool inverse;
  // Element strides of the b, h and t dims (d is contiguous in both): x may be a view such as the
  // (B, T, H, D) → (B, H, T, D) transpose of a projection's output, read in place.
  std::array<int64_t, 3> xs, os;
  // f32 only: also out rounded to bf16, laid out as out (out must then be a permutation of a dense
  // layout: it and out16 span b·h·t·d elements from their starts). The bf16 operand of the attention
  // GEMMs under autocast (autograd/autocast.h); CUDA writes it beside out, the CPU rounds out afterwards.
  void* out16 = nullptr;
  RopeScaling scaling = {};  // default: none
};

void rope(Device device, const RopeArgs& args);
void rope_cuda(const RopeArgs& args, int device);

template <typename T>
void rope_cpu(const RopeArgs& args);

}  // namespace sra::kern
