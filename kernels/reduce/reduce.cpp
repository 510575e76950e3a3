// The reduction dispatchers: the one switch from a device to its kernel (contracts in reduce.h).
#include "kernels/reduce/reduce.h"

#include <algorithm>

#include "core/check.h"
#include "kernels/common/dtype_switch.h"
#include "kernels/common/zero_bytes.h"

namespace sra::kern {

int64_t sum_cuda_chunks(int64_t outer, int64_t r, int64_t inner) {
  const int64_t n_out = outer * inner;
  if (n_out == 0 || n_out >= kSumSplitOutputs || r < 2 * kSumChunkRows) return 1;
  int64_t chunks = std::min(kSumMaxChunks, r / kSumChunkRows);
  return std::max<int64_t>(1, std::min(chunks, kSumTargetThreads / n_out));
}

size_t sum_scratch_bytes(Device device, int64_t outer, int64_t r, int64_t inner) {
  const int64_t chunks = device.is_cuda() ? sum_cuda_chunks(outer, r, inner) : 1;
  return chunks == 1 ? 0 : size_t(chunks * outer * inner) * sizeof(double);
}

void sum(Device d, const ReduceArgs& a) {
  if (a.r == 0) {  // an empty sum is 0
    return zero_bytes(d, a.out, size_t(a.outer * a.inner) * dtype_size(a.dtype));
  }
  if (d.is_cuda()) return sum_cuda(a, d.index);
  for_float(a.dtype, "sum", "cpu", [&](auto t) {
    using T = decltype(t);
    sum_cpu<T>(static_cast<T*>(a.out), static_cast<const T*>(a.x), a.outer, a.r, a.inner);
  });
}

void max(Device d, const ReduceArgs& a, int64_t* idx) {
  if (d.is_cuda()) return max_cuda(a, idx, d.index);
  for_float(a.dtype, "max", "cpu", [&](auto t) {
    using T = decltype(t);
    max_cpu<T>(static_cast<T*>(a.out), idx, static_cast<const T*>(a.x), a.outer, a.r, a.inner);
  });
}

}  // namespace sra::kern
