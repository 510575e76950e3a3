// The k-th smallest of n values on CUDA (math and order in kth_smallest.h; kth_smallest_cpu.cpp is the
// oracle): one block of kThreadsKth threads runs an 8-bit radix select over the sort keys (sort_key.h).
// Pass p (most significant byte first): every thread counts, into a shared 256-bin histogram, the next
// byte of the keys whose higher bytes equal the prefix chosen so far; thread 0 walks the bins to the one
// holding rank k, appends its byte to the prefix and subtracts the ranks below it. After the last pass the
// prefix is the answer's key. Integer counts make every pass independent of the order of the additions,
// so the result is unique and equal to the CPU's bit for bit.
#include "core/cuda_launch.h"
#include "kernels/kth_smallest/kth_smallest.h"
#include "kernels/kth_smallest/sort_key.h"

namespace sra::kern {

namespace {

constexpr int kThreadsKth = 1024;
constexpr int kBins = 256;

template <typename T>
__global__ void kth_smallest_kernel(T* out, const T* x, int64_t n, int64_t k) {
  using SK = SortKey<T>;
  using Key = typename SK::Key;
  __shared__ unsigned int hist[kBins];
  __shared__ Key prefix;
  __shared__ int64_t rank;
  if (threadIdx.x == 0) {
    prefix = 0;
    rank = k;
  }
  Key mask = 0;  // the bytes chosen so far
  for (int shift = int(8 * sizeof(Key)) - 8; shift >= 0; shift -= 8) {
    for (int b = threadIdx.x; b < kBins; b += blockDim.x) hist[b] = 0;
    __syncthreads();  // zeroed bins; prefix and rank of the previous pass visible
    const Key want = prefix;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
      Key key = SK::of(x[i]);
      if ((key & mask) == want) atomicAdd(&hist[(key >> shift) & Key(kBins - 1)], 1u);
    }
    __syncthreads();  // complete histogram
    if (threadIdx.x == 0) {
      int64_t r = rank;
      int b = 0;
      while (b < kBins - 1 && r >= int64_t(hist[b])) r -= hist[b++];
      prefix = want | (Key(b) << shift);
      rank = r;
    }
    mask |= Key(kBins - 1) << shift;
    __syncthreads();  // thread 0 has read the bins before the next pass zeroes them
  }
  if (threadIdx.x == 0) out[0] = SK::value(prefix);
}

}  // namespace

void kth_smallest_cuda(const KthSmallestArgs& a, int device) {
  cuda::DeviceGuard guard(device);
  if (a.dtype == DType::f32) {
    kth_smallest_kernel<float><<<1, kThreadsKth, 0, cuda::stream(device)>>>(
        static_cast<float*>(a.out), static_cast<const float*>(a.x), a.n, a.k);
  } else {
    SRA_CHECK(a.dtype == DType::f64, "[kth_smallest] dtype ", dtype_name(a.dtype),
              " is not supported on CUDA (f32 or f64)");
    kth_smallest_kernel<double><<<1, kThreadsKth, 0, cuda::stream(device)>>>(
        static_cast<double*>(a.out), static_cast<const double*>(a.x), a.n, a.k);
  }
  cuda::check_launch("kth_smallest", device);
}

}  // namespace sra::kern
