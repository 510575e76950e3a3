// Counter-based noise (Philox4x32-10, core/philox.h). Element i of a draw uses the block
// w = philox4x32(counter = base + i, stream, key) and nothing else, so values never depend on the thread
// count or the launch shape, and the CUDA kernel (random_cuda.cu) computes them from the same inline
// Philox and uniforms as the CPU (random_cpu.cpp): the words and the uniforms are equal bit for bit on both.
// With u(w) = uniform_open_f32(w0) for f32 and uniform_open_f64(w0, w1) for f64 (both in (0, 1)):
//   uniform   y = u(w)
//   normal    y = √(−2 ln u1) · cos(2π u2)  (Box–Muller; u1 = u(w), u2 from the block's other words:
//             uniform_open_f32(w1) for f32, uniform_open_f64(w2, w3) for f64)
//   gumbel    y = −ln(−ln u)
//   logistic  y = ln u − ln(1 − u)   (ln(1 − u) as log1p(−u))
// The transforms are evaluated in double and rounded to T once, on both devices; the device's double
// log/log1p/sqrt/cos may differ from glibc's in the last bit, so f64 normal/gumbel/logistic values can
// differ by an ulp or so, and f32 ones only when that ulp crosses a float rounding boundary (uniform
// values are identical in both dtypes).
// Callers use the dispatcher random(device, args) (random.cpp). T = float or double.
#pragma once
#include <cstdint>

#include "core/device.h"
#include "core/dtype.h"

namespace sra::kern {

enum class Noise { uniform, normal, gumbel, logistic };

struct RandomArgs {  // out: n contiguous elements on the call's device
  Noise kind;
  DType dtype;  // f32 | f64
  void* out;
  int64_t n;
  uint64_t base, stream, key;
};

void random(Device device, const RandomArgs& args);
void random_cuda(const RandomArgs& args, int device);

template <typename T>
void random_cpu(Noise kind, T* out, int64_t n, uint64_t base, uint64_t stream, uint64_t key);

}  // namespace sra::kern
