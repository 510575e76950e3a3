// Embedding lookup: weight (V, C), ids (n) i64 in [0, V) (checked by the op) → out (n, C):
//   forward   out[j, :] = weight[ids[j], :]
//   backward  gw[v, :] = Σ_{j : ids[j] = v} g[j, :]  (every row of gw written, zero for unused ids)
// The backward buckets positions by id (a counting sort, stable in j) and gives each weight row to one
// thread, which adds its positions in increasing j: deterministic whatever the thread count.
// T = float or double.
#pragma once
#include <cstdint>

namespace sra::kern {

template <typename T>
void embedding_cpu(T* out, const T* weight, const int64_t* ids, int64_t n, int64_t c);
template <typename T>
void embedding_backward_cpu(T* gw, const T* g, const int64_t* ids, int64_t n, int64_t v, int64_t c);

}  // namespace sra::kern
