// bf16 ↔ f32 on the host: the CPU oracles of the bf16 kernels widen their inputs (exact) and run f32; the
// CPU kernels that also write a bf16 copy of their f32 output (rmsnorm, rope under autocast) narrow it
// (round to nearest even, as core/dtype.h's bf16).
#pragma once
#include <cstdint>
#include <vector>

#include "core/dtype.h"

namespace sra::kern {

// The n bf16 values at p, widened to f32.
inline std::vector<float> widen_bf16(const void* p, int64_t n) {
  const auto* src = static_cast<const bf16*>(p);
  std::vector<float> out(size_t(n < 0 ? 0 : n));
  for (size_t i = 0; i < out.size(); ++i) out[i] = float(src[i]);
  return out;
}

// dst[i] = bf16(src[i]) for i < n.
inline void narrow_bf16(void* dst, const float* src, int64_t n) {
  auto* out = static_cast<bf16*>(dst);
  for (int64_t i = 0; i < n; ++i) out[i] = bf16(src[i]);
}

}  // namespace sra::kern
