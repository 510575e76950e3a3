// Sparse Reasoning Attention (SRA): each query attends to a few sink tokens, a local window and the
// critical tokens chosen by a learned router, instead of every earlier token.
//
// Design note. The router marks tokens critical with a Gumbel-sigmoid (logistic-noise) selection and a
// straight-through estimator: the forward uses the hard 0/1 selection (`selected`) and a gate whose
// value is 1 (`gate`), the backward the gradient of the soft gate. The router's straight-through
// gradient reaches the gate of the selected tokens through their multiplicative weight gate_j·e^{s_ij}:
// ∂L/∂gate_j = Σ_{i : j ∈ crit(i)} (e_ij / Z_i)·(dO_i·v_j − Δ_i). Only selected tokens that really act
// as critical keys get it: a selected sink (j < n_sinks) or a selected token of the last `window`
// positions is never in any crit(i) and gets 0. Unselected tokens get no gradient from attention (they
// are explored through the logistic noise in the Gumbel-sigmoid selection and pushed by the budget
// loss), which keeps the backward O(T·(K + w)) instead of O(T²).
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace sra {

// Sparse Reasoning Attention. q (B, H, T, D); k, v (B, Hkv, T, D) (self-attention over the same T
// positions; H a multiple of Hkv); selected (B, T) u8: nonzero where token j is critical; gate (B, T)
// float (same dtype as q): the multiplicative gate of critical keys (1.0 on the hard path; in training its
// value is 1 and its gradient is the straight-through gradient of the router's soft gate); the gates of
// selected tokens must be finite and ≥ 0.
// Query i attends to keys A(i) = sinks(i) ∪ window(i) ∪ crit(i):
//   sinks(i)  = { j ≤ i : j < n_sinks }
//   window(i) = { j : i − window < j ≤ i }                       (window ≥ 1: always includes i)
//   crit(i)   = { j : n_sinks ≤ j ≤ i − window, selected[b, j] = 1 }
// with weights  a_ij ∝ exp(q_i·k_j·scale) for sinks and window, and  gate_j · exp(q_i·k_j·scale) for crit.
// (A key in sinks or window never uses its gate, so the sets are disjoint.)
// out_i = Σ_j a_ij v_j / Σ_j a_ij. scale 0 → 1/√D.
// Never builds a T×T buffer: the critical keys of each batch row are gathered into a compact buffer
// (positions sorted ascending); per query the three segments are merged by one online softmax.
// Time and memory O(T·(K + window + n_sinks)) per head, K = number of critical tokens.
// Gradients: q, k, v, and gate_j = Σ_{i : j ∈ crit(i)} (e_ij / Z_i)(dO_i·v_j − Δ_i) with Δ_i = dO_i·out_i
// (0 for tokens in no crit(i)); selected has none. Deterministic whatever the thread count.
Tensor sparse_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& selected,
                        const Tensor& gate, int64_t window, int64_t n_sinks, double scale = 0.0);

}  // namespace sra
