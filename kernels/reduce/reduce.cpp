// The reduction dispatchers: the one switch from a device to its kernel (contracts in reduce.h).
#include "kernels/reduce/reduce.h"

#include "core/check.h"
#include "kernels/common/dtype_switch.h"
#include "kernels/common/zero_bytes.h"

namespace sra::kern {

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
