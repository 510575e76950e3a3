// Sparse Reasoning Attention kernels. The CPU kernel (sparse_attention_cpu.cpp, the oracle) is tiled 64
// queries × 64 keys with an online softmax.
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
// CUDA (sparse_attention_cuda.cu) runs the same passes with tiles in shared memory and sums in other
// fixed orders: equal to the CPU up to rounding, bitwise identical run to run; head dim D ≤ 256. It needs
// a device scratch of sparse_attention_scratch(device, ...).bytes bytes (0 on the CPU), which the op
// allocates as a tensor: the far-key list, Δ and the per-kv-head gate gradient parts.
// Callers use the dispatchers sparse_attention_forward / sparse_attention_backward (sparse_attention.cpp).
//
// bf16 inputs (in_dtype bf16, dtype f32; the op's autocast path, head dims 64 and 128 only): q, k, v and
// dout are bf16; gate, out, lse, dq, dk, dv, dgate f32. CUDA (sparse_attention_bf16_cuda.cu on
// kernels/common/flash_bf16_cuda.cuh, the far list and dgate as above): query tiles of 64 meet the far
// tiles and window tiles of 64 keys through mma.sync m16n8k16 bf16 tensor-core products with fp32
// accumulation, one online softmax in fp32, P rounded to bf16 for P·v and dS for dS·k, dSᵀ·q (as
// FlashAttention-2); dk, dv by window key tiles then far key tiles (adding), dgate from the far pass.
// CPU (the oracle): the inputs widened to f32 (exact), then the f32 kernel.
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/device.h"
#include "core/dtype.h"
#include "kernels/common/row_strides.h"

namespace sra::kern {

struct SparseAttentionDims {
  int64_t batch = 0, heads = 0, kv_heads = 0;  // B, H, Hkv (H a multiple of Hkv)
  int64_t t = 0, d = 0;                        // positions, head dim
  int64_t window = 1, n_sinks = 0;             // W ≥ 1, n_sinks ≥ 0
  double scale = 1.0;                          // already resolved (the op maps 0 to 1/√D)
};

struct SparseAttentionArgs {  // on the call's device; rows dense unless `rows` says otherwise
  DType dtype;                // f32 | f64 (gate, out, lse)
  DType in_dtype;             // of q, k, v: dtype, or bf16 with dtype f32 (D = 64 or 128)
  void* out;                  // (B, H, T, D)
  void* lse;                  // (B, H, T)
  const void* q;              // (B, H, T, D)
  const void* k;              // (B, Hkv, T, D)
  const void* v;              // (B, Hkv, T, D)
  const uint8_t* selected;    // (B, T)
  const void* gate;           // (B, T)
  SparseAttentionDims dims;
  void* scratch;  // CUDA: sparse_attention_scratch(device, dtype, dims, false).bytes bytes; CPU: unused
  size_t scratch_bytes;
  AttentionRows rows = {};  // q, k, v, out; unset: dense. Other than dense only where attention_takes_rows
};
struct SparseAttentionBackwardArgs {  // writes (not accumulates) dq, dk, dv, dgate
  DType dtype;                        // of dq, dk, dv, dgate, gate, out, lse
  DType in_dtype;                     // of dout, q, k, v: dtype, or bf16 with dtype f32
  void* dq;                           // (B, H, T, D)
  void* dk;                           // (B, Hkv, T, D)
  void* dv;                           // (B, Hkv, T, D)
  void* dgate;                        // (B, T)
  const void* dout;
  const void* q;
  const void* k;
  const void* v;
  const uint8_t* selected;
  const void* gate;
  const void* out;
  const void* lse;
  SparseAttentionDims dims;
  void* scratch;  // CUDA: sparse_attention_scratch(device, dtype, dims, true).bytes bytes; CPU: unused
  size_t scratch_bytes;
  AttentionRows rows = {};  // all eight operands (out: the forward's); unset: dense
};

// Byte offsets of the parts of the CUDA scratch (each 256-byte aligned): fpos (B, T) i32, the far keys'
// positions of each batch row, ascending; before (B, T + 1) i32, the far keys at positions < x; with
// backward also delta (B, H, T) and fdg (B, Hkv, T) of the dtype. All zero on the CPU.
struct SparseAttentionScratch {
  size_t fpos = 0, before = 0, delta = 0, fdg = 0, bytes = 0;
};
SparseAttentionScratch sparse_attention_scratch(Device device, DType dtype, const SparseAttentionDims& dims,
                                                bool backward);

void sparse_attention_forward(Device device, const SparseAttentionArgs& args);
void sparse_attention_backward(Device device, const SparseAttentionBackwardArgs& args);

// The head dims the bf16 kernels take (64, 128); the op casts the bf16-rounded inputs of others up to f32.
constexpr bool sparse_attention_bf16_head_dim(int64_t d) {
  return d == 64 || d == 128;
}

// Whether a call's rows may be other than dense: as attention_takes_rows (the CUDA bf16 kernels only).
inline bool sparse_attention_takes_rows(Device device, DType in_dtype, int64_t d) {
  return device.is_cuda() && in_dtype == DType::bf16 && sparse_attention_bf16_head_dim(d);
}

void sparse_attention_forward_cuda(const SparseAttentionArgs& args, int device);
void sparse_attention_backward_cuda(const SparseAttentionBackwardArgs& args, int device);
// bf16 inputs (sparse_attention_bf16_cuda.cu), called by the two entries above once the far list (fpos,
// before: the scratch parts) is built; backward writes dq, dk, dv, Δ and fdg (the entry then sums dgate).
void sparse_attention_forward_bf16_cuda(const SparseAttentionArgs& args, const int* fpos, const int* before,
                                        int device);
void sparse_attention_backward_bf16_cuda(const SparseAttentionBackwardArgs& args, const int* fpos,
                                         const int* before, void* delta, void* fdg, int device);

template <typename T>
void sparse_attention_forward_cpu(T* out, T* lse, const T* q, const T* k, const T* v, const uint8_t* selected,
                                  const T* gate, const SparseAttentionDims& dims);

// Writes (not accumulates) dq, dk, dv and dgate (B, T).
template <typename T>
void sparse_attention_backward_cpu(T* dq, T* dk, T* dv, T* dgate, const T* dout, const T* q, const T* k,
                                   const T* v, const uint8_t* selected, const T* gate, const T* out,
                                   const T* lse, const SparseAttentionDims& dims);

}  // namespace sra::kern
