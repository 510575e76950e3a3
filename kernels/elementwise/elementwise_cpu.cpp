#include <cmath>

#include "core/parallel.h"
#include "core/strided.h"
#include "kernels/elementwise/elementwise.h"

namespace sra::kern {

namespace {
constexpr int64_t kGrain = 16384;

template <typename T, typename F>
void binary_loop(T* out, const T* a, const Shape& sa, const T* b, const Shape& sb, const Shape& shape, F f) {
  Shape so = contiguous_strides(shape);
  StridedLoop<3> loop(shape, {&so, &sa, &sb});
  int64_t n = loop.inner();
  auto [s0, s1, s2] = loop.inner_strides();
  parallel_for(loop.rows(), grain_for(n, kGrain), [&](int64_t rb, int64_t re) {
    for (int64_t r = rb; r < re; ++r) {
      auto off = loop.row_offsets(r);
      T* o = out + off[0];
      const T* x = a + off[1];
      const T* y = b + off[2];
      if (s1 == 1 && s2 == 1) {
        for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], y[i]);
      } else if (s1 == 1 && s2 == 0) {
        T yv = y[0];
        for (int64_t i = 0; i < n; ++i) o[i] = f(x[i], yv);
      } else if (s1 == 0 && s2 == 1) {
        T xv = x[0];
        for (int64_t i = 0; i < n; ++i) o[i] = f(xv, y[i]);
      } else {
        for (int64_t i = 0; i < n; ++i) o[i * s0] = f(x[i * s1], y[i * s2]);
      }
    }
  });
}

template <typename T, typename F>
void map(T* y, const T* x, int64_t n, F f) {
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) y[i] = f(x[i]);
  });
}

template <typename T, typename F>
void map_back(T* gx, const T* gy, const T* x, const T* y, int64_t n, F f) {
  parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) gx[i] = gy[i] * f(x[i], y[i]);
  });
}

template <typename T>
inline T sigm(T x) {
  return T(1) / (T(1) + std::exp(-x));
}
}  // namespace

template <typename T>
void binary_cpu(BinaryOp op, T* out, const T* a, const Shape& sa, const T* b, const Shape& sb,
                const Shape& shape) {
  switch (op) {
    case BinaryOp::add:
      return binary_loop(out, a, sa, b, sb, shape, [](T x, T y) { return x + y; });
    case BinaryOp::sub:
      return binary_loop(out, a, sa, b, sb, shape, [](T x, T y) { return x - y; });
    case BinaryOp::mul:
      return binary_loop(out, a, sa, b, sb, shape, [](T x, T y) { return x * y; });
    case BinaryOp::div:
      return binary_loop(out, a, sa, b, sb, shape, [](T x, T y) { return x / y; });
  }
}

template <typename T>
void unary_cpu(UnaryOp op, T* y, const T* x, int64_t n, double p) {
  const T pt = T(p);
  switch (op) {
    case UnaryOp::neg:
      return map(y, x, n, [](T v) { return -v; });
    case UnaryOp::exp:
      return map(y, x, n, [](T v) { return std::exp(v); });
    case UnaryOp::log:
      return map(y, x, n, [](T v) { return std::log(v); });
    case UnaryOp::sqrt:
      return map(y, x, n, [](T v) { return std::sqrt(v); });
    case UnaryOp::rsqrt:
      return map(y, x, n, [](T v) { return T(1) / std::sqrt(v); });
    case UnaryOp::tanh:
      return map(y, x, n, [](T v) { return std::tanh(v); });
    case UnaryOp::sigmoid:
      return map(y, x, n, [](T v) { return sigm(v); });
    case UnaryOp::silu:
      return map(y, x, n, [](T v) { return v * sigm(v); });
    case UnaryOp::gelu:
      return map(y, x, n, [](T v) { return T(0.5) * v * (T(1) + std::erf(v * T(M_SQRT1_2))); });
    case UnaryOp::relu:
      return map(y, x, n, [](T v) { return v > T(0) ? v : T(0); });
    case UnaryOp::pow:
      return map(y, x, n, [pt](T v) { return std::pow(v, pt); });
    case UnaryOp::scale:
      return map(y, x, n, [pt](T v) { return v * pt; });
    case UnaryOp::add_scalar:
      return map(y, x, n, [pt](T v) { return v + pt; });
  }
}

