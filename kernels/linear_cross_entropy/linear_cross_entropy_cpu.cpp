// The CPU chunk kernel of the fused head + cross-entropy (contract in linear_cross_entropy.h): parallel over
// rows, each row as cross_entropy_cpu computes it (max, Σ exp in double, log), then its gradient row.
#include <algorithm>
#include <cmath>

#include "core/parallel.h"
#include "kernels/cross_entropy/row_lse_cpu.h"
#include "kernels/linear_cross_entropy/linear_cross_entropy.h"

namespace sra::kern {

template <typename T>
void xent_chunk_cpu(const XentChunkArgs& a) {
  const auto* z = static_cast<const T*>(a.z);
  auto* mx = static_cast<T*>(a.mx);
  auto* ls = static_cast<T*>(a.ls);
  const int64_t v = a.v;
  const double scale = a.g != nullptr && *a.kept > 0 ? 1.0 / double(*a.kept) : 0.0;
  parallel_for(a.rows, grain_for(v, 16384), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const T* row = z + r * v;
      T m;
      double s;
      row_max_sumexp_cpu(row, v, m, s);
      const T l = T(std::log(s));
      mx[r] = m;
      ls[r] = l;
      const int64_t tr = a.t[r];
      const bool kept = tr != a.ignore_index;
      const T zt = kept ? row[tr] : T(0);  // read before g (which may alias z) overwrites the row
      a.row_loss[r] = kept ? (double(m) - double(zt)) + std::log(s) : 0.0;
      if (a.g == nullptr) continue;
      auto put = [&](int64_t k, T value) {
        if (a.g_bf16)
          static_cast<bf16*>(a.g)[r * v + k] = bf16(float(value));
        else
          static_cast<T*>(a.g)[r * v + k] = value;
      };
      if (!kept) {
        for (int64_t k = 0; k < v; ++k) put(k, T(0));
        continue;
      }
      const T sc = T(scale);
      for (int64_t k = 0; k < v; ++k) put(k, std::exp((row[k] - m) - l) * sc);
      put(tr, T((double(std::exp((zt - m) - l)) - 1.0) * scale));
    }
  });
}

template void xent_chunk_cpu<float>(const XentChunkArgs&);
template void xent_chunk_cpu<double>(const XentChunkArgs&);

}  // namespace sra::kern
