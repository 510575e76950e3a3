// Strided copy and fill on CUDA (contract in core/cuda_runtime.h; the CPU version is the oracle):
// dst[i] = convert<dst dtype>(src[i]) over an N-d shape (up to 8 dims), any strides (0 for broadcast).
// Conversions match the CPU's exactly: to bf16 through float with round-to-nearest-even (NaN stays a
// quiet NaN), from bf16 through float, otherwise a C++ conversion.
#include <cstdint>

#include "core/cuda_launch.h"
#include "core/cuda_runtime.h"

namespace sra::cuda {

namespace {

constexpr int kMaxDims = 8;

struct CopyGeometry {
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t sd[kMaxDims] = {};
  int64_t ss[kMaxDims] = {};
};

struct Bf16 {  // bit pattern of a bfloat16 (the CPU's sra::bf16 has a host-only constructor)
  uint16_t bits;
};

__device__ inline uint16_t bf16_bits(float f) {
  uint32_t u = __float_as_uint(f);
  if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu)) return uint16_t((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}

template <typename D, typename S>
__device__ inline D convert(S v) {
  if constexpr (std::is_same_v<D, Bf16>) {
    if constexpr (std::is_same_v<S, Bf16>) {
      return v;
    } else {
      return Bf16{bf16_bits(float(v))};
    }
  } else if constexpr (std::is_same_v<S, Bf16>) {
    return D(__uint_as_float(uint32_t(v.bits) << 16));
  } else {
    return D(v);
  }
}

template <typename D, typename S>
__global__ void copy_kernel(D* dst, const S* src, CopyGeometry g, int64_t n) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    int64_t r = i, od = 0, os = 0;
    for (int d = g.ndim - 1; d >= 0; --d) {
      int64_t c = r % g.shape[d];
      r /= g.shape[d];
      od += c * g.sd[d];
      os += c * g.ss[d];
    }
    dst[od] = convert<D>(src[os]);
  }
}

template <typename D, typename S>
void launch(void* dst, const void* src, const CopyGeometry& g, int64_t n, int device) {
  copy_kernel<D, S>
      <<<grid_for(n), kThreads, 0, stream(device)>>>(static_cast<D*>(dst), static_cast<const S*>(src), g, n);
}

template <typename D>
void launch_from(void* dst, const void* src, DType st, const CopyGeometry& g, int64_t n, int device) {
  switch (st) {
    case DType::f32:
      return launch<D, float>(dst, src, g, n, device);
    case DType::f64:
      return launch<D, double>(dst, src, g, n, device);
    case DType::bf16:
      return launch<D, Bf16>(dst, src, g, n, device);
    case DType::i32:
      return launch<D, int32_t>(dst, src, g, n, device);
    case DType::i64:
      return launch<D, int64_t>(dst, src, g, n, device);
    case DType::u8:
      return launch<D, uint8_t>(dst, src, g, n, device);
  }
}

template <typename D>
__global__ void fill_kernel(D* dst, D v, CopyGeometry g, int64_t n) {
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    int64_t r = i, od = 0;
    for (int d = g.ndim - 1; d >= 0; --d) {
      od += (r % g.shape[d]) * g.sd[d];
      r /= g.shape[d];
    }
    dst[od] = v;
  }
}

template <typename D>
void launch_fill(D* dst, D v, const CopyGeometry& g, int64_t n, int device) {
  fill_kernel<D><<<grid_for(n), kThreads, 0, stream(device)>>>(dst, v, g, n);
}

bool dense_same(const std::vector<int64_t>& shape, const std::vector<int64_t>& a,
                const std::vector<int64_t>& b) {
  int64_t expect = 1;
  for (int d = int(shape.size()) - 1; d >= 0; --d) {
    if (shape[size_t(d)] != 1 && (a[size_t(d)] != expect || b[size_t(d)] != expect)) return false;
    expect *= shape[size_t(d)];
  }
  return true;
}

}  // namespace

void copy_strided(void* dst, DType dt, const std::vector<int64_t>& ds, const void* src, DType st,
                  const std::vector<int64_t>& ss, const std::vector<int64_t>& shape, int device) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  if (n == 0) return;
  if (dt == st && dense_same(shape, ds, ss)) return memcpy_d2d(dst, src, size_t(n) * dtype_size(dt), device);
  SRA_CHECK(shape.size() <= size_t(kMaxDims), "[copy] tensors of more than ", kMaxDims,
            " dims are not supported on CUDA (got ", shape.size(), ")");
  CopyGeometry g;
  g.ndim = int(shape.size());
  for (int d = 0; d < g.ndim; ++d) {
    g.shape[d] = shape[size_t(d)];
    g.sd[d] = ds[size_t(d)];
    g.ss[d] = ss[size_t(d)];
  }
  DeviceGuard guard(device);
  switch (dt) {
    case DType::f32:
      launch_from<float>(dst, src, st, g, n, device);
      break;
    case DType::f64:
      launch_from<double>(dst, src, st, g, n, device);
      break;
    case DType::bf16:
      launch_from<Bf16>(dst, src, st, g, n, device);
      break;
    case DType::i32:
      launch_from<int32_t>(dst, src, st, g, n, device);
      break;
    case DType::i64:
      launch_from<int64_t>(dst, src, st, g, n, device);
      break;
    case DType::u8:
      launch_from<uint8_t>(dst, src, st, g, n, device);
      break;
  }
  check_launch("copy", device);
}

void fill_strided(void* dst, DType dt, const std::vector<int64_t>& strides, const std::vector<int64_t>& shape,
                  double value, int device) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  if (n == 0) return;
  SRA_CHECK(shape.size() <= size_t(kMaxDims), "[fill] tensors of more than ", kMaxDims,
            " dims are not supported on CUDA (got ", shape.size(), ")");
  CopyGeometry g;
  g.ndim = int(shape.size());
  for (int d = 0; d < g.ndim; ++d) {
    g.shape[d] = shape[size_t(d)];
    g.sd[d] = strides[size_t(d)];
  }
  DeviceGuard guard(device);
  // The value is converted on the host exactly as the CPU fill converts it, and passed by value.
  switch (dt) {
    case DType::f32:
      launch_fill(static_cast<float*>(dst), float(value), g, n, device);
      break;
    case DType::f64:
      launch_fill(static_cast<double*>(dst), value, g, n, device);
      break;
    case DType::bf16:
      launch_fill(static_cast<Bf16*>(dst), Bf16{bf16(float(value)).bits}, g, n, device);
      break;
    case DType::i32:
      launch_fill(static_cast<int32_t*>(dst), int32_t(value), g, n, device);
      break;
    case DType::i64:
      launch_fill(static_cast<int64_t*>(dst), int64_t(value), g, n, device);
      break;
    case DType::u8:
      launch_fill(static_cast<uint8_t*>(dst), uint8_t(value != 0.0), g, n, device);
      break;
  }
  check_launch("fill", device);
}

}  // namespace sra::cuda
