// bf16 → f32 on the host (exact): the CPU oracles of the bf16 kernels widen their inputs and run f32.
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

}  // namespace sra::kern
