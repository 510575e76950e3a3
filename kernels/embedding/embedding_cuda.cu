// Embedding on CUDA (math and order in embedding.h; embedding_cpu.cpp is the oracle).
//   forward:  one thread per (j, c) element of out; an id outside [0, V) gives NaN (ids are not read
//             back to the host; embedding.h says where they are validated).
//   backward: deterministic, no floating-point atomics:
//     1. keys[j] = ids[j] (V for an out-of-range id), vals[j] = j;
//     2. a stable radix sort of (key, j) pairs (cub::DeviceRadixSort::SortPairs over the bits that hold
//        0 ... V): each id's positions end up contiguous and in increasing j;
//     3. start[k] = the first sorted slot whose key is ≥ k, k = 0 ... V (one binary search per k);
//     4. one thread per (v, c) of gw: acc = 0 in T, then += g[j, c] over the bucket's slots in order, the
//        CPU's additions in the CPU's order.
//   The scratch (sorted keys and positions, start, CUB's temporary storage) is one device buffer the op
//   allocates as a tensor (embedding_backward_scratch_bytes); no cudaMalloc here.
#include <cub/cub.cuh>

#include "core/cuda_launch.h"
#include "kernels/common/dtype_switch.h"
#include "kernels/embedding/embedding.h"

namespace sra::kern {

namespace {

template <typename T>
__global__ void embedding_kernel(T* out, const T* weight, const int64_t* ids, int64_t n, int64_t v,
                                 int64_t c) {
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < n * c;
       e += int64_t(gridDim.x) * blockDim.x) {
    int64_t j = e / c, i = e % c, id = ids[j];
    out[e] = (id >= 0 && id < v) ? weight[id * c + i] : T(NAN);
  }
}

__global__ void keys_kernel(uint32_t* keys, int64_t* vals, const int64_t* ids, int64_t n, int64_t v) {
  for (int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; j < n;
       j += int64_t(gridDim.x) * blockDim.x) {
    int64_t id = ids[j];
    keys[j] = uint32_t((id >= 0 && id < v) ? id : v);
    vals[j] = j;
  }
}

// start[k] = the number of sorted keys < k, k = 0 ... v.
__global__ void starts_kernel(int64_t* start, const uint32_t* sorted, int64_t n, int64_t v) {
  for (int64_t k = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k <= v;
       k += int64_t(gridDim.x) * blockDim.x) {
    int64_t lo = 0, hi = n;
    while (lo < hi) {
      int64_t mid = lo + (hi - lo) / 2;
      if (int64_t(sorted[mid]) < k) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    start[k] = lo;
  }
}

template <typename T>
__global__ void gather_rows_kernel(T* gw, const T* g, const int64_t* order, const int64_t* start, int64_t v,
                                   int64_t c) {
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < v * c;
       e += int64_t(gridDim.x) * blockDim.x) {
    int64_t row = e / c, i = e % c;
    T acc = T(0);
    for (int64_t k = start[row]; k < start[row + 1]; ++k) acc += g[order[k] * c + i];
    gw[e] = acc;
  }
}

// The bits that hold keys 0 ... v (v is the out-of-range bucket).
int key_bits(int64_t v) {
  int bits = 1;
  while (bits < 32 && (int64_t(1) << bits) <= v) ++bits;
  return bits;
}

size_t align_up(size_t b) {
  return (b + 255) / 256 * 256;
}

// Byte offsets of the scratch pieces: keys_in, keys_out (n u32), vals_in, vals_out (n i64), start (v+1 i64),
// then CUB's temporary storage (cub_bytes).
struct Layout {
  size_t keys_in = 0, keys_out, vals_in, vals_out, start, cub, cub_bytes, total;
};

Layout layout(int64_t n, int64_t v) {
  SRA_CHECK(v < int64_t(UINT32_MAX) && n < int64_t(INT32_MAX), "[embedding] vocabulary (", v,
            ") or id count (", n, ") too large for the CUDA backward");
  Layout l;
  size_t k = align_up(size_t(n) * sizeof(uint32_t)), w = align_up(size_t(n) * sizeof(int64_t));
  l.keys_out = l.keys_in + k;
  l.vals_in = l.keys_out + k;
  l.vals_out = l.vals_in + w;
  l.start = l.vals_out + w;
  l.cub = l.start + align_up(size_t(v + 1) * sizeof(int64_t));
  l.cub_bytes = 0;
  SRA_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(
      nullptr, l.cub_bytes, static_cast<const uint32_t*>(nullptr), static_cast<uint32_t*>(nullptr),
      static_cast<const int64_t*>(nullptr), static_cast<int64_t*>(nullptr), int(n), 0, key_bits(v)));
  l.total = l.cub + align_up(l.cub_bytes);
  return l;
}

}  // namespace

void embedding_cuda(const EmbeddingArgs& a, int device) {
  if (a.n == 0 || a.c == 0) return;
  cuda::DeviceGuard guard(device);
  for_float(a.dtype, "embedding", "CUDA", [&](auto t) {
    using T = decltype(t);
    embedding_kernel<T><<<cuda::grid_for(a.n * a.c), cuda::kThreads, 0, cuda::stream(device)>>>(
        static_cast<T*>(a.out), static_cast<const T*>(a.weight), a.ids, a.n, a.v, a.c);
  });
  cuda::check_launch("embedding", device);
}

size_t embedding_backward_scratch_bytes_cuda(int64_t n, int64_t v, int device) {
  cuda::DeviceGuard guard(device);
  return layout(n, v).total;
}

void embedding_backward_cuda(const EmbeddingBackwardArgs& a, int device) {
  if (a.v == 0 || a.c == 0) return;
  cuda::DeviceGuard guard(device);
  cudaStream_t s = cuda::stream(device);
  Layout l = layout(a.n, a.v);
  SRA_CHECK(a.scratch != nullptr && a.scratch_bytes >= l.total, "[embedding] backward scratch of ",
            a.scratch_bytes, " bytes, need ", l.total);
  char* base = static_cast<char*>(a.scratch);
  auto* keys_in = reinterpret_cast<uint32_t*>(base + l.keys_in);
  auto* keys_out = reinterpret_cast<uint32_t*>(base + l.keys_out);
  auto* vals_in = reinterpret_cast<int64_t*>(base + l.vals_in);
  auto* vals_out = reinterpret_cast<int64_t*>(base + l.vals_out);
  auto* start = reinterpret_cast<int64_t*>(base + l.start);
  if (a.n > 0) {
    keys_kernel<<<cuda::grid_for(a.n), cuda::kThreads, 0, s>>>(keys_in, vals_in, a.ids, a.n, a.v);
    cuda::check_launch("embedding_backward", device);
    size_t cub_bytes = l.cub_bytes;
    SRA_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(base + l.cub, cub_bytes, keys_in, keys_out, vals_in,
                                                   vals_out, int(a.n), 0, key_bits(a.v), s));
    cuda::check_launch("embedding_backward", device);
  }
  starts_kernel<<<cuda::grid_for(a.v + 1), cuda::kThreads, 0, s>>>(start, keys_out, a.n, a.v);
  cuda::check_launch("embedding_backward", device);
  for_float(a.dtype, "embedding", "CUDA", [&](auto t) {
    using T = decltype(t);
    gather_rows_kernel<T><<<cuda::grid_for(a.v * a.c), cuda::kThreads, 0, s>>>(
        static_cast<T*>(a.gw), static_cast<const T*>(a.g), vals_out, start, a.v, a.c);
  });
  cuda::check_launch("embedding_backward", device);
}

}  // namespace sra::kern
