// The k-th smallest of n values (0-based: k = 0 is the minimum), as one value on the call's device:
//   out[0] = sorted(x)[k],   0 <= k < n
// in the total order of the values' sort keys: a float's bits mapped to an unsigned integer that orders
// like the number (sign bit set: all bits flipped; else the sign bit set), with every NaN replaced by the
// largest key first. So -0 < +0, NaN ranks above +inf (and comes out as the quiet NaN of that key), and
// the answer is one bit pattern on every device. On inputs without NaN and signed zeros it is
// std::nth_element's value under `<`.
// CPU (kth_smallest_cpu.cpp): std::nth_element over the keys. CUDA (kth_smallest_cuda.cu): an 8-bit radix
// select in one block: per pass, a histogram of the next 8 bits of the keys that match the prefix chosen
// so far (integer shared-memory counts: the same for any order of the additions), then the bucket that
// holds rank k; 4 passes for f32, 8 for f64, each a read of x. Deterministic, no host read. n < 2^31.
// Used for the router's threshold update (the (1 − ρ)-quantile of a step's scores, model/router.h).
// Callers use the dispatcher kth_smallest (kth_smallest.cpp). T = float or double.
#pragma once
#include <cstdint>

#include "core/device.h"
#include "core/dtype.h"

namespace sra::kern {

struct KthSmallestArgs {  // pointers on the call's device; x contiguous
  DType dtype;            // f32 | f64
  void* out;              // one element
  const void* x;
  int64_t n, k;  // 0 <= k < n < 2^31
};

void kth_smallest(Device device, const KthSmallestArgs& args);
void kth_smallest_cuda(const KthSmallestArgs& args, int device);

template <typename T>
T kth_smallest_cpu(const T* x, int64_t n, int64_t k);

}  // namespace sra::kern
