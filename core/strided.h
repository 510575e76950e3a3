// Strided N-d iteration shared by the strided copy (core/strided_copy.cpp) and the elementwise kernels.
//
// StridedLoop<K> describes K operands over one shape: dims are coalesced where every operand is
// contiguous across the boundary, then the last dim is the "inner" run; rows() is the product of the
// others. row_offsets(r) gives each operand's element offset at the start of row r.
#pragma once
#include <array>
#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace sra {

template <int K>
struct StridedLoop {
  std::vector<int64_t> shape;                   // coalesced, at least one dim
  std::vector<std::array<int64_t, K>> strides;  // per dim, per operand

  StridedLoop(const Shape& s, const std::array<const Shape*, K>& st) {
    for (size_t d = 0; d < s.size(); ++d) {
      if (s[d] == 1) continue;
      std::array<int64_t, K> sd;
      for (int k = 0; k < K; ++k) sd[k] = (*st[k])[d];
      if (!shape.empty()) {
        bool merge = true;
        for (int k = 0; k < K; ++k) merge = merge && strides.back()[k] == sd[k] * s[d];
        if (merge) {
          shape.back() *= s[d];
          strides.back() = sd;
          continue;
        }
      }
      shape.push_back(s[d]);
      strides.push_back(sd);
    }
    if (shape.empty()) {
      shape.push_back(1);
      strides.push_back({});
    }
    for (int64_t n : s)
      if (n == 0) shape.back() = 0;
  }
  int64_t inner() const { return shape.back(); }
  const std::array<int64_t, K>& inner_strides() const { return strides.back(); }
  int64_t rows() const {
    int64_t r = 1;
    for (size_t d = 0; d + 1 < shape.size(); ++d) r *= shape[d];
    return r;
  }
  std::array<int64_t, K> row_offsets(int64_t r) const {
    std::array<int64_t, K> off{};
    for (int d = int(shape.size()) - 2; d >= 0; --d) {
      int64_t i = r % shape[d];
      r /= shape[d];
      for (int k = 0; k < K; ++k) off[k] += i * strides[d][k];
    }
    return off;
  }
};

}  // namespace sra
