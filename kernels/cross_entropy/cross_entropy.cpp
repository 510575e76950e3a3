// The cross-entropy dispatchers: the one switch from a device to its kernel (contracts in cross_entropy.h).
// On the CPU the loss is the reference's row-order double sum divided by the kept count, as a T.
#include "kernels/cross_entropy/cross_entropy.h"

#include "core/check.h"
#include "kernels/common/dtype_switch.h"

namespace sra::kern {

void cross_entropy(Device d, const CrossEntropyArgs& a) {
  if (d.is_cuda()) return cross_entropy_cuda(a, d.index);
  for_float(a.dtype, "cross_entropy", "cpu", [&](auto tag) {
    using T = decltype(tag);
    double total = 0;
    if (a.n > 0)
      total = cross_entropy_cpu<T>(static_cast<T*>(a.mx), static_cast<T*>(a.ls), static_cast<const T*>(a.x),
                                   a.t, a.n, a.v, a.ignore_index);
    int64_t kept = 0;
    for (int64_t r = 0; r < a.n; ++r) kept += a.t[r] != a.ignore_index ? 1 : 0;
    *a.kept = kept;
    *static_cast<T*>(a.loss) = T(kept > 0 ? total / double(kept) : 0.0);
  });
}

void cross_entropy_backward(Device d, const CrossEntropyBackwardArgs& a) {
  if (a.n == 0) return;
  if (d.is_cuda()) return cross_entropy_backward_cuda(a, d.index);
  for_float(a.dtype, "cross_entropy", "cpu", [&](auto tag) {
    using T = decltype(tag);
    int64_t kept = *a.kept;
    double scale = kept > 0 ? double(*static_cast<const T*>(a.grad)) / double(kept) : 0.0;
    cross_entropy_backward_cpu<T>(static_cast<T*>(a.gx), static_cast<const T*>(a.x),
                                  static_cast<const T*>(a.mx), static_cast<const T*>(a.ls), a.t, a.n, a.v,
                                  a.ignore_index, scale);
  });
}

}  // namespace sra::kern
