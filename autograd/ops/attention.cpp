// attention: q (B, H, T, D), k and v (B, Hkv, S, D) → out (B, H, T, D) with
//   out_t = Σ_j P_tj v_j,  P_t = softmax_j(q_t·k_j·scale) over the keys j ≤ t + S − T (causal) or all keys,
// query head h reading kv head h / (H / Hkv) (grouped-query attention); scale 0 means 1/√D.
// Backward, with Δ_t = Σ_d dout_td·out_td and dS = P∘(dout·vᵀ − Δ)·scale:
//   dq = dS·k,  dk = dSᵀ·q,  dv = Pᵀ·dout  (dk, dv summed over the query heads sharing a kv head).
// The kernel (kernels/attention) tiles with an online softmax and saves lse (B, H, T); backward recomputes
// P tile by tile from it, so no T×S buffer exists in either direction. The op runs on its inputs' device
// (they must share one): out, lse, the gradients and the backward scratch are allocated there and the
// kernels are reached through their dispatchers.
// Under AutocastGuard(bf16) with f32 inputs (autograd/autocast.h) q, k, v and, in backward, dout are
// rounded to bf16 (cached casts) and, for D = 64 or 128, the bf16 kernels run (tensor cores on CUDA; the
// widened inputs through the f32 kernel on the CPU, the oracle); out and the gradients stay f32. Other D
// widen the rounded inputs back to f32 and run the f32 kernels. The forward decides for the backward.
#include "kernels/attention/attention.h"

#include <cmath>

#include "autograd/autocast.h"
#include "autograd/ops/common.h"

namespace sra {

Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, bool causal, double scale) {
  const char* op = "attention";
  detail::require_float(op, q, "q");
  detail::require_float(op, k, "k");
  detail::require_float(op, v, "v");
  detail::require_same_device(op, {&q, &k, &v});
  SRA_CHECK(q.dtype() == k.dtype() && q.dtype() == v.dtype(), "[attention] dtype mismatch: q ",
            dtype_name(q.dtype()), ", k ", dtype_name(k.dtype()), ", v ", dtype_name(v.dtype()));
  SRA_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4,
            "[attention] q must be (B, H, T, D) and k, v (B, Hkv, S, D); got q ", shape_str(q.shape()),
            ", k ", shape_str(k.shape()), ", v ", shape_str(v.shape()));
  SRA_CHECK(k.shape() == v.shape(), "[attention] k ", shape_str(k.shape()), " and v ", shape_str(v.shape()),
            " must have the same shape");
  SRA_CHECK(q.size(0) == k.size(0) && q.size(3) == k.size(3), "[attention] q ", shape_str(q.shape()),
            " does not match k ", shape_str(k.shape()), " (batch and head dim must agree)");
  const int64_t B = q.size(0), H = q.size(1), T = q.size(2), D = q.size(3), Hkv = k.size(1), S = k.size(2);
  SRA_CHECK(Hkv > 0 && H % Hkv == 0, "[attention] q heads ", H, " are not a multiple of kv heads ", Hkv,
            ": q ", shape_str(q.shape()), ", k ", shape_str(k.shape()));
  SRA_CHECK(D > 0, "[attention] head dim is 0: q ", shape_str(q.shape()));
  SRA_CHECK(!causal || S >= T,
            "[attention] causal attention needs at least as many keys as queries (S >= T): q ",
            shape_str(q.shape()), ", k ", shape_str(k.shape()));
  SRA_CHECK(S > 0 || T == 0, "[attention] no keys to attend to: q ", shape_str(q.shape()), ", k ",
            shape_str(k.shape()));
  SRA_CHECK(std::isfinite(scale), "[attention] scale must be finite, got ", scale);

  kern::AttentionDims dims;
  dims.batch = B, dims.heads = H, dims.kv_heads = Hkv, dims.t = T, dims.s = S, dims.d = D;
  dims.causal = causal;
  dims.scale = scale == 0.0 ? 1.0 / std::sqrt(double(D)) : scale;

  // copies, not recorded: gradients flow to q, k, v directly. Where the kernel takes strided rows (CUDA,
  // bf16), q, k, v are read in their own layouts and out (B, H, T, D) is laid out (B, T, H, D), the
  // layout its transpose back to the output projection wants; dq, dk, dv follow q, k, v.
  const Device dev = q.device();
  const detail::AttentionOperands ops = detail::attention_operands(
      q, k, v, kern::attention_bf16_head_dim(D), kern::attention_takes_rows(dev, DType::bf16, D));
  const bool cast = ops.cast, rows = ops.rows;
  const Tensor &qc = ops.q, &kc = ops.k, &vc = ops.v;
  const DType dt = q.dtype(), in_dt = qc.dtype();
  Tensor out = detail::attention_out(rows, q.shape(), dt, dev);
  Tensor lse = Tensor::empty({B, H, T}, dt, dev);
  const kern::AttentionRows fwd_rows = detail::forward_rows(ops, out);
  kern::attention_forward(dev,
                          {dt, in_dt, out.raw(), lse.raw(), qc.raw(), kc.raw(), vc.raw(), dims, fwd_rows});

  if (needs_grad({q, k, v})) {
    const Shape sq = detail::attention_grad_strides(q, rows), sk = detail::attention_grad_strides(k, rows),
                sv = detail::attention_grad_strides(v, rows);
    record("attention", {q, k, v}, {out}, {qc, kc, vc, out, lse},
           [qc, kc, vc, out, lse, dims, dev, dt, in_dt, cast, rows, fwd_rows, sq, sk,
            sv](const std::vector<Tensor>& g) -> std::vector<Tensor> {
             Tensor gout = cast ? detail::attention_dout_bf16(g[0], rows) : detail::dense(g[0]);
             if (cast && in_dt == DType::f32) gout = gout.to(DType::f32);
             Tensor dq = detail::empty_in_order(qc.shape(), sq, dt, dev);
             Tensor dk = detail::empty_in_order(kc.shape(), sk, dt, dev);
             Tensor dv = detail::empty_in_order(vc.shape(), sv, dt, dev);
             const kern::AttentionRows bwd_rows = detail::backward_rows(fwd_rows, gout, dq, dk, dv);
             detail::Scratch scratch(kern::attention_backward_scratch_bytes(dev, dt, dims), dev);
             kern::attention_backward(
                 dev, {dt, in_dt, dq.raw(), dk.raw(), dv.raw(), gout.raw(), qc.raw(), kc.raw(), vc.raw(),
                       out.raw(), lse.raw(), dims, scratch.data(), scratch.size(), bwd_rows});
             return {dq, dk, dv};
           });
  }
  return out;
}

}  // namespace sra
