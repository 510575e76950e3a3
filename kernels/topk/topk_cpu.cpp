#include <algorithm>
#include <cmath>
#include <vector>

#include "core/parallel.h"
#include "kernels/topk/topk.h"

namespace sra::kern {

template <typename T>
void topk_cpu(T* values, int64_t* indices, const T* x, int64_t outer, int64_t r, int64_t inner, int64_t k) {
  // Strict weak order: NaN first, then larger values, then lower index.
  auto before = [](const std::pair<T, int64_t>& a, const std::pair<T, int64_t>& b) {
    bool an = std::isnan(a.first), bn = std::isnan(b.first);
    if (an != bn) return an;
    if (!an && a.first != b.first) return a.first > b.first;
    return a.second < b.second;
  };
  parallel_for(outer * inner, grain_for(r, 4096), [&](int64_t b, int64_t e) {
    std::vector<std::pair<T, int64_t>> line(static_cast<size_t>(r));
    for (int64_t w = b; w < e; ++w) {
      int64_t o = w / inner, i = w % inner;
      const T* p = x + o * r * inner + i;
      for (int64_t j = 0; j < r; ++j) line[j] = {p[j * inner], j};
      std::partial_sort(line.begin(), line.begin() + k, line.end(), before);
      T* vo = values + o * k * inner + i;
      int64_t* io = indices + o * k * inner + i;
      for (int64_t j = 0; j < k; ++j) {
        vo[j * inner] = line[j].first;
        io[j * inner] = line[j].second;
      }
    }
  });
}

template void topk_cpu<float>(float*, int64_t*, const float*, int64_t, int64_t, int64_t, int64_t);
template void topk_cpu<double>(double*, int64_t*, const double*, int64_t, int64_t, int64_t, int64_t);

}  // namespace sra::kern
