// The attention dispatchers: the one switch from a device to its kernel (contracts in attention.h).
#include "kernels/attention/attention.h"

#include "core/check.h"
#include "kernels/common/dtype_switch.h"
#include "kernels/common/widen.h"
#include "kernels/common/zero_bytes.h"

namespace sra::kern {

void attention_forward(Device d, const AttentionArgs& a) {
  const AttentionDims& m = a.dims;
  if (m.batch * m.heads * m.t == 0) return;  // no query rows: out and lse are empty
  SRA_ASSERT(a.in_dtype == a.dtype || (a.in_dtype == DType::bf16 && a.dtype == DType::f32));
  SRA_ASSERT(attention_takes_rows(d, a.in_dtype, m.d) || a.rows.dense(m.heads, m.kv_heads, m.t, m.s, m.d),
             "[attention] strided rows reach a kernel that takes dense operands");
  if (d.is_cuda()) return attention_forward_cuda(a, d.index);
  if (a.in_dtype == DType::bf16) {  // the oracle: widened inputs, the f32 kernel
    const int64_t nq = m.batch * m.heads * m.t * m.d, nk = m.batch * m.kv_heads * m.s * m.d;
    const std::vector<float> q = widen_bf16(a.q, nq), k = widen_bf16(a.k, nk), v = widen_bf16(a.v, nk);
    return attention_forward_cpu<float>(static_cast<float*>(a.out), static_cast<float*>(a.lse), q.data(),
                                        k.data(), v.data(), m);
  }
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
  SRA_ASSERT(a.in_dtype == a.dtype || (a.in_dtype == DType::bf16 && a.dtype == DType::f32));
  SRA_ASSERT(attention_takes_rows(d, a.in_dtype, m.d) || a.rows.dense(m.heads, m.kv_heads, m.t, m.s, m.d),
             "[attention] strided rows reach a kernel that takes dense operands");
  if (d.is_cuda()) return attention_backward_cuda(a, d.index);
  if (a.in_dtype == DType::bf16) {  // the oracle: widened inputs, the f32 kernel
    const int64_t nq = m.batch * m.heads * m.t * m.d, nk = m.batch * m.kv_heads * m.s * m.d;
    const std::vector<float> q = widen_bf16(a.q, nq), k = widen_bf16(a.k, nk), v = widen_bf16(a.v, nk);
    const std::vector<float> dout = widen_bf16(a.dout, nq);
    return attention_backward_cpu<float>(
        static_cast<float*>(a.dq), static_cast<float*>(a.dk), static_cast<float*>(a.dv), dout.data(),
        q.data(), k.data(), v.data(), static_cast<const float*>(a.out), static_cast<const float*>(a.lse), m);
  }
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
