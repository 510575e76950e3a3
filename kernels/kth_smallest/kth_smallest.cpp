// The kth_smallest dispatcher: the one switch from a device to its kernel (contract in kth_smallest.h).
#include "kernels/kth_smallest/kth_smallest.h"

#include "core/check.h"
#include "kernels/common/dtype_switch.h"

namespace sra::kern {

void kth_smallest(Device d, const KthSmallestArgs& a) {
  SRA_CHECK(a.k >= 0 && a.k < a.n, "[kth_smallest] k = ", a.k, " is outside [0, ", a.n, ")");
  SRA_CHECK(a.n < (int64_t(1) << 31), "[kth_smallest] ", a.n, " values: at most 2^31 - 1");
  if (d.is_cuda()) return kth_smallest_cuda(a, d.index);
  for_float(a.dtype, "kth_smallest", "cpu", [&](auto t) {
    using T = decltype(t);
    static_cast<T*>(a.out)[0] = kth_smallest_cpu<T>(static_cast<const T*>(a.x), a.n, a.k);
  });
}

}  // namespace sra::kern
