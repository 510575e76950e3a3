// sparse_attention: q (B, H, T, D), k and v (B, Hkv, T, D), selected (B, T) u8, gate (B, T) → out
// (B, H, T, D). Query i attends to A(i) = sinks(i) ∪ window(i) ∪ crit(i) (see autograd/sparse_attention.h)
// with weights a_ij = w_ij·e_ij, e_ij = exp(q_i·k_j·scale), w_ij = gate_j for crit(i) and 1 otherwise:
//   out_i = Σ_j a_ij v_j / Z_i,  Z_i = Σ_j a_ij,  P_ij = a_ij / Z_i;  query head h reads kv head h / (H /
//   Hkv).
// Backward, with Δ_i = dout_i·out_i and dS_ij = P_ij (dout_i·v_j − Δ_i)·scale:
//   dq = dS·k,  dk = dSᵀ·q,  dv = Pᵀ·dout  (dk, dv summed over the query heads sharing a kv head),
//   dgate_j = Σ_{h, i : j ∈ crit(i)} (e_ij / Z_i)(dout_i·v_j − Δ_i)  (0 for tokens in no crit(i)).
// The kernel (kernels/sparse_attention) gathers the far keys (sinks, critical tokens) per batch row, runs
// an online softmax over them and the window, and saves lse (B, H, T) for the backward. The op runs on
// its inputs' device (they must share one): outputs, saved tensors and the kernels' scratch are allocated
// there and the kernels are reached through their dispatchers. The gates of selected tokens must be
// finite and >= 0: checked on the host on the CPU; on CUDA only with SRA_CUDA_SYNC=1 (the debug mode that
// syncs after every launch), since reading them back would be a host sync in every step.
// Under AutocastGuard(bf16) with f32 inputs (autograd/autocast.h) q, k, v and, in backward, dout are
// rounded to bf16 (cached casts) and, for D = 64 or 128, the bf16 kernels run (tensor cores on CUDA; the
// widened inputs through the f32 kernel on the CPU, the oracle); gate, out and the gradients stay f32.
// Other D widen the rounded inputs back to f32 and run the f32 kernels. The forward decides for backward.
#include "autograd/sparse_attention.h"

#include <cmath>

#include "autograd/autocast.h"
#include "autograd/ops/common.h"
#include "core/cuda_runtime.h"
#include "kernels/common/dtype_switch.h"
#include "kernels/sparse_attention/sparse_attention.h"

