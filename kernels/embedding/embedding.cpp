// The embedding dispatchers: the one switch from a device to its kernel (contracts in embedding.h).
#include "kernels/embedding/embedding.h"

#include "core/check.h"
#include "kernels/common/dtype_switch.h"

namespace sra::kern {

void embedding(Device d, const EmbeddingArgs& a) {
  if (a.n == 0 || a.c == 0) return;
  if (d.is_cuda()) return embedding_cuda(a, d.index);
  for_float(a.dtype, "embedding", "cpu", [&](auto t) {
    using T = decltype(t);
    embedding_cpu<T>(static_cast<T*>(a.out), static_cast<const T*>(a.weight), a.ids, a.n, a.c);
  });
}

void embedding_backward(Device d, const EmbeddingBackwardArgs& a) {
  if (a.v == 0 || a.c == 0) return;
  if (d.is_cuda()) return embedding_backward_cuda(a, d.index);
  for_float(a.dtype, "embedding", "cpu", [&](auto t) {
    using T = decltype(t);
    embedding_backward_cpu<T>(static_cast<T*>(a.gw), static_cast<const T*>(a.g), a.ids, a.n, a.v, a.c);
  });
}

size_t embedding_backward_scratch_bytes(Device d, int64_t n, int64_t v) {
  return d.is_cuda() ? embedding_backward_scratch_bytes_cuda(n, v, d.index) : 0;
}

}  // namespace sra::kern
