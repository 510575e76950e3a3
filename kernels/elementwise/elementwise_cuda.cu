// Elementwise kernels on CUDA (math and contracts in kernels/elementwise/elementwise.h; the CPU kernel
// elementwise_cpu.cpp is the oracle). One thread per output element in grid-stride loops; the op is a
// uniform switch inside the loop. T = float or double; arithmetic in T.
//   binary:  out (contiguous, `shape`) = a ∘ b, a and b strided (0 for broadcast dims), up to 8 dims
//   unary / unary_backward: n contiguous elements
//   axpy_strided: out (strided) += alpha·b (strided), over `shape`
#include "core/cuda_launch.h"
#include "kernels/common/dtype_switch.h"
#include "kernels/elementwise/elementwise.h"

namespace sra::kern {

namespace {

constexpr int kMaxDims = 8;

struct Geometry {  // a broadcast shape and two operands' strides, in elements
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t s0[kMaxDims] = {};
  int64_t s1[kMaxDims] = {};
};

Geometry make_geometry(const char* op, const Shape& shape, const Shape& s0, const Shape& s1) {
  SRA_CHECK(shape.size() <= size_t(kMaxDims), "[", op, "] tensors of more than ", kMaxDims,
            " dims are not supported on CUDA (got ", shape.size(), ")");
  Geometry g;
  g.ndim = int(shape.size());
  for (int d = 0; d < g.ndim; ++d) {
    g.shape[d] = shape[size_t(d)];
    g.s0[d] = s0[size_t(d)];
    g.s1[d] = s1[size_t(d)];
  }
  return g;
}

__device__ inline void offsets(const Geometry& g, int64_t i, int64_t& o0, int64_t& o1) {
  o0 = 0;
  o1 = 0;
  for (int d = g.ndim - 1; d >= 0; --d) {
    int64_t c = i % g.shape[d];
    i /= g.shape[d];
    o0 += c * g.s0[d];
    o1 += c * g.s1[d];
  }
}

template <typename T>
__device__ inline T binary_apply(BinaryOp op, T x, T y) {
  switch (op) {
    case BinaryOp::add:
      return x + y;
    case BinaryOp::sub:
      return x - y;
    case BinaryOp::mul:
      return x * y;
    case BinaryOp::div:
      return x / y;
  }
  return T(0);
}

template <typename T>
__device__ inline T sigm(T x) {
  return T(1) / (T(1) + exp(-x));
}

template <typename T>
__device__ inline T unary_apply(UnaryOp op, T v, T p) {
  switch (op) {
    case UnaryOp::neg:
      return -v;
    case UnaryOp::exp:
      return exp(v);
    case UnaryOp::log:
      return log(v);
    case UnaryOp::sqrt:
      return sqrt(v);
    case UnaryOp::rsqrt:
      return T(1) / sqrt(v);
    case UnaryOp::tanh:
      return tanh(v);
    case UnaryOp::sigmoid:
      return sigm(v);
    case UnaryOp::silu:
      return v * sigm(v);
    case UnaryOp::gelu:
      return T(0.5) * v * (T(1) + erf(v * T(0.70710678118654752440)));
    case UnaryOp::relu:
      return v > T(0) ? v : T(0);
    case UnaryOp::pow:
      return pow(v, p);
    case UnaryOp::scale:
      return v * p;
    case UnaryOp::add_scalar:
      return v + p;
  }
  return T(0);
}

// f'(x) given x = u and y = f(u).
template <typename T>
__device__ inline T unary_derivative(UnaryOp op, T u, T v, T p) {
  switch (op) {
    case UnaryOp::neg:
      return T(-1);
    case UnaryOp::exp:
      return v;
    case UnaryOp::log:
      return T(1) / u;
    case UnaryOp::sqrt:
      return T(0.5) / v;
    case UnaryOp::rsqrt:
      return T(-0.5) * v * v * v;
    case UnaryOp::tanh:
      return T(1) - v * v;
    case UnaryOp::sigmoid:
      return v * (T(1) - v);
    case UnaryOp::silu: {
      T s = sigm(u);
      return s * (T(1) + u * (T(1) - s));
    }
    case UnaryOp::gelu: {
      T cdf = T(0.5) * (T(1) + erf(u * T(0.70710678118654752440)));
      T pdf = exp(T(-0.5) * u * u) * T(0.3989422804014327);
      return cdf + u * pdf;
    }
    case UnaryOp::relu:
      return u > T(0) ? T(1) : T(0);
    case UnaryOp::pow:
      return p * pow(u, p - T(1));
    case UnaryOp::scale:
      return p;
    case UnaryOp::add_scalar:
      return T(1);
  }
  return T(0);
}

#define SRA_GRID_STRIDE(i, n)                                               \
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
       i += int64_t(gridDim.x) * blockDim.x)

template <typename T>
__global__ void binary_kernel(BinaryOp op, T* out, const T* a, const T* b, Geometry g, int64_t n) {
  SRA_GRID_STRIDE(i, n) {
    int64_t oa, ob;
    offsets(g, i, oa, ob);
    out[i] = binary_apply(op, a[oa], b[ob]);
  }
}

template <typename T>
__global__ void binary_contiguous_kernel(BinaryOp op, T* out, const T* a, const T* b, int64_t n) {
  SRA_GRID_STRIDE(i, n) out[i] = binary_apply(op, a[i], b[i]);
}

template <typename T>
__global__ void unary_kernel(UnaryOp op, T* y, const T* x, int64_t n, T p) {
  SRA_GRID_STRIDE(i, n) y[i] = unary_apply(op, x[i], p);
}

template <typename T>
__global__ void unary_backward_kernel(UnaryOp op, T* gx, const T* gy, const T* x, const T* y, int64_t n,
                                      T p) {
  SRA_GRID_STRIDE(i, n) gx[i] = gy[i] * unary_derivative(op, x[i], y[i], p);
}

// Each output element is read-modify-written by exactly one thread: out's strides address distinct
// elements (an in-place target is never a broadcast view).
template <typename T>
__global__ void axpy_kernel(T* out, const T* b, Geometry g, int64_t n, T alpha) {
  SRA_GRID_STRIDE(i, n) {
    int64_t oo, ob;
    offsets(g, i, oo, ob);
    out[oo] += alpha * b[ob];
  }
}

bool is_contiguous_full(const Shape& shape, const Shape& strides) {
  return strides == contiguous_strides(shape);
}

template <typename T>
void binary_typed(const BinaryArgs& a, int device) {
  int64_t n = shape_numel(a.shape);
  if (n == 0) return;
  cuda::DeviceGuard guard(device);
  auto* out = static_cast<T*>(a.out);
  auto* x = static_cast<const T*>(a.a);
  auto* y = static_cast<const T*>(a.b);
  if (is_contiguous_full(a.shape, a.a_strides) && is_contiguous_full(a.shape, a.b_strides)) {
    binary_contiguous_kernel<T>
        <<<cuda::grid_for(n), cuda::kThreads, 0, cuda::stream(device)>>>(a.op, out, x, y, n);
  } else {
    Geometry g = make_geometry("binary", a.shape, a.a_strides, a.b_strides);
    binary_kernel<T><<<cuda::grid_for(n), cuda::kThreads, 0, cuda::stream(device)>>>(a.op, out, x, y, g, n);
  }
  cuda::check_launch("binary", device);
}

template <typename T>
void unary_typed(const UnaryArgs& a, int device) {
  if (a.n == 0) return;
  cuda::DeviceGuard guard(device);
  unary_kernel<T><<<cuda::grid_for(a.n), cuda::kThreads, 0, cuda::stream(device)>>>(
      a.op, static_cast<T*>(a.y), static_cast<const T*>(a.x), a.n, T(a.p));
  cuda::check_launch("unary", device);
}

template <typename T>
void unary_backward_typed(const UnaryBackwardArgs& a, int device) {
  if (a.n == 0) return;
  cuda::DeviceGuard guard(device);
  unary_backward_kernel<T><<<cuda::grid_for(a.n), cuda::kThreads, 0, cuda::stream(device)>>>(
      a.op, static_cast<T*>(a.gx), static_cast<const T*>(a.gy), static_cast<const T*>(a.x),
      static_cast<const T*>(a.y), a.n, T(a.p));
  cuda::check_launch("unary_backward", device);
}

template <typename T>
void axpy_typed(const AxpyArgs& a, int device) {
  int64_t n = shape_numel(a.shape);
  if (n == 0) return;
  cuda::DeviceGuard guard(device);
  Geometry g = make_geometry("add_", a.shape, a.out_strides, a.b_strides);
  axpy_kernel<T><<<cuda::grid_for(n), cuda::kThreads, 0, cuda::stream(device)>>>(
      static_cast<T*>(a.out), static_cast<const T*>(a.b), g, n, T(a.alpha));
  cuda::check_launch("add_", device);
}

}  // namespace

void binary_cuda(const BinaryArgs& a, int device) {
  for_float(a.dtype, "binary", "CUDA", [&](auto t) { binary_typed<decltype(t)>(a, device); });
}
void unary_cuda(const UnaryArgs& a, int device) {
  for_float(a.dtype, "unary", "CUDA", [&](auto t) { unary_typed<decltype(t)>(a, device); });
}
void unary_backward_cuda(const UnaryBackwardArgs& a, int device) {
  for_float(a.dtype, "unary_backward", "CUDA", [&](auto t) { unary_backward_typed<decltype(t)>(a, device); });
}
void axpy_strided_cuda(const AxpyArgs& a, int device) {
  for_float(a.dtype, "add_", "CUDA", [&](auto t) { axpy_typed<decltype(t)>(a, device); });
}

}  // namespace sra::kern
