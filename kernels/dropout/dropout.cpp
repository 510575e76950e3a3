// The dropout dispatchers: the one switch from a device to its kernel (contracts in dropout.h).
#include "kernels/dropout/dropout.h"

#include "core/check.h"
#include "kernels/common/dtype_switch.h"

namespace sra::kern {

void dropout(Device d, const DropoutArgs& a) {
  if (a.n == 0) return;
  if (d.is_cuda()) return dropout_cuda(a, d.index);
  for_float(a.dtype, "dropout", "cpu", [&](auto t) {
    using T = decltype(t);
    dropout_cpu<T>(static_cast<T*>(a.y), a.mask, static_cast<const T*>(a.x), a.n, a.p, a.base, a.stream,
                   a.key);
  });
}

void dropout_apply(Device d, const DropoutApplyArgs& a) {
  if (a.n == 0) return;
  if (d.is_cuda()) return dropout_apply_cuda(a, d.index);
  for_float(a.dtype, "dropout", "cpu", [&](auto t) {
    using T = decltype(t);
    dropout_apply_cpu<T>(static_cast<T*>(a.y), static_cast<const T*>(a.x), a.mask, a.n, a.scale);
  });
}

}  // namespace sra::kern
