// The noise dispatcher: the one switch from a device to its kernel (contract in random.h).
#include "kernels/random/random.h"

#include "kernels/common/dtype_switch.h"

namespace sra::kern {

void random(Device d, const RandomArgs& a) {
  if (a.n == 0) return;
  if (d.is_cuda()) return random_cuda(a, d.index);
  for_float(a.dtype, "random", "cpu", [&](auto t) {
    using T = decltype(t);
    random_cpu<T>(a.kind, static_cast<T*>(a.out), a.n, a.base, a.stream, a.key);
  });
}

}  // namespace sra::kern
