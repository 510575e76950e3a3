#include <cmath>
#include <vector>

#include "core/parallel.h"
#include "kernels/reduce/reduce.h"

namespace sra::kern {

namespace {
constexpr int64_t kBlock = 8192;  // fixed partial-sum block for long single rows

// Σ of n contiguous values, four interleaved double accumulators combined in a fixed order.
template <typename T>
double row_sum(const T* x, int64_t n) {
  double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    a0 += double(x[i]);
    a1 += double(x[i + 1]);
    a2 += double(x[i + 2]);
    a3 += double(x[i + 3]);
  }
  for (; i < n; ++i) a0 += double(x[i]);
  return (a0 + a1) + (a2 + a3);
}
}  // namespace

template <typename T>
void sum_cpu(T* out, const T* x, int64_t outer, int64_t r, int64_t inner) {
  if (inner == 1) {
    if (outer == 1 && r > 2 * kBlock) {
      int64_t blocks = (r + kBlock - 1) / kBlock;
      std::vector<double> part(static_cast<size_t>(blocks), 0.0);
      parallel_for(blocks, 1, [&](int64_t b, int64_t e) {
        for (int64_t k = b; k < e; ++k) part[k] = row_sum(x + k * kBlock, std::min(kBlock, r - k * kBlock));
      });
      double s = 0;
      for (double p : part) s += p;
      out[0] = T(s);
      return;
    }
    parallel_for(outer, grain_for(r, 16384), [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) out[o] = T(row_sum(x + o * r, r));
    });
    return;
  }
  // inner > 1: accumulate rows of `inner` values; parallel over (outer × inner-chunks).
  const int64_t chunk = 256;
  int64_t chunks = (inner + chunk - 1) / chunk;
  parallel_for(outer * chunks, grain_for(r * chunk, 65536), [&](int64_t b, int64_t e) {
    std::vector<double> acc(static_cast<size_t>(chunk));
    for (int64_t w = b; w < e; ++w) {
      int64_t o = w / chunks, i0 = (w % chunks) * chunk, n = std::min(chunk, inner - i0);
      std::fill(acc.begin(), acc.begin() + n, 0.0);
      const T* base = x + o * r * inner + i0;
      for (int64_t k = 0; k < r; ++k) {
        const T* row = base + k * inner;
        for (int64_t i = 0; i < n; ++i) acc[i] += double(row[i]);
      }
      for (int64_t i = 0; i < n; ++i) out[o * inner + i0 + i] = T(acc[i]);
    }
  });
}

template <typename T>
void max_cpu(T* out, int64_t* idx, const T* x, int64_t outer, int64_t r, int64_t inner) {
  parallel_for(outer * inner, grain_for(r, 16384), [&](int64_t b, int64_t e) {
    for (int64_t w = b; w < e; ++w) {
      int64_t o = w / inner, i = w % inner;
      const T* p = x + o * r * inner + i;
      T best = p[0];
      int64_t bi = 0;
      for (int64_t k = 1; k < r && !std::isnan(best); ++k) {
        T v = p[k * inner];
        if (v > best || std::isnan(v)) {
          best = v;
          bi = k;
        }
      }
      out[w] = best;
      idx[w] = bi;
    }
  });
}

template void sum_cpu<float>(float*, const float*, int64_t, int64_t, int64_t);
template void sum_cpu<double>(double*, const double*, int64_t, int64_t, int64_t);
template void max_cpu<float>(float*, int64_t*, const float*, int64_t, int64_t, int64_t);
template void max_cpu<double>(double*, int64_t*, const double*, int64_t, int64_t, int64_t);

}  // namespace sra::kern
