// Dense attention, FlashAttention-2 style (tiles of 64 queries × 64 keys, online softmax).
//   q (B, H, T, D), k and v (B, Hkv, S, D), out (B, H, T, D), lse (B, H, T); all contiguous.
//   Query head h reads kv head h / (H / Hkv). Causal: query t sees keys j ≤ t + S − T (S ≥ T).
//   forward:  P = softmax_j(q_t·k_j·scale) over the visible keys, out_t = Σ_j P_tj v_j,
//             lse_t = log Σ_j exp(q_t·k_j·scale) (saved for backward).
//   backward: Δ_t = Σ_d dout_td·out_td, P recomputed as exp(q_t·k_j·scale − lse_t) tile by tile,
//             dS = P∘(dout·vᵀ − Δ)·scale, dq = dS·k, dk = dSᵀ·q, dv = Pᵀ·dout (dk, dv summed over the
//             query heads of each kv group). Each output row is owned by one task and summed in a fixed
//             order: with B·Hkv ≥ 16, one fused pass per (b, kv head) owning its dk, dv and its group's
//             dq; otherwise two passes, one per query tile owning dq rows and one per key tile owning
//             dk/dv rows (more parallelism, two more tile products). The choice depends on shapes only.
// Memory: O(tile) scratch per thread, (B, H, T) for Δ and transposed copies of the inputs (kᵀ in
// forward; kᵀ, vᵀ, qᵀ, doutᵀ in backward); never a T×S buffer. Results are bitwise identical whatever
// the thread count.
#pragma once
#include <cstdint>

namespace sra::kern {

struct AttentionDims {
  int64_t batch = 0, heads = 0, kv_heads = 0;  // B, H, Hkv (H a multiple of Hkv)
  int64_t t = 0, s = 0, d = 0;                 // queries, keys, head dim
  bool causal = true;
  double scale = 1.0;  // already resolved (the op maps 0 to 1/√D)
};

template <typename T>
void attention_forward_cpu(T* out, T* lse, const T* q, const T* k, const T* v, const AttentionDims& dims);

// Writes (not accumulates) dq, dk, dv.
template <typename T>
void attention_backward_cpu(T* dq, T* dk, T* dv, const T* dout, const T* q, const T* k, const T* v,
                            const T* out, const T* lse, const AttentionDims& dims);

}  // namespace sra::kern
