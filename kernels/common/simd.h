// Portable 32-byte SIMD helpers for the CPU attention kernels (GCC/Clang vector extensions; AVX2+FMA
// when compiled with -mavx2 -mfma): Vec<T> holds kLanes<T> values (8 floats or 4 doubles).
//   exp_v(x): e^x lane-wise. f32: x = n·ln2 + r (two-part ln2), e^r by a degree-6 polynomial (Cephes,
//   ≈1 ulp), 2^n through the exponent bits; x < −87.3 (−inf included) → 0; NaN stays NaN; x is clamped
//   to [−88, 88] before the float → int conversion so that it is always in range. f64: std::exp.
// Horizontal reductions combine lanes in a fixed order (deterministic).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace sra::kern::simd {

template <typename T>
struct VecOf {
  typedef T type __attribute__((vector_size(32)));
};
template <typename T>
using Vec = typename VecOf<T>::type;
template <typename T>
constexpr int64_t kLanes = int64_t(32 / sizeof(T));

template <typename T>
inline Vec<T> load(const T* p) {
  Vec<T> v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <typename T>
inline void store(T* p, Vec<T> v) {
  std::memcpy(p, &v, sizeof v);
}
template <typename T>
inline Vec<T> splat(T x) {
  return Vec<T>{} + x;
}
// {0, 1, …, kLanes−1} as T (lane indices for masking by column).
template <typename T>
inline Vec<T> lane_index() {
  Vec<T> v;
  for (int64_t l = 0; l < kLanes<T>; ++l) v[l] = T(l);
  return v;
}
template <typename T>
inline T lanes_max(Vec<T> v) {
  T r = v[0];
  for (int64_t l = 1; l < kLanes<T>; ++l) r = std::max(r, T(v[l]));
  return r;
}
template <typename T>
inline T lanes_sum(Vec<T> v) {
  T r = v[0];
  for (int64_t l = 1; l < kLanes<T>; ++l) r += v[l];
  return r;
}

inline Vec<float> exp_f32(Vec<float> x) {
  typedef int32_t VecI __attribute__((vector_size(32)));
  Vec<float> xc = x < splat(88.0f) ? x : splat(88.0f);
  xc = xc > splat(-88.0f) ? xc : splat(-88.0f);
  const Vec<float> n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  // round to nearest
  const Vec<float> r = (xc - n * 0.693359375f) + n * 2.12194440e-4f;             // two-part ln2
  Vec<float> p = splat(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const Vec<float> y = (p * (r * r) + r) + 1.0f;
  const VecI bits = (__builtin_convertvector(n, VecI) + 127) << 23;
  const Vec<float> res = y * (Vec<float>)bits;  // 2^n: a same-size vector cast reinterprets the bits
  return x == x ? (x < splat(-87.3f) ? Vec<float>{} : res) : x;
}

template <typename T>
inline Vec<T> exp_v(Vec<T> x) {
  if constexpr (std::is_same_v<T, float>) {
    return exp_f32(x);
  } else {
    for (int64_t l = 0; l < kLanes<T>; ++l) x[l] = std::exp(x[l]);
    return x;
  }
}

// row[c] ← e^(row[c] − sub) for c < n (n a multiple of kLanes); returns Σ_c row[c] (fixed lane order).
template <typename T>
T exp_sum(T* row, int64_t n, T sub) {
  Vec<T> acc{};
  for (int64_t c = 0; c < n; c += kLanes<T>) {
    const Vec<T> e = exp_v<T>(load(row + c) - sub);
    store(row + c, e);
    acc += e;
  }
  return lanes_sum<T>(acc);
}

inline int64_t round_up(int64_t x, int64_t m) {
  return (x + m - 1) / m * m;
}

}  // namespace sra::kern::simd
