// The cumsum dispatcher: the one switch from a device to its kernel (contract in cumsum.h).
#include "kernels/cumsum/cumsum.h"

#include "core/check.h"
#include "kernels/common/dtype_switch.h"

namespace sra::kern {

void cumsum(Device d, const CumsumArgs& a) {
  if (a.outer * a.r * a.inner == 0) return;
  if (d.is_cuda()) return cumsum_cuda(a, d.index);
  for_float(a.dtype, "cumsum", "cpu", [&](auto t) {
    using T = decltype(t);
    cumsum_cpu<T>(static_cast<T*>(a.y), static_cast<const T*>(a.x), a.outer, a.r, a.inner, a.reverse);
  });
}

}  // namespace sra::kern