template <typename T>
void unary_backward_cpu(UnaryOp op, T* gx, const T* gy, const T* x, const T* y, int64_t n, double p) {
  const T pt = T(p);
  switch (op) {
    case UnaryOp::neg:
      return map_back(gx, gy, x, y, n, [](T, T) { return T(-1); });
    case UnaryOp::exp:
      return map_back(gx, gy, x, y, n, [](T, T v) { return v; });
    case UnaryOp::log:
      return map_back(gx, gy, x, y, n, [](T u, T) { return T(1) / u; });
    case UnaryOp::sqrt:
      return map_back(gx, gy, x, y, n, [](T, T v) { return T(0.5) / v; });
    case UnaryOp::rsqrt:
      return map_back(gx, gy, x, y, n, [](T, T v) { return T(-0.5) * v * v * v; });
    case UnaryOp::tanh:
      return map_back(gx, gy, x, y, n, [](T, T v) { return T(1) - v * v; });
    case UnaryOp::sigmoid:
      return map_back(gx, gy, x, y, n, [](T, T v) { return v * (T(1) - v); });
    case UnaryOp::silu:
      return map_back(gx, gy, x, y, n, [](T u, T) {
        T s = sigm(u);
        return s * (T(1) + u * (T(1) - s));
      });
    case UnaryOp::gelu:
      return map_back(gx, gy, x, y, n, [](T u, T) {
        T cdf = T(0.5) * (T(1) + std::erf(u * T(M_SQRT1_2)));
        T pdf = std::exp(T(-0.5) * u * u) * T(0.3989422804014327);
        return cdf + u * pdf;
      });
    case UnaryOp::relu:
      return map_back(gx, gy, x, y, n, [](T u, T) { return u > T(0) ? T(1) : T(0); });
    case UnaryOp::pow:
      return map_back(gx, gy, x, y, n, [pt](T u, T) { return pt * std::pow(u, pt - T(1)); });
    case UnaryOp::scale:
      return map_back(gx, gy, x, y, n, [pt](T, T) { return pt; });
    case UnaryOp::add_scalar:
      return map_back(gx, gy, x, y, n, [](T, T) { return T(1); });
  }
}

template <typename T>
void axpy_strided_cpu(T* out, const Shape& so, const T* b, const Shape& sb, const Shape& shape,
                      double alpha) {
  const T al = T(alpha);
  StridedLoop<2> loop(shape, {&so, &sb});
  int64_t n = loop.inner();
  auto [s0, s1] = loop.inner_strides();
  parallel_for(loop.rows(), grain_for(n, kGrain), [&](int64_t rb, int64_t re) {
    for (int64_t r = rb; r < re; ++r) {
      auto off = loop.row_offsets(r);
      T* o = out + off[0];
      const T* y = b + off[1];
      for (int64_t i = 0; i < n; ++i) o[i * s0] += al * y[i * s1];
    }
  });
}

#define SRA_INSTANTIATE(T)                                                                                 \
  template void binary_cpu<T>(BinaryOp, T*, const T*, const Shape&, const T*, const Shape&, const Shape&); \
  template void unary_cpu<T>(UnaryOp, T*, const T*, int64_t, double);                                      \
  template void unary_backward_cpu<T>(UnaryOp, T*, const T*, const T*, const T*, int64_t, double);         \
  template void axpy_strided_cpu<T>(T*, const Shape&, const T*, const Shape&, const Shape&, double);
SRA_INSTANTIATE(float)
SRA_INSTANTIATE(double)
#undef SRA_INSTANTIATE

}  // namespace sra::kern
