// Comparing a result with its oracle in tests (CPU vs CUDA, bf16 vs f32): the values of two tensors on any
// devices, read as doubles (f32, f64 and bf16 convert exactly); and no_gpu() for the CUDA cases' skips.
//   rel_err = ‖got − want‖₂ / max(‖want‖₂, floor)
// INFINITY when the sizes differ or either holds a NaN, except that with skip_shared_nan a NaN in both at
// the same index is skipped (ops that map some inputs to NaN on both devices).
#pragma once
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/cuda_runtime.h"
#include "core/tensor.h"

namespace sra::test {

inline std::vector<double> host_values(const Tensor& t) {
  return t.to(Device::cpu()).to_vector<double>();
}

// For doctest::skip on the CUDA cases: true on a machine (or a build) without a usable GPU.
inline bool no_gpu() {
  return !cuda::available();
}

// a and b hold the same values (read as doubles: f32, f64 and bf16 convert exactly), NaN matching NaN at
// the same index; false when the element counts differ.
inline bool same_values(const Tensor& a, const Tensor& b) {
  const std::vector<double> x = host_values(a), y = host_values(b);
  if (x.size() != y.size()) return false;
  for (size_t i = 0; i < x.size(); ++i)
    if (!(x[i] == y[i] || (std::isnan(x[i]) && std::isnan(y[i])))) return false;
  return true;
}

inline double rel_err(const Tensor& got, const Tensor& want, double floor = 1e-300,
                      bool skip_shared_nan = false) {
  const std::vector<double> a = host_values(got), b = host_values(want);
  if (a.size() != b.size()) return INFINITY;
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) || std::isnan(b[i])) {
      if (skip_shared_nan && std::isnan(a[i]) && std::isnan(b[i])) continue;
      return INFINITY;
    }
    num += (a[i] - b[i]) * (a[i] - b[i]);
    den += b[i] * b[i];
  }
  return std::sqrt(num) / std::max(std::sqrt(den), floor);
}

}  // namespace sra::test
