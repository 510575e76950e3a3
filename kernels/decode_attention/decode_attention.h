// Decode attention: one query per sequence over that sequence's cached keys, no mask (every cached key is
// visible to the newest token), for incremental generation (model/kv_cache.h, model/generate.cpp).
//   q (B, H, D), out (B, H, D); query head h reads kv head g = h / (H / Hkv).
//   Sequence b's keys are the rows of up to kDecodeParts parts, each a pair of buffers k, v laid out
//   (Hkv, stride, D) of which the first `rows` rows of every head are attended; the parts' rows in order
//   form the key list j = 0 .. S_b − 1 (S_b = Σ rows ≥ 1). With s_j = q·k_j·scale:
//     out_bh = Σ_j softmax_j(s_j) v_j
//   (the same function as attention(q, K, V, causal = false) over the concatenated rows).
// CPU (decode_attention_cpu.cpp, the oracle): per (b, h) the scores, their max, Σ exp in double, in key
// order. CUDA (decode_attention_cuda.cu), split-K ("flash decoding"): pass 1, one block of 4 warps per
// (chunk of C keys, b·h): each warp runs an online softmax over its C/4 keys (a key's dot product summed
// across the warp's lanes in a fixed tree), the 4 warps merged in order into the chunk's (max, Σ, Σ p·v);
// pass 2, one block per b·h merges the chunks in order and divides. C ∈ {64, 128, 256} is set by the
// shapes (smaller when few blocks would run); every sum has a fixed order: bitwise repeatable, equal to the
// CPU up to rounding. The CUDA entry needs a scratch of decode_attention_scratch_bytes(...) bytes (the
// parts' table, copied to the device through the pinned staging ring, and the chunk partials), a tensor
// the op allocates. Callers use the dispatcher decode_attention (decode_attention.cpp).
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/device.h"
#include "core/dtype.h"

namespace sra::kern {

constexpr int kDecodeParts = 2;

struct DecodePart {         // one part of one sequence's keys (device or host pointers)
  const void* k = nullptr;  // (Hkv, stride, D)
  const void* v = nullptr;  // (Hkv, stride, D)
  int64_t rows = 0;         // attended rows of each head, [0, rows)
  int64_t stride = 0;       // rows allocated per head (≥ rows)
};

struct DecodeAttentionArgs {
  DType dtype;              // f32 | f64 (q, out and every part)
  void* out;                // (B, H, D)
  const void* q;            // (B, H, D)
  const DecodePart* parts;  // host array of B · kDecodeParts: sequence b's parts at [b·kDecodeParts, ...)
  int64_t batch = 0, heads = 0, kv_heads = 0, d = 0;
  double scale = 1.0;       // resolved (the op maps 0 to 1/√D)
  void* scratch = nullptr;  // CUDA: decode_attention_scratch_bytes(...) bytes; CPU: unused
  size_t scratch_bytes = 0;
};

// S_max = the longest sequence's key count.
size_t decode_attention_scratch_bytes(Device device, DType dtype, int64_t batch, int64_t heads, int64_t d,
                                      int64_t s_max);

void decode_attention(Device device, const DecodeAttentionArgs& args);
void decode_attention_cuda(const DecodeAttentionArgs& args, int device);
template <typename T>
void decode_attention_cpu(const DecodeAttentionArgs& args);

// The chunk size C of the CUDA pass 1 (shapes only).
int64_t decode_attention_chunk(int64_t batch, int64_t heads, int64_t s_max);

}  // namespace sra::kern
