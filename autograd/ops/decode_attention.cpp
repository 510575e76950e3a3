// decode_attention: q (B, H, D) against each sequence's KV-cache parts (contract in autograd/ops.h and
// kernels/decode_attention/decode_attention.h). Checks every part against q, builds the host table of
// raw pointers the kernel reads (the CUDA entry copies it up through the pinned staging ring), allocates
// out and the scratch on q's device. Not recorded: inference only.
#include "kernels/decode_attention/decode_attention.h"

#include <cmath>

#include "autograd/ops/common.h"

namespace sra {

namespace {

void check_part(const Tensor& q, const KVPart& p, size_t b, int i) {
  const char* op = "decode_attention";
  SRA_CHECK(p.rows >= 0, "[decode_attention] sequence ", b, " part ", i, ": rows must be >= 0, got ", p.rows);
  if (p.rows == 0) return;
  SRA_CHECK(p.k.defined() && p.v.defined(), "[decode_attention] sequence ", b, " part ", i,
            " has rows but no buffers");
  detail::require_same_device(op, {&q, &p.k, &p.v});
  SRA_CHECK(p.k.dtype() == q.dtype() && p.v.dtype() == q.dtype(), "[decode_attention] dtype mismatch: q ",
            dtype_name(q.dtype()), ", sequence ", b, " part ", i, " k ", dtype_name(p.k.dtype()), ", v ",
            dtype_name(p.v.dtype()));
  SRA_CHECK(p.k.dim() == 3 && p.k.shape() == p.v.shape() && p.k.is_contiguous() && p.v.is_contiguous() &&
                p.k.size(2) == q.size(2) && q.size(1) % p.k.size(0) == 0 && p.rows <= p.k.size(1),
            "[decode_attention] sequence ", b, " part ", i,
            ": k, v must be contiguous (Hkv, capacity, D) with D ", q.size(2), ", Hkv dividing ", q.size(1),
            " and capacity >= rows ", p.rows, "; got k ", shape_str(p.k.shape()), ", v ",
            shape_str(p.v.shape()));
  SRA_CHECK(!p.k.requires_grad() && !p.v.requires_grad(),
            "[decode_attention] has no gradient: the cached k, v must not require grad");
}

}  // namespace

Tensor decode_attention(const Tensor& q, const std::vector<std::array<KVPart, 2>>& parts, double scale) {
  detail::require_float("decode_attention", q, "q");
  SRA_CHECK(q.dim() == 3, "[decode_attention] q must be (B, H, D), got ", shape_str(q.shape()));
  SRA_CHECK(!q.requires_grad(), "[decode_attention] has no gradient: q must not require grad");
  const int64_t B = q.size(0), H = q.size(1), D = q.size(2);
  SRA_CHECK(int64_t(parts.size()) == B, "[decode_attention] q has ", B, " sequences but ", parts.size(),
            " sets of cache parts were given");
  SRA_CHECK(std::isfinite(scale), "[decode_attention] scale must be finite, got ", scale);
  std::vector<kern::DecodePart> table(parts.size() * kern::kDecodeParts);
  int64_t hkv = 0, s_max = 0;
  for (size_t b = 0; b < parts.size(); ++b) {
    int64_t rows = 0;
    for (int i = 0; i < kern::kDecodeParts; ++i) {
      const KVPart& p = parts[b][size_t(i)];
      check_part(q, p, b, i);
      if (p.rows == 0) continue;
      SRA_CHECK(hkv == 0 || p.k.size(0) == hkv,
                "[decode_attention] every part must have the same kv heads: ", hkv, " and ", p.k.size(0));
      hkv = p.k.size(0);
      table[b * kern::kDecodeParts + size_t(i)] = {p.k.raw(), p.v.raw(), p.rows, p.k.size(1)};
      rows += p.rows;
    }
    SRA_CHECK(rows > 0, "[decode_attention] sequence ", b, " has no cached keys to attend to");
    s_max = std::max(s_max, rows);
  }
  const Device dev = q.device();
  Tensor qc = detail::dense(q);
  Tensor out = Tensor::empty(q.shape(), q.dtype(), dev);
  if (B == 0 || H == 0) return out;
  detail::Scratch scratch(kern::decode_attention_scratch_bytes(dev, q.dtype(), B, H, D, s_max), dev);
  kern::DecodeAttentionArgs a;
  a.dtype = q.dtype();
  a.out = out.raw();
  a.q = qc.raw();
  a.parts = table.data();
  a.batch = B, a.heads = H, a.kv_heads = hkv, a.d = D;
  a.scale = scale == 0.0 ? 1.0 / std::sqrt(double(D)) : scale;
  a.scratch = scratch.data();
  a.scratch_bytes = scratch.size();
  kern::decode_attention(dev, a);
  return out;
}

}  // namespace sra
