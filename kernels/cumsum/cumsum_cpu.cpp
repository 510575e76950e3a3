#include <algorithm>
#include <vector>

#include "core/parallel.h"
#include "kernels/cumsum/cumsum.h"

namespace sra::kern {

template <typename T>
void cumsum_cpu(T* y, const T* x, int64_t outer, int64_t r, int64_t inner, bool reverse) {
  // Work unit: (o, chunk of inner columns), scanned along r with one double accumulator per column.
  const int64_t chunk = 256;
  int64_t chunks = (inner + chunk - 1) / chunk;
  parallel_for(outer * chunks, grain_for(r * std::min(chunk, inner), 16384), [&](int64_t b, int64_t e) {
    std::vector<double> acc(static_cast<size_t>(chunk));
    for (int64_t w = b; w < e; ++w) {
      int64_t o = w / chunks, i0 = (w % chunks) * chunk, m = std::min(chunk, inner - i0);
      std::fill(acc.begin(), acc.begin() + m, 0.0);
      for (int64_t s = 0; s < r; ++s) {
        int64_t row = reverse ? r - 1 - s : s;
        int64_t off = (o * r + row) * inner + i0;
        for (int64_t i = 0; i < m; ++i) {
          acc[i] += double(x[off + i]);
          y[off + i] = T(acc[i]);
        }
      }
    }
  });
}

template void cumsum_cpu<float>(float*, const float*, int64_t, int64_t, int64_t, bool);
template void cumsum_cpu<double>(double*, const double*, int64_t, int64_t, int64_t, bool);

}  // namespace sra::kern
