#include <algorithm>
#include <cmath>
#include <vector>

#include "core/parallel.h"
#include "kernels/softmax/softmax.h"

namespace sra::kern {

namespace {
// Strided lines (inner > 1): work unit (o, a block of up to kChunk adjacent inner columns), so that strided
// lines (inner > 1) are read row by row; every column keeps its own running values, summed over r in order.
constexpr int64_t kChunk = 64;

int64_t chunk_of(int64_t inner) {
  return std::min(kChunk, inner);
}

// One contiguous row (inner == 1, the common case: softmax over the last dim).
template <typename T>
void softmax_row(T* y, const T* x, int64_t r, bool log) {
  T m = x[0];
  for (int64_t k = 1; k < r; ++k) m = std::max(m, x[k]);
  if (std::isinf(m) && m < 0) m = T(0);
  double s = 0;
  if (log) {
    for (int64_t k = 0; k < r; ++k) s += double(std::exp(x[k] - m));
    T ls = T(std::log(s));
    for (int64_t k = 0; k < r; ++k) y[k] = (x[k] - m) - ls;
  } else {
    for (int64_t k = 0; k < r; ++k) {
      y[k] = std::exp(x[k] - m);
      s += double(y[k]);
    }
    T inv = T(1.0 / s);
    for (int64_t k = 0; k < r; ++k) y[k] *= inv;
  }
}

template <typename T>
void softmax_backward_row(T* gx, const T* gy, const T* y, int64_t r, bool log) {
  double s = 0;
  if (log) {
    for (int64_t k = 0; k < r; ++k) s += double(gy[k]);
    T st = T(s);
    for (int64_t k = 0; k < r; ++k) gx[k] = gy[k] - std::exp(y[k]) * st;
  } else {
    for (int64_t k = 0; k < r; ++k) s += double(gy[k]) * double(y[k]);
    T st = T(s);
    for (int64_t k = 0; k < r; ++k) gx[k] = y[k] * (gy[k] - st);
  }
}
}  // namespace

template <typename T>
void softmax_cpu(T* y, const T* x, int64_t outer, int64_t r, int64_t inner, bool log) {
  if (inner == 1) {
    parallel_for(outer, grain_for(r, 16384), [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) softmax_row(y + o * r, x + o * r, r, log);
    });
    return;
  }
  int64_t chunk = chunk_of(inner), chunks = (inner + chunk - 1) / chunk;
  parallel_for(outer * chunks, grain_for(r * chunk, 16384), [&](int64_t b, int64_t e) {
    std::vector<T> m(static_cast<size_t>(chunk)), scale(static_cast<size_t>(chunk));
    std::vector<double> s(static_cast<size_t>(chunk));
    for (int64_t w = b; w < e; ++w) {
      int64_t o = w / chunks, i0 = (w % chunks) * chunk, n = std::min(chunk, inner - i0);
      const T* xb = x + o * r * inner + i0;
      T* yb = y + o * r * inner + i0;
      for (int64_t i = 0; i < n; ++i) m[i] = xb[i];
      for (int64_t k = 1; k < r; ++k)
        for (int64_t i = 0; i < n; ++i) m[i] = std::max(m[i], xb[k * inner + i]);
      for (int64_t i = 0; i < n; ++i) {
        if (std::isinf(m[i]) && m[i] < 0) m[i] = T(0);  // an all −inf line gives NaN (0/0), like PyTorch
        s[i] = 0;
      }
      if (log) {
        for (int64_t k = 0; k < r; ++k)
          for (int64_t i = 0; i < n; ++i) s[i] += double(std::exp(xb[k * inner + i] - m[i]));
        for (int64_t i = 0; i < n; ++i) scale[i] = T(std::log(s[i]));
        for (int64_t k = 0; k < r; ++k)
          for (int64_t i = 0; i < n; ++i) yb[k * inner + i] = (xb[k * inner + i] - m[i]) - scale[i];
      } else {
        for (int64_t k = 0; k < r; ++k) {
          for (int64_t i = 0; i < n; ++i) {
            T ex = std::exp(xb[k * inner + i] - m[i]);
            yb[k * inner + i] = ex;
            s[i] += double(ex);
          }
        }
        for (int64_t i = 0; i < n; ++i) scale[i] = T(1.0 / s[i]);
        for (int64_t k = 0; k < r; ++k)
          for (int64_t i = 0; i < n; ++i) yb[k * inner + i] *= scale[i];
      }
    }
  });
}

template <typename T>
void softmax_backward_cpu(T* gx, const T* gy, const T* y, int64_t outer, int64_t r, int64_t inner, bool log) {
  if (inner == 1) {
    parallel_for(outer, grain_for(r, 16384), [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) softmax_backward_row(gx + o * r, gy + o * r, y + o * r, r, log);
    });
    return;
  }
  int64_t chunk = chunk_of(inner), chunks = (inner + chunk - 1) / chunk;
  parallel_for(outer * chunks, grain_for(r * chunk, 16384), [&](int64_t b, int64_t e) {
    std::vector<double> s(static_cast<size_t>(chunk));
    std::vector<T> st(static_cast<size_t>(chunk));
    for (int64_t w = b; w < e; ++w) {
      int64_t o = w / chunks, i0 = (w % chunks) * chunk, n = std::min(chunk, inner - i0);
      int64_t base = o * r * inner + i0;
      const T* gb = gy + base;
      const T* yb = y + base;
      T* ob = gx + base;
      std::fill(s.begin(), s.begin() + n, 0.0);
      if (log) {
        for (int64_t k = 0; k < r; ++k)
          for (int64_t i = 0; i < n; ++i) s[i] += double(gb[k * inner + i]);
        for (int64_t i = 0; i < n; ++i) st[i] = T(s[i]);
        for (int64_t k = 0; k < r; ++k)
          for (int64_t i = 0; i < n; ++i)
            ob[k * inner + i] = gb[k * inner + i] - std::exp(yb[k * inner + i]) * st[i];
      } else {
        for (int64_t k = 0; k < r; ++k)
          for (int64_t i = 0; i < n; ++i) s[i] += double(gb[k * inner + i]) * double(yb[k * inner + i]);
        for (int64_t i = 0; i < n; ++i) st[i] = T(s[i]);
        for (int64_t k = 0; k < r; ++k)
          for (int64_t i = 0; i < n; ++i) ob[k * inner + i] = yb[k * inner + i] * (gb[k * inner + i] - st[i]);
      }
    }
  });
}

template void softmax_cpu<float>(float*, const float*, int64_t, int64_t, int64_t, bool);
template void softmax_cpu<double>(double*, const double*, int64_t, int64_t, int64_t, bool);
template void softmax_backward_cpu<float>(float*, const float*, const float*, int64_t, int64_t, int64_t,
                                          bool);
template void softmax_backward_cpu<double>(double*, const double*, const double*, int64_t, int64_t, int64_t,
                                           bool);

}  // namespace sra::kern
