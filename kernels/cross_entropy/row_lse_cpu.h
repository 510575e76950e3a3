// One row of logits x (v) on the CPU: m = max_k x[k] (0 when every x[k] is −inf) and s = Σ_k exp(x[k] − m)
// summed in double, so log-sum-exp = m + log s. Shared by cross_entropy_cpu and linear_cross_entropy's
// chunk kernel (the same expression, so their losses agree bit for bit).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

namespace sra::kern {

template <typename T>
void row_max_sumexp_cpu(const T* row, int64_t v, T& m, double& s) {
  m = row[0];
  for (int64_t k = 1; k < v; ++k) m = std::max(m, row[k]);
  if (std::isinf(m) && m < 0) m = T(0);
  s = 0;
  for (int64_t k = 0; k < v; ++k) s += double(std::exp(row[k] - m));
}

}  // namespace sra::kern
