// Indexing kernels on CUDA (math and contracts in kernels/index/index.h; the CPU kernel index_cpu.cpp is the
// oracle). Grid-stride loops throughout; no atomics:
//   index_select, gather, masked_fill, where, gt, eq: one thread per output element.
//   index_add:   one thread per (o, column i) owns column i of gx[o] and adds g's rows j = 0..n−1 in order.
//   scatter_add: one thread per line of the index along dim (every coordinate but dim fixed) owns that line
//                of out and adds the line's src values in order.
// Both accumulate in the CPU's order, so they are deterministic and bitwise equal to it. An index outside
// its range is never dereferenced (index_select / gather write NaN, index_add / scatter_add skip it).
#include "core/cuda_launch.h"
#include "kernels/common/dtype_switch.h"
#include "kernels/index/index.h"

namespace sra::kern {

namespace {

constexpr int kMaxDims = 8;

struct Geometry {  // a shape and up to three operands' contiguous strides, in elements
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t s0[kMaxDims] = {};
  int64_t s1[kMaxDims] = {};
  int64_t s2[kMaxDims] = {};
};

Geometry make_geometry(const char* op, const Shape& shape, const Shape& a, const Shape& b, const Shape& c) {
  SRA_CHECK(shape.size() <= size_t(kMaxDims), "[", op, "] tensors of more than ", kMaxDims,
            " dims are not supported on CUDA (got ", shape.size(), ")");
  Shape sa = contiguous_strides(a), sb = contiguous_strides(b), sc = contiguous_strides(c);
  Geometry g;
  g.ndim = int(shape.size());
  for (int d = 0; d < g.ndim; ++d) {
    g.shape[d] = shape[size_t(d)];
    g.s0[d] = sa[size_t(d)];
    g.s1[d] = sb[size_t(d)];
    g.s2[d] = sc[size_t(d)];
  }
  return g;
}

// Offsets in the three operands of line l (every coordinate of g.shape but `dim`, row-major).
__device__ inline void line_offsets(const Geometry& g, int dim, int64_t l, int64_t& o0, int64_t& o1,
                                    int64_t& o2) {
  o0 = o1 = o2 = 0;
  for (int d = g.ndim - 1; d >= 0; --d) {
    if (d == dim) continue;
    int64_t c = l % g.shape[d];
    l /= g.shape[d];
    o0 += c * g.s0[d];
    o1 += c * g.s1[d];
    o2 += c * g.s2[d];
  }
}

template <typename T>
__device__ inline T nan_t() {
  return T(NAN);
}

#define SRA_GRID_LOOP(j, n)                                                 \
  for (int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; j < (n); \
       j += int64_t(gridDim.x) * blockDim.x)

template <typename T>
__global__ void index_select_kernel(T* out, const T* x, const int64_t* index, int64_t n, int64_t outer,
                                    int64_t x_rows, int64_t inner) {
  SRA_GRID_LOOP(w, outer * n * inner) {
    int64_t i = w % inner, q = w / inner, j = q % n, o = q / n, id = index[j];
    out[w] = id >= 0 && id < x_rows ? x[(o * x_rows + id) * inner + i] : nan_t<T>();
  }
}

template <typename T>
__global__ void index_add_kernel(T* gx, const T* g, const int64_t* index, int64_t n, int64_t outer,
                                 int64_t x_rows, int64_t inner) {
  SRA_GRID_LOOP(w, outer * inner) {
    int64_t o = w / inner, i = w % inner;
    for (int64_t j = 0; j < n; ++j) {
      int64_t id = index[j];
      if (id >= 0 && id < x_rows) gx[(o * x_rows + id) * inner + i] += g[(o * n + j) * inner + i];
    }
  }
}

// g: shape = the index's, s0 = the index's strides, s1 = x's strides.
template <typename T>
__global__ void gather_kernel(T* out, const T* x, const int64_t* index, Geometry g, int dim, int64_t x_len,
                              int64_t count) {
  SRA_GRID_LOOP(p, count) {
    int64_t rest = p, ox = 0;
    for (int d = g.ndim - 1; d >= 0; --d) {
      int64_t c = rest % g.shape[d];
      rest /= g.shape[d];
      if (d != dim) ox += c * g.s1[d];
    }
    int64_t id = index[p];
    out[p] = id >= 0 && id < x_len ? x[ox + id * g.s1[dim]] : nan_t<T>();
  }
}

// g: shape = the index's, s0 = the index's strides, s1 = out's, s2 = src's.
template <typename T>
__global__ void scatter_add_kernel(T* out, const int64_t* index, const T* src, Geometry g, int dim,
                                   int64_t out_len, int64_t lines) {
  SRA_GRID_LOOP(l, lines) {
    int64_t oi, oo, os;
    line_offsets(g, dim, l, oi, oo, os);
    int64_t len = g.shape[dim], istep = g.s0[dim], ostep = g.s1[dim], sstep = g.s2[dim];
    for (int64_t j = 0; j < len; ++j) {
      int64_t id = index[oi + j * istep];
      if (id >= 0 && id < out_len) out[oo + id * ostep] += src[os + j * sstep];
    }
  }
}

template <typename T>
__global__ void masked_fill_kernel(T* out, const T* x, const uint8_t* mask, int64_t n, T v) {
  SRA_GRID_LOOP(i, n) {
    out[i] = mask[i] ? v : x[i];
  }
}

template <typename T>
__global__ void where_kernel(T* out, const uint8_t* cond, const T* a, const T* b, int64_t n) {
  SRA_GRID_LOOP(i, n) {
    out[i] = cond[i] ? a[i] : b[i];
  }
}

template <typename T>
__global__ void gt_kernel(uint8_t* out, const T* x, int64_t n, double s) {
  SRA_GRID_LOOP(i, n) {
    out[i] = double(x[i]) > s ? 1 : 0;
  }
}

template <typename T>
__global__ void eq_kernel(uint8_t* out, const T* a, const T* b, int64_t n) {
  SRA_GRID_LOOP(i, n) {
    out[i] = a[i] == b[i] ? 1 : 0;
  }
}

#undef SRA_GRID_LOOP

}  // namespace

void index_select_cuda(const IndexSelectArgs& a, int device) {
  int64_t total = a.outer * a.n * a.inner;
  if (total == 0) return;
  cuda::DeviceGuard guard(device);
  for_float(a.dtype, "index_select", "CUDA", [&](auto t) {
    using T = decltype(t);
    index_select_kernel<T><<<cuda::grid_for(total), cuda::kThreads, 0, cuda::stream(device)>>>(
        static_cast<T*>(a.out), static_cast<const T*>(a.x), a.index, a.n, a.outer, a.x_rows, a.inner);
  });
  cuda::check_launch("index_select", device);
}

void index_add_cuda(const IndexAddArgs& a, int device) {
  if (a.outer * a.n * a.inner == 0) return;
  cuda::DeviceGuard guard(device);
  for_float(a.dtype, "index_select", "CUDA", [&](auto t) {
    using T = decltype(t);
    index_add_kernel<T><<<cuda::grid_for(a.outer * a.inner), cuda::kThreads, 0, cuda::stream(device)>>>(
        static_cast<T*>(a.gx), static_cast<const T*>(a.g), a.index, a.n, a.outer, a.x_rows, a.inner);
  });
  cuda::check_launch("index_select", device);
}

void gather_cuda(const GatherArgs& a, int device) {
  int64_t count = shape_numel(a.index_shape);
  if (count == 0) return;
  Geometry g = make_geometry("gather", a.index_shape, a.index_shape, a.x_shape, a.x_shape);
  cuda::DeviceGuard guard(device);
  for_float(a.dtype, "gather", "CUDA", [&](auto t) {
    using T = decltype(t);
    gather_kernel<T><<<cuda::grid_for(count), cuda::kThreads, 0, cuda::stream(device)>>>(
        static_cast<T*>(a.out), static_cast<const T*>(a.x), a.index, g, int(a.dim), a.x_shape[size_t(a.dim)],
        count);
  });
  cuda::check_launch("gather", device);
}

void scatter_add_cuda(const ScatterAddArgs& a, int device) {
  int64_t count = shape_numel(a.index_shape);
  if (count == 0) return;
  Geometry g = make_geometry("scatter_add", a.index_shape, a.index_shape, a.out_shape, a.src_shape);
  int64_t lines = count / a.index_shape[size_t(a.dim)];
  cuda::DeviceGuard guard(device);
  for_float(a.dtype, "scatter_add", "CUDA", [&](auto t) {
    using T = decltype(t);
    scatter_add_kernel<T><<<cuda::grid_for(lines), cuda::kThreads, 0, cuda::stream(device)>>>(
        static_cast<T*>(a.out), a.index, static_cast<const T*>(a.src), g, int(a.dim),
        a.out_shape[size_t(a.dim)], lines);
  });
  cuda::check_launch("scatter_add", device);
}

void masked_fill_cuda(const MaskedFillArgs& a, int device) {
  if (a.n == 0) return;
  cuda::DeviceGuard guard(device);
  for_float(a.dtype, "masked_fill", "CUDA", [&](auto t) {
    using T = decltype(t);
    masked_fill_kernel<T><<<cuda::grid_for(a.n), cuda::kThreads, 0, cuda::stream(device)>>>(
        static_cast<T*>(a.out), static_cast<const T*>(a.x), a.mask, a.n, T(a.value));
  });
  cuda::check_launch("masked_fill", device);
}

void where_cuda(const WhereArgs& a, int device) {
  if (a.n == 0) return;
  cuda::DeviceGuard guard(device);
  for_float(a.dtype, "where", "CUDA", [&](auto t) {
    using T = decltype(t);
    where_kernel<T><<<cuda::grid_for(a.n), cuda::kThreads, 0, cuda::stream(device)>>>(
        static_cast<T*>(a.out), a.cond, static_cast<const T*>(a.a), static_cast<const T*>(a.b), a.n);
  });
  cuda::check_launch("where", device);
}

void gt_cuda(const GtArgs& a, int device) {
  if (a.n == 0) return;
  cuda::DeviceGuard guard(device);
  for_any(a.dtype, "gt", "CUDA", [&](auto t) {
    using T = decltype(t);
    gt_kernel<T><<<cuda::grid_for(a.n), cuda::kThreads, 0, cuda::stream(device)>>>(
        a.out, static_cast<const T*>(a.x), a.n, a.s);
  });
  cuda::check_launch("gt", device);
}

void eq_cuda(const EqArgs& a, int device) {
  if (a.n == 0) return;
  cuda::DeviceGuard guard(device);
  for_any(a.dtype, "eq", "CUDA", [&](auto t) {
    using T = decltype(t);
    eq_kernel<T><<<cuda::grid_for(a.n), cuda::kThreads, 0, cuda::stream(device)>>>(
        a.out, static_cast<const T*>(a.a), static_cast<const T*>(a.b), a.n);
  });
  cuda::check_launch("eq", device);
}

}  // namespace sra::kern
