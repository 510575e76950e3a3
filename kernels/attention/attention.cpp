// The attention dispatchers: the one switch from a device to its kernel (contracts in attention.h).
#include "kernels/attention/attention.h"

#include "kernels/common/dtype_switch.h"
#include "kernels/common/zero_bytes.h"

namespace sra::kern {

void attention_forward(Device d, const AttentionArgs& a) {
  const AttentionDims& m = a.dims;
  if (m.batch * m.heads * m.t == 0) return;  // no query rows: out and lse are empty
  if (d.is_cuda()) return attention_forward_cuda(a, d.index);
  for_float(a.dtype, "attention", "cpu", [&](auto t) {
    using T = decltype(t);
    attention_forward_cpu<T>(static_cast<T*>(a.out), static_cast<T*>(a.lse), static_cast<const T*>(a.q),
                             static_cast<const T*>(a.k), static_cast<const T*>(a.v), m);
  });
}

void attention_backward(Device d, const AttentionBackwardArgs& a) {
  const AttentionDims& m = a.dims;
  if (m.batch * m.heads * m.t == 0) {  // no query rows: dq is empty, dk = dv = 0
    const size_t bytes = size_t(m.batch * m.kv_heads * m.s * m.d) * dtype_size(a.dtype);
    zero_bytes(d, a.dk, bytes);
    return zero_bytes(d, a.dv, bytes);
  }
  if (d.is_cuda()) return attention_backward_cuda(a, d.index);
  for_float(a.dtype, "attention", "cpu", [&](auto t) {
    using T = decltype(t);
    attention_backward_cpu<T>(static_cast<T*>(a.dq), static_cast<T*>(a.dk), static_cast<T*>(a.dv),
                              static_cast<const T*>(a.dout), static_cast<const T*>(a.q),
                              static_cast<const T*>(a.k), static_cast<const T*>(a.v),
                              static_cast<const T*>(a.out), static_cast<const T*>(a.lse), m);
  });
}

size_t attention_backward_scratch_bytes(Device d, DType dtype, const AttentionDims& m) {
  if (!d.is_cuda()) return 0;
  return size_t(m.batch * m.heads * m.t) * dtype_size(dtype);  // Δ, one value per query row
}

}  // namespace sra::kern
