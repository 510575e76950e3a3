// The sum every host-side backend (tcp, mpi) computes at rank 0: the ranks' buffers added in rank order
// (r0 + r1 + ... in the dtype's accumulator: f32 for f32 and bf16, f64 for f64), then written back in the
// tensor's dtype. One definition, so the backends give the same bits.
#pragma once
#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace sra::dist {

class RankSum {
 public:
  RankSum(int64_t n, DType dtype);
  void add(const void* x);      // the next rank's n elements of dtype
  void write(void* out) const;  // the sum, as n elements of dtype

 private:
  int64_t n_;
  DType dtype_;
  std::vector<double> acc64_;
  std::vector<float> acc32_;
};

}  // namespace sra::dist
