#include <algorithm>
#include <vector>

#include "core/parallel.h"
#include "kernels/embedding/embedding.h"

namespace sra::kern {

template <typename T>
void embedding_cpu(T* out, const T* weight, const int64_t* ids, int64_t n, int64_t c) {
  parallel_for(n, grain_for(c, 16384), [&](int64_t b, int64_t e) {
    for (int64_t j = b; j < e; ++j) std::copy(weight + ids[j] * c, weight + (ids[j] + 1) * c, out + j * c);
  });
}

template <typename T>
void embedding_backward_cpu(T* gw, const T* g, const int64_t* ids, int64_t n, int64_t v, int64_t c) {
  // start[id] .. start[id + 1]: the positions holding id, in increasing order.
  std::vector<int64_t> start(static_cast<size_t>(v + 1), 0), order(static_cast<size_t>(n));
  for (int64_t j = 0; j < n; ++j) ++start[ids[j] + 1];
  for (int64_t k = 0; k < v; ++k) start[k + 1] += start[k];
  std::vector<int64_t> fill(start.begin(), start.end() - 1);
  for (int64_t j = 0; j < n; ++j) order[fill[ids[j]]++] = j;
  parallel_for(v, grain_for(c * std::max<int64_t>(1, n / std::max<int64_t>(v, 1)), 16384),
               [&](int64_t b, int64_t e) {
                 for (int64_t id = b; id < e; ++id) {
                   T* dst = gw + id * c;
                   std::fill(dst, dst + c, T(0));
                   for (int64_t k = start[id]; k < start[id + 1]; ++k) {
                     const T* src = g + order[k] * c;
                     for (int64_t i = 0; i < c; ++i) dst[i] += src[i];
                   }
                 }
               });
}

template void embedding_cpu<float>(float*, const float*, const int64_t*, int64_t, int64_t);
template void embedding_cpu<double>(double*, const double*, const int64_t*, int64_t, int64_t);
template void embedding_backward_cpu<float>(float*, const float*, const int64_t*, int64_t, int64_t, int64_t);
template void embedding_backward_cpu<double>(double*, const double*, const int64_t*, int64_t, int64_t,
                                             int64_t);

}  // namespace sra::kern
