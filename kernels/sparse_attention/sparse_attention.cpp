// The sparse attention dispatchers: the one switch from a device to its kernel (contracts in
// sparse_attention.h), and the layout of the CUDA scratch.
#include "kernels/sparse_attention/sparse_attention.h"

#include <utility>

#include "core/check.h"
#include "kernels/common/dtype_switch.h"
#include "kernels/common/widen.h"
#include "kernels/common/zero_bytes.h"

namespace sra::kern {

namespace {

bool empty(const SparseAttentionDims& m) {
  return m.batch * m.heads * m.t * m.d == 0;
}

size_t align256(size_t n) {
  return (n + 255) / 256 * 256;
}

}  // namespace

SparseAttentionScratch sparse_attention_scratch(Device device, DType dtype, const SparseAttentionDims& m,
                                                bool backward) {
  SparseAttentionScratch s;
  if (!device.is_cuda() || empty(m)) return s;
  const size_t elem = dtype_size(dtype);
  size_t at = 0;
  auto part = [&](size_t bytes) {
    const size_t off = at;
    at += align256(bytes);
    return off;
  };
  s.fpos = part(size_t(m.batch * m.t) * sizeof(int32_t));
  s.before = part(size_t(m.batch * (m.t + 1)) * sizeof(int32_t));
  if (backward) {
    s.delta = part(size_t(m.batch * m.heads * m.t) * elem);
    s.fdg = part(size_t(m.batch * m.kv_heads * m.t) * elem);
  }
  s.bytes = at;
  return s;
}

void sparse_attention_forward(Device d, const SparseAttentionArgs& a) {
  if (empty(a.dims)) return;
  SRA_ASSERT(a.in_dtype == a.dtype || (a.in_dtype == DType::bf16 && a.dtype == DType::f32));
  SRA_ASSERT(sparse_attention_takes_rows(d, a.in_dtype, a.dims.d) ||
                 a.rows.dense(a.dims.heads, a.dims.kv_heads, a.dims.t, a.dims.t, a.dims.d),
             "[sparse_attention] strided rows reach a kernel that takes dense operands");
  if (d.is_cuda()) return sparse_attention_forward_cuda(a, d.index);
  if (a.in_dtype == DType::bf16) {  // the oracle: widened inputs, the f32 kernel
    const SparseAttentionDims& m = a.dims;
    const int64_t nq = m.batch * m.heads * m.t * m.d, nk = m.batch * m.kv_heads * m.t * m.d;
    const std::vector<float> q = widen_bf16(a.q, nq), k = widen_bf16(a.k, nk), v = widen_bf16(a.v, nk);
    return sparse_attention_forward_cpu<float>(static_cast<float*>(a.out), static_cast<float*>(a.lse),
                                               q.data(), k.data(), v.data(), a.selected,
                                               static_cast<const float*>(a.gate), m);
  }
  for_float(a.dtype, "sparse_attention", "cpu", [&](auto t) {
    using T = decltype(t);
    sparse_attention_forward_cpu<T>(static_cast<T*>(a.out), static_cast<T*>(a.lse),
                                    static_cast<const T*>(a.q), static_cast<const T*>(a.k),
                                    static_cast<const T*>(a.v), a.selected, static_cast<const T*>(a.gate),
                                    a.dims);
  });
}

void sparse_attention_backward(Device d, const SparseAttentionBackwardArgs& a) {
  const SparseAttentionDims& m = a.dims;
  if (empty(m)) {  // nothing attends: dk, dv and dgate are zeros (dq is empty)
    const size_t elem = dtype_size(a.dtype), kv = size_t(m.batch * m.kv_heads * m.t * m.d) * elem;
    const size_t gate = size_t(m.batch * m.t) * elem;
    zero_bytes(d, a.dk, kv);
    zero_bytes(d, a.dv, kv);
    return zero_bytes(d, a.dgate, gate);
  }
  SRA_ASSERT(a.in_dtype == a.dtype || (a.in_dtype == DType::bf16 && a.dtype == DType::f32));
  SRA_ASSERT(
      sparse_attention_takes_rows(d, a.in_dtype, m.d) || a.rows.dense(m.heads, m.kv_heads, m.t, m.t, m.d),
      "[sparse_attention] strided rows reach a kernel that takes dense operands");
  if (d.is_cuda()) return sparse_attention_backward_cuda(a, d.index);
  if (a.in_dtype == DType::bf16) {  // the oracle: widened inputs, the f32 kernel
    const int64_t nq = m.batch * m.heads * m.t * m.d, nk = m.batch * m.kv_heads * m.t * m.d;
    const std::vector<float> q = widen_bf16(a.q, nq), k = widen_bf16(a.k, nk), v = widen_bf16(a.v, nk);
    const std::vector<float> dout = widen_bf16(a.dout, nq);
    return sparse_attention_backward_cpu<float>(
        static_cast<float*>(a.dq), static_cast<float*>(a.dk), static_cast<float*>(a.dv),
        static_cast<float*>(a.dgate), dout.data(), q.data(), k.data(), v.data(), a.selected,
        static_cast<const float*>(a.gate), static_cast<const float*>(a.out), static_cast<const float*>(a.lse),
        m);
  }
  for_float(a.dtype, "sparse_attention", "cpu", [&](auto t) {
    using T = decltype(t);
    sparse_attention_backward_cpu<T>(static_cast<T*>(a.dq), static_cast<T*>(a.dk), static_cast<T*>(a.dv),
                                     static_cast<T*>(a.dgate), static_cast<const T*>(a.dout),
                                     static_cast<const T*>(a.q), static_cast<const T*>(a.k),
                                     static_cast<const T*>(a.v), a.selected, static_cast<const T*>(a.gate),
                                     static_cast<const T*>(a.out), static_cast<const T*>(a.lse), a.dims);
  });
}

}  // namespace sra::kern
