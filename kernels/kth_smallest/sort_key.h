// Sort keys of floats (kth_smallest.h): an unsigned integer per value that orders like the number, for
// the CPU reference and the CUDA radix select alike (host and device functions, no CUDA header).
//   of(v)     NaN → the largest key; sign bit set → all bits flipped; else the sign bit set
//   value(k)  the inverse (the largest key gives the quiet NaN 0x7fff…)
#pragma once
#include <cstdint>
#include <cstring>

#include "kernels/common/host_device.h"

namespace sra::kern {

template <typename T, typename K>
struct SortKeyOf {
  using Key = K;
  static constexpr K kSign = K(1) << (8 * sizeof(K) - 1);
  SRA_HOST_DEVICE static K of(T v) {
    if (v != v) return ~K(0);
    K b;
    memcpy(&b, &v, sizeof(K));
    return (b & kSign) ? ~b : (b | kSign);
  }
  SRA_HOST_DEVICE static T value(K key) {
    K b = (key & kSign) ? (key & ~kSign) : ~key;
    T v;
    memcpy(&v, &b, sizeof(K));
    return v;
  }
};

template <typename T>
struct SortKey;
template <>
struct SortKey<float> : SortKeyOf<float, uint32_t> {};
template <>
struct SortKey<double> : SortKeyOf<double, uint64_t> {};

}  // namespace sra::kern
