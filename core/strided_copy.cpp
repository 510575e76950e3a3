#include "core/strided_copy.h"

#include <cstring>

#include "core/cuda_runtime.h"
#include "core/parallel.h"
#include "core/strided.h"

namespace sra {

namespace {

template <typename D, typename S>
inline D convert(S v) {
  if constexpr (std::is_same_v<D, bf16>) {
    return bf16(float(v));
  } else if constexpr (std::is_same_v<S, bf16>) {
    return D(float(v));
  } else {
    return D(v);
  }
}

template <typename D, typename S>
void copy_typed(D* dst, const Shape& ds, const S* src, const Shape& ss, const Shape& shape) {
  StridedLoop<2> loop(shape, {&ds, &ss});
  int64_t n = loop.inner();
  auto [sd, sst] = loop.inner_strides();
  parallel_for(loop.rows(), grain_for(n, 32768), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      auto off = loop.row_offsets(r);
      D* d = dst + off[0];
      const S* s = src + off[1];
      if constexpr (std::is_same_v<D, S>) {
        if (sd == 1 && sst == 1) {
          std::memcpy(d, s, size_t(n) * sizeof(D));
          continue;
        }
      }
      if (sd == 1 && sst == 1) {
        for (int64_t i = 0; i < n; ++i) d[i] = convert<D>(s[i]);
      } else {
        for (int64_t i = 0; i < n; ++i) d[i * sd] = convert<D>(s[i * sst]);
      }
    }
  });
}

template <typename D>
void copy_from(D* dst, const Shape& ds, const void* src, DType st, const Shape& ss, const Shape& shape) {
  switch (st) {
    case DType::f32:
      return copy_typed(dst, ds, (const float*)src, ss, shape);
    case DType::f64:
      return copy_typed(dst, ds, (const double*)src, ss, shape);
    case DType::bf16:
      return copy_typed(dst, ds, (const bf16*)src, ss, shape);
    case DType::i32:
      return copy_typed(dst, ds, (const int32_t*)src, ss, shape);
    case DType::i64:
      return copy_typed(dst, ds, (const int64_t*)src, ss, shape);
    case DType::u8:
      return copy_typed(dst, ds, (const uint8_t*)src, ss, shape);
  }
}

}  // namespace

void copy_strided(void* dst, DType dt, const Shape& ds, const void* src, DType st, const Shape& ss,
                  const Shape& shape) {
  switch (dt) {
    case DType::f32:
      return copy_from((float*)dst, ds, src, st, ss, shape);
    case DType::f64:
      return copy_from((double*)dst, ds, src, st, ss, shape);
    case DType::bf16:
      return copy_from((bf16*)dst, ds, src, st, ss, shape);
    case DType::i32:
      return copy_from((int32_t*)dst, ds, src, st, ss, shape);
    case DType::i64:
      return copy_from((int64_t*)dst, ds, src, st, ss, shape);
    case DType::u8:
      return copy_from((uint8_t*)dst, ds, src, st, ss, shape);
  }
}

void fill_strided(void* dst, DType dt, const Shape& strides, const Shape& shape, double value) {
  // fill = copy from a broadcast scalar of the destination dtype
  alignas(8) unsigned char one[8];
  Shape zero(shape.size(), 0);
  switch (dt) {
    case DType::f32:
      *(float*)one = float(value);
      break;
    case DType::f64:
      *(double*)one = value;
      break;
    case DType::bf16:
      *(bf16*)one = bf16(float(value));
      break;
    case DType::i32:
      *(int32_t*)one = int32_t(value);
      break;
    case DType::i64:
      *(int64_t*)one = int64_t(value);
      break;
    case DType::u8:
      *(uint8_t*)one = value != 0.0;
      break;
  }
  copy_strided(dst, dt, strides, one, dt, zero, shape);
}

void copy_strided(Device device, void* dst, DType dt, const Shape& ds, const void* src, DType st,
                  const Shape& ss, const Shape& shape) {
  if (device.is_cuda()) return cuda::copy_strided(dst, dt, ds, src, st, ss, shape, device.index);
  copy_strided(dst, dt, ds, src, st, ss, shape);
}

void fill_strided(Device device, void* dst, DType dt, const Shape& strides, const Shape& shape,
                  double value) {
  if (device.is_cuda()) return cuda::fill_strided(dst, dt, strides, shape, value, device.index);
  fill_strided(dst, dt, strides, shape, value);
}

void copy_many(const std::vector<Tensor>& dst, const std::vector<Tensor>& src) {
  SRA_CHECK(dst.size() == src.size(), "[copy_many] ", dst.size(), " destinations for ", src.size(),
            " sources");
  if (dst.empty()) return;
  const Device device = dst[0].device();
  for (size_t j = 0; j < dst.size(); ++j) {
    SRA_CHECK(dst[j].shape() == src[j].shape() && dst[j].dtype() == src[j].dtype(), "[copy_many] pair ", j,
              ": shapes or dtypes differ");
    SRA_CHECK(dst[j].device() == device && src[j].device() == device, "[copy_many] pair ", j,
              ": every tensor must be on ", device.str());
  }
  const bool batched = device.is_cuda() && dst[0].dim() <= cuda::kCopyManyDims;
  if (!batched) {
    for (size_t j = 0; j < dst.size(); ++j) {
      Tensor d = dst[j];  // a handle on the same storage
      d.copy_(src[j]);
    }
    return;
  }
  std::vector<cuda::CopyPair> pairs(dst.size());
  for (size_t j = 0; j < dst.size(); ++j) {
    pairs[j] = {dst[j].raw(), src[j].raw(), dst[j].shape(), dst[j].strides(), src[j].strides()};
    dst[j].bump_version();
  }
  cuda::copy_many(pairs, dtype_size(dst[0].dtype()), device.index);
}

}  // namespace sra
