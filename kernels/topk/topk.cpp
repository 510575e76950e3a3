// The topk dispatcher: the one switch from a device to its kernel (contract in topk.h).
#include "kernels/topk/topk.h"

#include "core/check.h"
#include "kernels/common/dtype_switch.h"

namespace sra::kern {

void topk(Device d, const TopkArgs& a) {
  if (a.outer * a.k * a.inner == 0) return;
  if (d.is_cuda()) return topk_cuda(a, d.index);
  for_float(a.dtype, "topk", "cpu", [&](auto t) {
    using T = decltype(t);
    topk_cpu<T>(static_cast<T*>(a.values), a.indices, static_cast<const T*>(a.x), a.outer, a.r, a.inner, a.k);
  });
}

}  // namespace sra::kern
