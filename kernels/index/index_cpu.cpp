#include <algorithm>

#include "core/parallel.h"
#include "kernels/index/index.h"

namespace sra::kern {

namespace {
constexpr int64_t kGrain = 16384;

// The lines of an N-d shape along `dim`: line l fixes every coordinate but dim. Offsets of the line's
// first element in operands with the given strides (strides of the same rank as shape).
struct Lines {
  Shape shape;
  int64_t dim;
  int64_t count() const {
    int64_t c = 1;
    for (size_t d = 0; d < shape.size(); ++d)
      if (int64_t(d) != dim) c *= shape[d];
    return c;
  }
  void offsets(int64_t l, const Shape& s0, const Shape& s1, const Shape& s2, int64_t& o0, int64_t& o1,
               int64_t& o2) const {
    o0 = o1 = o2 = 0;
    for (int64_t d = int64_t(shape.size()) - 1; d >= 0; --d) {
      if (d == dim) continue;
      int64_t i = l % shape[d];
      l /= shape[d];
      o0 += i * s0[d];
      o1 += i * s1[d];
      o2 += i * s2[d];
    }
  }
};
}  // namespace

template <typename T>
void index_select_cpu(T* out, const T* x, const int64_t* index, int64_t n, int64_t outer, int64_t x_rows,
                      int64_t inner) {
  parallel_for(outer * n, grain_for(inner, kGrain), [&](int64_t b, int64_t e) {
    for (int64_t w = b; w < e; ++w) {
      int64_t o = w / n, j = w % n;
      const T* src = x + (o * x_rows + index[j]) * inner;
      std::copy(src, src + inner, out + w * inner);
    }
  });
}

template <typename T>
void index_add_cpu(T* gx, const T* g, const int64_t* index, int64_t n, int64_t outer, int64_t x_rows,
                   int64_t inner) {
  // Work unit: (o, chunk of inner columns); each unit owns its columns of every row of gx[o].
  const int64_t chunk = 256;
  int64_t chunks = (inner + chunk - 1) / chunk;
  parallel_for(outer * chunks, grain_for(n * chunk, kGrain), [&](int64_t b, int64_t e) {
    for (int64_t w = b; w < e; ++w) {
      int64_t o = w / chunks, i0 = (w % chunks) * chunk, m = std::min(chunk, inner - i0);
      for (int64_t j = 0; j < n; ++j) {
        T* dst = gx + (o * x_rows + index[j]) * inner + i0;
        const T* src = g + (o * n + j) * inner + i0;
        for (int64_t i = 0; i < m; ++i) dst[i] += src[i];
      }
    }
  });
}

template <typename T>
void gather_cpu(T* out, const T* x, const Shape& x_shape, const int64_t* index, const Shape& index_shape,
                int64_t dim) {
  Lines lines{index_shape, dim};
  Shape si = contiguous_strides(index_shape), sx = contiguous_strides(x_shape);
  int64_t len = index_shape[dim], istep = si[dim], xstep = sx[dim];
  parallel_for(lines.count(), grain_for(len, kGrain), [&](int64_t b, int64_t e) {
    for (int64_t l = b; l < e; ++l) {
      int64_t oi, ox, unused;
      lines.offsets(l, si, sx, si, oi, ox, unused);
      for (int64_t j = 0; j < len; ++j) out[oi + j * istep] = x[ox + index[oi + j * istep] * xstep];
    }
  });
}

template <typename T>
void scatter_add_cpu(T* out, const Shape& out_shape, const int64_t* index, const Shape& index_shape,
                     const T* src, const Shape& src_shape, int64_t dim) {
  // Line l of the index writes only into line l of out (same coordinates outside dim): one thread per line.
  Lines lines{index_shape, dim};
  Shape si = contiguous_strides(index_shape), so = contiguous_strides(out_shape),
        ss = contiguous_strides(src_shape);
  int64_t len = index_shape[dim], istep = si[dim], ostep = so[dim], sstep = ss[dim];
  parallel_for(lines.count(), grain_for(len, kGrain), [&](int64_t b, int64_t e) {
    for (int64_t l = b; l < e; ++l) {
      int64_t oi, oo, os;
      lines.offsets(l, si, so, ss, oi, oo, os);
      for (int64_t j = 0; j < len; ++j) out[oo + index[oi + j * istep] * ostep] += src[os + j * sstep];
    }
  });
}

template <typename T>
void masked_fill_cpu(T* out, const T* x, const uint8_t* mask, int64_t n, double value) {
  T v = T(value);
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) out[i] = mask[i] ? v : x[i];
  });
}

template <typename T>
void where_cpu(T* out, const uint8_t* cond, const T* a, const T* b, int64_t n) {
  parallel_for(n, kGrain, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) out[i] = cond[i] ? a[i] : b[i];
  });
}

template <typename T>
void gt_cpu(uint8_t* out, const T* x, int64_t n, double s) {
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) out[i] = double(x[i]) > s ? 1 : 0;
  });
}

template <typename T>
void eq_cpu(uint8_t* out, const T* a, const T* b, int64_t n) {
  parallel_for(n, kGrain, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) out[i] = a[i] == b[i] ? 1 : 0;
  });
}

template void index_select_cpu<float>(float*, const float*, const int64_t*, int64_t, int64_t, int64_t,
                                      int64_t);
template void index_select_cpu<double>(double*, const double*, const int64_t*, int64_t, int64_t, int64_t,
                                       int64_t);
template void index_add_cpu<float>(float*, const float*, const int64_t*, int64_t, int64_t, int64_t, int64_t);
template void index_add_cpu<double>(double*, const double*, const int64_t*, int64_t, int64_t, int64_t,
                                    int64_t);
template void gather_cpu<float>(float*, const float*, const Shape&, const int64_t*, const Shape&, int64_t);
template void gather_cpu<double>(double*, const double*, const Shape&, const int64_t*, const Shape&, int64_t);
template void scatter_add_cpu<float>(float*, const Shape&, const int64_t*, const Shape&, const float*,
                                     const Shape&, int64_t);
template void scatter_add_cpu<double>(double*, const Shape&, const int64_t*, const Shape&, const double*,
                                      const Shape&, int64_t);
template void masked_fill_cpu<float>(float*, const float*, const uint8_t*, int64_t, double);
template void masked_fill_cpu<double>(double*, const double*, const uint8_t*, int64_t, double);
template void where_cpu<float>(float*, const uint8_t*, const float*, const float*, int64_t);
template void where_cpu<double>(double*, const uint8_t*, const double*, const double*, int64_t);

template void gt_cpu<float>(uint8_t*, const float*, int64_t, double);
template void gt_cpu<double>(uint8_t*, const double*, int64_t, double);
template void gt_cpu<int32_t>(uint8_t*, const int32_t*, int64_t, double);
template void gt_cpu<int64_t>(uint8_t*, const int64_t*, int64_t, double);
template void gt_cpu<uint8_t>(uint8_t*, const uint8_t*, int64_t, double);
template void eq_cpu<float>(uint8_t*, const float*, const float*, int64_t);
template void eq_cpu<double>(uint8_t*, const double*, const double*, int64_t);
template void eq_cpu<int32_t>(uint8_t*, const int32_t*, const int32_t*, int64_t);
template void eq_cpu<int64_t>(uint8_t*, const int64_t*, const int64_t*, int64_t);
template void eq_cpu<uint8_t>(uint8_t*, const uint8_t*, const uint8_t*, int64_t);

}  // namespace sra::kern
