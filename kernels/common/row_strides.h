// Where the rows of an attention operand lie. An operand (B, heads, T, D) has its head dim contiguous and
// row (b, h, t) at element b·b_ + h·h_ + t·t_ of its pointer. The model's q, k, v are head splits of a
// projection's (B, T, heads·D) output: b = T·heads·D, h = D, t = heads·D, so the bf16 attention kernels
// read (and write the gradients of) that layout in place instead of a transposed dense copy.
// All zero (the default) means dense (B, heads, T, D): b = heads·T·D, h = T·D, t = D.
#pragma once
#include <cstdint>

#include "kernels/common/host_device.h"

namespace sra::kern {

struct RowStrides {
  int64_t b = 0, h = 0, t = 0;  // elements

  SRA_HOST_DEVICE int64_t at(int64_t bi, int64_t hi, int64_t ti) const { return bi * b + hi * h + ti * t; }
  bool unset() const { return b == 0 && h == 0 && t == 0; }
};

// Whether rows at ptr with strides r suit a kernel that moves vectors of `elems` elements (`bytes` bytes):
// the pointer and every stride aligned to them (bf16 rows for cp.async: 8, 16; f32 float2 stores: 2, 8).
// A null ptr (an operand not passed) is fine.
inline bool rows_aligned(const void* ptr, const RowStrides& r, int64_t elems, int64_t bytes) {
  return ptr == nullptr || (reinterpret_cast<uintptr_t>(ptr) % uintptr_t(bytes) == 0 && r.b % elems == 0 &&
                            r.h % elems == 0 && r.t % elems == 0);
}

inline RowStrides dense_rows(int64_t heads, int64_t t, int64_t d) {
  return {heads * t * d, t * d, d};
}

// The row strides of every operand of one attention call; the gradients' apply to backward only.
struct AttentionRows {
  RowStrides q, k, v, out, dout, dq, dk, dv;

  // Unset entries become dense for (B, heads, T, D) queries and (B, kv_heads, S, D) keys.
  AttentionRows resolved(int64_t heads, int64_t kv_heads, int64_t t, int64_t s, int64_t d) const {
    AttentionRows r = *this;
    const RowStrides qd = dense_rows(heads, t, d), kd = dense_rows(kv_heads, s, d);
    for (RowStrides* x : {&r.q, &r.out, &r.dout, &r.dq})
      if (x->unset()) *x = qd;
    for (RowStrides* x : {&r.k, &r.v, &r.dk, &r.dv})
      if (x->unset()) *x = kd;
    return r;
  }
  // True when every entry is dense (unset or equal to the dense strides): what the CPU and f32 kernels take.
  bool dense(int64_t heads, int64_t kv_heads, int64_t t, int64_t s, int64_t d) const {
    const AttentionRows r = resolved(heads, kv_heads, t, s, d);
    const RowStrides qd = dense_rows(heads, t, d), kd = dense_rows(kv_heads, s, d);
    auto same = [](const RowStrides& a, const RowStrides& b) {
      return a.b == b.b && a.h == b.h && a.t == b.t;
    };
    return same(r.q, qd) && same(r.out, qd) && same(r.dout, qd) && same(r.dq, qd) && same(r.k, kd) &&
           same(r.v, kd) && same(r.dk, kd) && same(r.dv, kd);
  }
};

}  // namespace sra::kern
