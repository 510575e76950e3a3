// Embedding lookup: weight (V, C), ids (n) i64 → out (n, C):
//   forward   out[j, :] = weight[ids[j], :]
//   backward  gw[v, :] = Σ_{j : ids[j] = v} g[j, :]  (every row of gw written, zero for unused ids)
// Ids must lie in [0, V). On the CPU the op (autograd/ops/nn.cpp) checks them on the host and names the
// position of a bad one. On CUDA it does not read them back (no host sync in a step): token ids are
// validated where they enter: data/packing.cpp checks every token id of a shard against its vocabulary
// when it loads it, run/data_prep.cpp checks the tokenizer's vocabulary fits the model's, and generated
// ids come from the model's own logits. A stray out-of-range id still cannot read out of bounds on CUDA:
// its output row is NaN (so the loss shows it) and the backward drops it.
// Backward order (both devices): positions are bucketed by id, stable in j, and each gw[v, c] adds its
// positions in increasing j, in T, starting from 0: deterministic whatever the thread count, and the CPU
// and CUDA sums are the same additions in the same order. The CPU buckets with a counting sort; CUDA
// with a stable radix sort of (id, j) pairs (CUB), a binary search for each id's first sorted slot, and
// one thread per (v, c).
// Callers use the dispatchers embedding / embedding_backward (embedding.cpp); CUDA's backward needs a
// device scratch of embedding_backward_scratch_bytes(device, n, V) bytes (0 on the CPU), which the op
// allocates as a tensor. T = float or double.
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/device.h"
#include "core/dtype.h"

namespace sra::kern {

struct EmbeddingArgs {  // pointers on the call's device, contiguous
  DType dtype;          // f32 | f64
  void* out;            // (n, c)
  const void* weight;   // (v, c)
  const int64_t* ids;   // (n)
  int64_t n, v, c;
};
struct EmbeddingBackwardArgs {
  DType dtype;
  void* gw;            // (v, c), every element written
  const void* g;       // (n, c)
  const int64_t* ids;  // (n)
  int64_t n, v, c;
  void* scratch;  // CUDA: embedding_backward_scratch_bytes(device, n, v) bytes on the device; CPU: unused
  size_t scratch_bytes;
};

void embedding(Device device, const EmbeddingArgs& args);
void embedding_backward(Device device, const EmbeddingBackwardArgs& args);
size_t embedding_backward_scratch_bytes(Device device, int64_t n, int64_t v);

void embedding_cuda(const EmbeddingArgs& args, int device);
void embedding_backward_cuda(const EmbeddingBackwardArgs& args, int device);
size_t embedding_backward_scratch_bytes_cuda(int64_t n, int64_t v, int device);

template <typename T>
void embedding_cpu(T* out, const T* weight, const int64_t* ids, int64_t n, int64_t c);
template <typename T>
void embedding_backward_cpu(T* gw, const T* g, const int64_t* ids, int64_t n, int64_t v, int64_t c);

}  // namespace sra::kern
