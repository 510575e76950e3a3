// Fused cross-entropy on CUDA (math and contracts in cross_entropy.h; the CPU kernel cross_entropy_cpu.cpp is
// the oracle).
//   forward:  rows_kernel, one block of kRowThreads per row (block-stride over rows): mx, ls and the row's
//             loss (double) through fixed-shape trees; then finish_kernel, one block: Σ row losses and the
//             kept count through a fixed-shape tree, loss = T(Σ / kept) (0 when none kept). Deterministic.
//   backward: one thread per element of gx (grid-stride); scale = grad / kept is read on the device.
// A target outside [0, V) that is not ignore_index makes its row's loss NaN and is never dereferenced.
#include "core/cuda_launch.h"
#include "kernels/common/block_tree_cuda.cuh"
#include "kernels/common/dtype_switch.h"
#include "kernels/cross_entropy/cross_entropy.h"

namespace sra::kern {

namespace {

using row_tree::exp_t;
using row_tree::kRowThreads;

template <typename T>
__global__ void rows_kernel(T* mx, T* ls, double* row_loss, const T* x, const int64_t* t, int64_t n,
                            int64_t v, int64_t ignore_index) {
  __shared__ T tpart[kRowThreads];
  __shared__ double dpart[kRowThreads];
  for (int64_t r = blockIdx.x; r < n; r += gridDim.x) {
    const T* row = x + r * v;
    T m = row_tree::row_max(row, v, tpart);
    double s = 0;
    for (int64_t k = threadIdx.x; k < v; k += kRowThreads) s += double(exp_t(T(row[k] - m)));
    s = row_tree::block_sum(s, dpart);
    if (threadIdx.x == 0) {
      mx[r] = m;
      ls[r] = T(::log(s));
      int64_t tr = t[r];
      double loss = 0;
      if (tr != ignore_index)
        loss = tr >= 0 && tr < v ? (double(m) - double(row[tr])) + ::log(s) : double(NAN);
      row_loss[r] = loss;
    }
  }
}

template <typename T>
__global__ void finish_kernel(T* loss, int64_t* kept, const double* row_loss, const int64_t* t, int64_t n,
                              int64_t ignore_index) {
  __shared__ double part[kRowThreads];
  double s = 0, c = 0;  // the count is exact in double (n < 2^53)
  for (int64_t r = threadIdx.x; r < n; r += kRowThreads) {
    s += row_loss[r];
    c += t[r] != ignore_index ? 1.0 : 0.0;
  }
  s = row_tree::block_sum(s, part);
  c = row_tree::block_sum(c, part);
  if (threadIdx.x == 0) {
    int64_t k = int64_t(c);
    *kept = k;
    *loss = T(k > 0 ? s / double(k) : 0.0);
  }
}

template <typename T>
__global__ void backward_kernel(T* gx, const T* x, const T* mx, const T* ls, const int64_t* t, const T* grad,
                                const int64_t* kept, int64_t n, int64_t v, int64_t ignore_index) {
  int64_t kc = *kept;
  double scale = kc > 0 ? double(*grad) / double(kc) : 0.0;
  T sc = T(scale);
  for (int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; j < n * v;
       j += int64_t(gridDim.x) * blockDim.x) {
    int64_t r = j / v, k = j % v, tr = t[r];
    if (tr == ignore_index) {
      gx[j] = T(0);
      continue;
    }
    T p = exp_t(T((x[j] - mx[r]) - ls[r]));
    gx[j] = k == tr ? T((double(p) - 1.0) * scale) : p * sc;
  }
}

}  // namespace

void cross_entropy_cuda(const CrossEntropyArgs& a, int device) {
  SRA_CHECK(a.row_loss != nullptr || a.n == 0, "[cross_entropy] CUDA needs a row_loss scratch");
  cuda::DeviceGuard guard(device);
  for_float(a.dtype, "cross_entropy", "CUDA", [&](auto tag) {
    using T = decltype(tag);
    if (a.n > 0) {
      unsigned blocks = unsigned(a.n < 65535 ? a.n : 65535);
      rows_kernel<T><<<blocks, kRowThreads, 0, cuda::stream(device)>>>(
          static_cast<T*>(a.mx), static_cast<T*>(a.ls), a.row_loss, static_cast<const T*>(a.x), a.t, a.n, a.v,
          a.ignore_index);
      cuda::check_launch("cross_entropy", device);
    }
    finish_kernel<T><<<1, kRowThreads, 0, cuda::stream(device)>>>(static_cast<T*>(a.loss), a.kept, a.row_loss,
                                                                  a.t, a.n, a.ignore_index);
    cuda::check_launch("cross_entropy", device);
  });
}

void cross_entropy_backward_cuda(const CrossEntropyBackwardArgs& a, int device) {
  if (a.n * a.v == 0) return;
  cuda::DeviceGuard guard(device);
  for_float(a.dtype, "cross_entropy", "CUDA", [&](auto tag) {
    using T = decltype(tag);
    backward_kernel<T><<<cuda::grid_for(a.n * a.v), cuda::kThreads, 0, cuda::stream(device)>>>(
        static_cast<T*>(a.gx), static_cast<const T*>(a.x), static_cast<const T*>(a.mx),
        static_cast<const T*>(a.ls), a.t, static_cast<const T*>(a.grad), a.kept, a.n, a.v, a.ignore_index);
  });
  cuda::check_launch("cross_entropy", device);
}

}  // namespace sra::kern
