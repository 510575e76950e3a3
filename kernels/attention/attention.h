// Dense attention, FlashAttention-2 style (tiles of queries × keys, online softmax).
//   q (B, H, T, D), k and v (B, Hkv, S, D), out (B, H, T, D), lse (B, H, T); all contiguous.
//   Query head h reads kv head h / (H / Hkv). Causal: query t sees keys j ≤ t + S − T (S ≥ T).
//   forward:  P = softmax_j(q_t·k_j·scale) over the visible keys, out_t = Σ_j P_tj v_j,
//             lse_t = log Σ_j exp(q_t·k_j·scale) (saved for backward).
//   backward: Δ_t = Σ_d dout_td·out_td, P recomputed as exp(q_t·k_j·scale − lse_t) tile by tile,
//             dS = P∘(dout·vᵀ − Δ)·scale, dq = dS·k, dk = dSᵀ·q, dv = Pᵀ·dout (dk, dv summed over the
//             query heads of each kv group). Writes (not accumulates) dq, dk, dv; with no query rows
//             (B·H·T = 0) dk = dv = 0.
// Callers use the dispatchers attention_forward / attention_backward (attention.cpp). T = float or double.
//
// CPU (attention_cpu.cpp, the oracle; tiles of 64 × 64): each output row is owned by one task and summed
// in a fixed order: with B·Hkv ≥ 16, one fused pass per (b, kv head) owning its dk, dv and its group's
// dq; otherwise two passes, one per query tile owning dq rows and one per key tile owning dk/dv rows
// (more parallelism, two more tile products). The choice depends on shapes only. Memory: O(tile) scratch
// per thread, (B, H, T) for Δ and transposed copies of the inputs (kᵀ in forward; kᵀ, vᵀ, qᵀ, doutᵀ in
// backward); never a T×S buffer. Results are bitwise identical whatever the thread count.
//
// CUDA (attention_cuda.cu): scalar FMA in T (f32 accumulates in f32, f64 in f64), tiles in shared memory,
// D ≤ 256 (larger is an [attention] error). Forward: one block per (query tile, b·h). Backward: Δ, then
// dq by (query tile, b·h) blocks looping the key tiles in order, then dk, dv by (key tile, b·kv head)
// blocks looping the group's query heads and query tiles in order. No atomics: bitwise repeatable.
// The CUDA backward needs a scratch of attention_backward_scratch_bytes(device, dtype, dims) bytes (Δ;
// 0 on the CPU), a tensor the op allocates. CUDA sums in another order than the CPU: equal up to rounding.
//
// bf16 inputs (in_dtype bf16, dtype f32; the op's autocast path, head dims 64 and 128 only):
// q, k, v and dout are bf16, out, lse, dq, dk, dv f32. CUDA (attention_bf16_cuda.cu on
// kernels/common/flash_bf16_cuda.cuh): mma.sync m16n8k16 bf16 tensor-core products with fp32
// accumulation, online softmax in fp32, P rounded to bf16 for P·v and dS rounded to bf16 for dS·k and
// dSᵀ·q (as FlashAttention-2); Δ = Σ dout·out with the f32 out. CPU (the oracle): the inputs widened to
// f32 (exact), then the f32 kernel, so the two differ by the rounding of P and dS (tests: max error ≤
// 1e-2·max |cpu|, measured ≤ 3.3e-3 on an H200).
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/device.h"
#include "core/dtype.h"
#include "kernels/common/row_strides.h"

namespace sra::kern {

struct AttentionDims {
  int64_t batch = 0, heads = 0, kv_heads = 0;  // B, H, Hkv (H a multiple of Hkv)
  int64_t t = 0, s = 0, d = 0;                 // queries, keys, head dim
  bool causal = true;
  double scale = 1.0;  // already resolved (the op maps 0 to 1/√D)
};

struct AttentionArgs {  // on the call's device; rows dense unless `rows` says otherwise
  DType dtype;          // of out, lse: f32 | f64
  DType in_dtype;       // of q, k, v: dtype, or bf16 with dtype f32 (D = 64 or 128)
  void* out;            // (B, H, T, D)
  void* lse;            // (B, H, T)
  const void* q;        // (B, H, T, D)
  const void* k;        // (B, Hkv, S, D)
  const void* v;        // (B, Hkv, S, D)
  AttentionDims dims;
  AttentionRows rows = {};  // q, k, v, out; unset: dense. Other than dense only where attention_takes_rows
};
struct AttentionBackwardArgs {
  DType dtype;     // of dq, dk, dv, out, lse
  DType in_dtype;  // of dout, q, k, v: dtype, or bf16 with dtype f32
  void* dq;        // (B, H, T, D)
  void* dk;        // (B, Hkv, S, D)
  void* dv;        // (B, Hkv, S, D)
  const void* dout;
  const void* q;
  const void* k;
  const void* v;
  const void* out;
  const void* lse;
  AttentionDims dims;
  void* scratch;  // CUDA: attention_backward_scratch_bytes(device, dtype, dims) bytes; CPU: unused
  size_t scratch_bytes;
  AttentionRows rows = {};  // all eight operands (out: the forward's); unset: dense
};

void attention_forward(Device device, const AttentionArgs& args);
void attention_backward(Device device, const AttentionBackwardArgs& args);
size_t attention_backward_scratch_bytes(Device device, DType dtype, const AttentionDims& dims);

// The head dims the bf16 kernels take (64, 128); the op casts the bf16-rounded inputs of others up to f32.
constexpr bool attention_bf16_head_dim(int64_t d) {
  return d == 64 || d == 128;
}

// Whether a call's rows may be other than dense (a projection's head split read in place): the CUDA bf16
// kernels only; the CPU oracle and the f32 kernels take dense operands.
inline bool attention_takes_rows(Device device, DType in_dtype, int64_t d) {
  return device.is_cuda() && in_dtype == DType::bf16 && attention_bf16_head_dim(d);
}

void attention_forward_cuda(const AttentionArgs& args, int device);
void attention_backward_cuda(const AttentionBackwardArgs& args, int device);
// bf16 inputs (attention_bf16_cuda.cu), reached through the two entries above.
void attention_forward_bf16_cuda(const AttentionArgs& args, int device);
void attention_backward_bf16_cuda(const AttentionBackwardArgs& args, int device);

template <typename T>
void attention_forward_cpu(T* out, T* lse, const T* q, const T* k, const T* v, const AttentionDims& dims);
template <typename T>
void attention_backward_cpu(T* dq, T* dk, T* dv, const T* dout, const T* q, const T* k, const T* v,
                            const T* out, const T* lse, const AttentionDims& dims);

}  // namespace sra::kern