namespace sra {

namespace {

// The gate of a critical key multiplies a softmax weight: it must be a finite weight. selected (B, T) u8
// and gate (B, T), contiguous on the CPU.
void check_gates(const Tensor& selected, const Tensor& gate, int64_t n_sinks) {
  const int64_t T = selected.size(1), n = selected.numel();
  kern::for_float(gate.dtype(), "sparse_attention", "cpu", [&](auto tag) {
    using F = decltype(tag);
    const uint8_t* s = selected.data<uint8_t>();
    const F* g = gate.data<F>();
    for (int64_t i = 0; i < n; ++i) {
      if (s[i] == 0 || i % T < n_sinks) continue;
      SRA_CHECK(std::isfinite(g[i]) && g[i] >= F(0),
                "[sparse_attention] the gate of a selected token must be finite and >= 0; got ", g[i],
                " at [", i / T, ", ", i % T, "]");
    }
  });
}

}  // namespace

Tensor sparse_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& selected,
                        const Tensor& gate, int64_t window, int64_t n_sinks, double scale) {
  const char* op = "sparse_attention";
  detail::require_float(op, q, "q");
  detail::require_float(op, k, "k");
  detail::require_float(op, v, "v");
  detail::require_float(op, gate, "gate");
  SRA_CHECK(selected.defined(), "[sparse_attention] selected is undefined");
  detail::require_same_device(op, {&q, &k, &v, &selected, &gate});
  SRA_CHECK(q.dtype() == k.dtype() && q.dtype() == v.dtype(), "[sparse_attention] dtype mismatch: q ",
            dtype_name(q.dtype()), ", k ", dtype_name(k.dtype()), ", v ", dtype_name(v.dtype()));
  SRA_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4,
            "[sparse_attention] q must be (B, H, T, D) and k, v (B, Hkv, T, D); got q ", shape_str(q.shape()),
            ", k ", shape_str(k.shape()), ", v ", shape_str(v.shape()));
  SRA_CHECK(k.shape() == v.shape(), "[sparse_attention] k ", shape_str(k.shape()), " and v ",
            shape_str(v.shape()), " must have the same shape");
  SRA_CHECK(q.size(0) == k.size(0) && q.size(2) == k.size(2) && q.size(3) == k.size(3),
            "[sparse_attention] q ", shape_str(q.shape()), " does not match k ", shape_str(k.shape()),
            " (batch, positions and head dim must agree)");
  const int64_t B = q.size(0), H = q.size(1), T = q.size(2), D = q.size(3), Hkv = k.size(1);
  SRA_CHECK(Hkv > 0 && H % Hkv == 0, "[sparse_attention] q heads ", H, " are not a multiple of kv heads ",
            Hkv, ": q ", shape_str(q.shape()), ", k ", shape_str(k.shape()));
  SRA_CHECK(D > 0, "[sparse_attention] head dim is 0: q ", shape_str(q.shape()));
  const Shape bt{B, T};
  SRA_CHECK(selected.dtype() == DType::u8 && selected.shape() == bt,
            "[sparse_attention] selected must be u8 ", shape_str(bt), " (B, T) for q ", shape_str(q.shape()),
            "; got ", dtype_name(selected.dtype()), " ", shape_str(selected.shape()));
  SRA_CHECK(gate.shape() == bt, "[sparse_attention] gate must be ", shape_str(bt), " (B, T) for q ",
            shape_str(q.shape()), "; got ", shape_str(gate.shape()));
  SRA_CHECK(gate.dtype() == q.dtype(), "[sparse_attention] gate has dtype ", dtype_name(gate.dtype()),
            " but q has ", dtype_name(q.dtype()), "; they must match");
  SRA_CHECK(window >= 1, "[sparse_attention] window must be >= 1, got ", window);
  SRA_CHECK(n_sinks >= 0, "[sparse_attention] n_sinks must be >= 0, got ", n_sinks);
  SRA_CHECK(std::isfinite(scale), "[sparse_attention] scale must be finite, got ", scale);

  kern::SparseAttentionDims dims;
  dims.batch = B, dims.heads = H, dims.kv_heads = Hkv, dims.t = T, dims.d = D;
  dims.window = window, dims.n_sinks = n_sinks;
  dims.scale = scale == 0.0 ? 1.0 / std::sqrt(double(D)) : scale;
  const Device dev = q.device();

  // copies, not recorded: gradients flow to the inputs directly. Where the kernel takes strided rows (CUDA,
  // bf16) q, k, v are read in their own layouts, out is laid out (B, T, H, D) and dq, dk, dv follow q, k, v
  // (as in attention).
  const detail::AttentionOperands ops =
      detail::attention_operands(q, k, v, kern::sparse_attention_bf16_head_dim(D),
                                 kern::sparse_attention_takes_rows(dev, DType::bf16, D));
  const bool cast = ops.cast, rows = ops.rows;
  const Tensor &qc = ops.q, &kc = ops.k, &vc = ops.v;
  const DType dt = q.dtype(), in_dt = qc.dtype();
  Tensor sc = detail::dense(selected), gc = detail::dense(gate);
  // The gate check reads host memory: always on the CPU; on CUDA only in the SRA_CUDA_SYNC=1 debug mode
  // (it copies selected and gate to the host, a sync), so that a training step makes no host sync.
  if (dev.is_cpu() || cuda::sync_each_op()) check_gates(sc.to(Device::cpu()), gc.to(Device::cpu()), n_sinks);
  Tensor out = detail::attention_out(rows, q.shape(), dt, dev);
  Tensor lse = Tensor::empty({B, H, T}, dt, dev);
  const kern::AttentionRows fwd_rows = detail::forward_rows(ops, out);
  detail::Scratch scratch(kern::sparse_attention_scratch(dev, dt, dims, false).bytes, dev);
  kern::sparse_attention_forward(
      dev, {dt, in_dt, out.raw(), lse.raw(), qc.raw(), kc.raw(), vc.raw(),
            static_cast<const uint8_t*>(sc.raw()), gc.raw(), dims, scratch.data(), scratch.size(), fwd_rows});

  if (needs_grad({q, k, v, gate})) {
    const Shape sq = detail::attention_grad_strides(q, rows), sk = detail::attention_grad_strides(k, rows),
                sv = detail::attention_grad_strides(v, rows);
    record("sparse_attention", {q, k, v, selected, gate}, {out}, {qc, kc, vc, sc, gc, out, lse},
           [qc, kc, vc, sc, gc, out, lse, dims, dev, dt, in_dt, cast, rows, fwd_rows, sq, sk,
            sv](const std::vector<Tensor>& g) -> std::vector<Tensor> {
             Tensor gout = cast ? detail::attention_dout_bf16(g[0], rows) : detail::dense(g[0]);
             if (cast && in_dt == DType::f32) gout = gout.to(DType::f32);
             Tensor dq = detail::empty_in_order(qc.shape(), sq, dt, dev);
             Tensor dk = detail::empty_in_order(kc.shape(), sk, dt, dev);
             Tensor dv = detail::empty_in_order(vc.shape(), sv, dt, dev);
             Tensor dgate = Tensor::empty(gc.shape(), dt, dev);
             const kern::AttentionRows bwd_rows = detail::backward_rows(fwd_rows, gout, dq, dk, dv);
             detail::Scratch scratch(kern::sparse_attention_scratch(dev, dt, dims, true).bytes, dev);
             kern::sparse_attention_backward(
                 dev, {dt, in_dt, dq.raw(), dk.raw(), dv.raw(), dgate.raw(), gout.raw(), qc.raw(), kc.raw(),
                       vc.raw(), static_cast<const uint8_t*>(sc.raw()), gc.raw(), out.raw(), lse.raw(), dims,
                       scratch.data(), scratch.size(), bwd_rows});
             return {dq, dk, dv, Tensor(), dgate};
           });
  }
  return out;
}

}  // namespace sra
