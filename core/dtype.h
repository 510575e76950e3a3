// Element types. Compute kernels run in f32 (training) and f64 (gradchecks); bf16 is a storage type
// (converted with round-to-nearest-even); i32/i64 hold indices; u8 holds booleans and masks.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>

namespace sra {

enum class DType : uint8_t { f32, f64, bf16, i32, i64, u8 };
constexpr DType kBool = DType::u8;

size_t dtype_size(DType t);
const char* dtype_name(DType t);
DType dtype_from_name(const std::string& name);  // throws "[dtype] unknown dtype 'x'"
inline bool is_floating(DType t) {
  return t == DType::f32 || t == DType::f64 || t == DType::bf16;
}

// bfloat16: the top 16 bits of an IEEE f32.
struct bf16 {
  uint16_t bits = 0;
  bf16() = default;
  explicit bf16(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu)) {
      bits = uint16_t((u >> 16) | 0x40);  // quiet NaN
    } else {
      u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest even
      bits = uint16_t(u >> 16);
    }
  }
  explicit operator float() const {
    uint32_t u = uint32_t(bits) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
};

template <typename T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() {
  return DType::f32;
}
template <>
constexpr DType dtype_of<double>() {
  return DType::f64;
}
template <>
constexpr DType dtype_of<bf16>() {
  return DType::bf16;
}
template <>
constexpr DType dtype_of<int32_t>() {
  return DType::i32;
}
template <>
constexpr DType dtype_of<int64_t>() {
  return DType::i64;
}
template <>
constexpr DType dtype_of<uint8_t>() {
  return DType::u8;
}

}  // namespace sra
