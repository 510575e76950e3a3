// Sparse Reasoning Attention on the CPU, tiled 64 queries × 64 keys with an online softmax.
//   q (B, H, T, D), k and v (B, Hkv, T, D), selected (B, T) u8 (nonzero = critical), gate (B, T),
//   out (B, H, T, D), lse (B, H, T); all contiguous. Query head h reads kv head h / (H / Hkv).
//   Query i sees the window [max(0, i − W + 1), i] and the far keys j ≤ i − W: the sinks j < n_sinks and
//   the critical tokens (selected, j ≥ n_sinks). With s_ij = q_i·k_j·scale and the bias b_j = log gate_j
//   for critical keys, 0 for sinks and window keys:
//   forward:  lse_i = log Σ_j exp(s_ij + b_j), P_ij = exp(s_ij + b_j − lse_i), out_i = Σ_j P_ij v_j.
//   backward: Δ_i = dout_i·out_i, dS_ij = P_ij (dout_i·v_j − Δ_i)·scale,
//             dq_i = Σ_j dS_ij k_j, dk_j = Σ_i dS_ij q_i, dv_j = Σ_i P_ij dout_i (summed over the query
//             heads of each kv group), dgate_j = Σ_{h, i : j critical for i} exp(s_ij − lse_i)·
//             (dout_i·v_j − Δ_i), and 0 for tokens that are never critical (unselected, sinks, the last W).
// The far keys of each batch row (sinks then critical tokens, ascending positions) are gathered per kv
// head into compact tiles; query i uses the prefix of those with position ≤ i − W. A query tile meets
// the far tiles it needs and the key tiles of its window, each with a per-row column range.
// Backward: dq by query tiles; dk, dv by key tiles (the window queries [j, j + W − 1]) and by far tiles
// (the queries i ≥ j + W, into a compact buffer added to dk, dv afterwards); dgate summed over kv heads
// in order. Work O(T·(K + W + n_sinks)·D) per head (K critical tokens), memory O(T·D) per head, never a
// T×T buffer. Results are bitwise identical whatever the thread count.
#pragma once
#include <cstdint>

namespace sra::kern {

struct SparseAttentionDims {
  int64_t batch = 0, heads = 0, kv_heads = 0;  // B, H, Hkv (H a multiple of Hkv)
  int64_t t = 0, d = 0;                        // positions, head dim
  int64_t window = 1, n_sinks = 0;             // W ≥ 1, n_sinks ≥ 0
  double scale = 1.0;                          // already resolved (the op maps 0 to 1/√D)
};

template <typename T>
void sparse_attention_forward_cpu(T* out, T* lse, const T* q, const T* k, const T* v, const uint8_t* selected,
                                  const T* gate, const SparseAttentionDims& dims);

// Writes (not accumulates) dq, dk, dv and dgate (B, T).
template <typename T>
void sparse_attention_backward_cpu(T* dq, T* dk, T* dv, T* dgate, const T* dout, const T* q, const T* k,
                                   const T* v, const uint8_t* selected, const T* gate, const T* out,
                                   const T* lse, const SparseAttentionDims& dims);

}  // namespace sra::kern
