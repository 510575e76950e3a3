// f32 → bf16 on the device with the CPU's rounding (core/dtype.h: nearest even; a NaN stays a quiet NaN),
// for kernels that write a bf16 copy of their output (.cu files only). The value is the bit pattern.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace sra::kern {

struct Bf16Bits {
  uint16_t bits;
};

__device__ inline Bf16Bits to_bf16(float f) {
  uint32_t u = __float_as_uint(f);
  if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu)) return Bf16Bits{uint16_t((u >> 16) | 0x40)};
  u += 0x7fffu + ((u >> 16) & 1u);
  return Bf16Bits{uint16_t(u >> 16)};
}

}  // namespace sra::kern
