// Decode attention on the CPU (the oracle; math in decode_attention.h): per (b, h) the scores in key order,
// their max, then Σ exp and Σ p·v in double. Parallel over (b, h); each output row is one task's.
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/parallel.h"
#include "kernels/decode_attention/decode_attention.h"

namespace sra::kern {

template <typename T>
void decode_attention_cpu(const DecodeAttentionArgs& a) {
  const int64_t H = a.heads, D = a.d, group = a.heads / a.kv_heads;
  auto* out = static_cast<T*>(a.out);
  const auto* q = static_cast<const T*>(a.q);
  int64_t rows = 0;  // the longest sequence's key count, for the grain
  for (int64_t i = 0; i < a.batch * kDecodeParts; ++i) rows = std::max(rows, a.parts[i].rows);
  parallel_for(a.batch * H, grain_for(2 * rows * D, 1 << 16), [&](int64_t r0, int64_t r1) {
    std::vector<double> s, acc(size_t(D), 0.0);
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / H, g = (r % H) / group;
      const T* qr = q + r * D;
      s.clear();
      for (int p = 0; p < kDecodeParts; ++p) {
        const DecodePart& part = a.parts[b * kDecodeParts + p];
        const T* kb = static_cast<const T*>(part.k) + g * part.stride * D;
        for (int64_t j = 0; j < part.rows; ++j) {
          double dot = 0;
          for (int64_t e = 0; e < D; ++e) dot += double(qr[e]) * double(kb[j * D + e]);
          s.push_back(dot * a.scale);
        }
      }
      double m = -INFINITY;
      for (double x : s) m = std::max(m, x);
      double l = 0;
      std::fill(acc.begin(), acc.end(), 0.0);
      size_t j = 0;
      for (int p = 0; p < kDecodeParts; ++p) {
        const DecodePart& part = a.parts[b * kDecodeParts + p];
        const T* vb = static_cast<const T*>(part.v) + g * part.stride * D;
        for (int64_t i = 0; i < part.rows; ++i, ++j) {
          const double w = std::exp(s[j] - m);
          l += w;
          for (int64_t e = 0; e < D; ++e) acc[size_t(e)] += w * double(vb[i * D + e]);
        }
      }
      for (int64_t e = 0; e < D; ++e) out[r * D + e] = T(acc[size_t(e)] / l);
    }
  });
}

template void decode_attention_cpu<float>(const DecodeAttentionArgs&);
template void decode_attention_cpu<double>(const DecodeAttentionArgs&);

}  // namespace sra::kern
