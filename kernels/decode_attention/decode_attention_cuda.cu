// Decode attention on CUDA, split-K (math and plan in decode_attention.h; decode_attention_cpu.cpp is the
// oracle). Queued on the device's stream; no atomics, no host sync (the parts' table goes up through the
// pinned staging ring).
//   pass 1  grid B·H·chunks blocks of 4 warps (block x = chunk + chunks·(b·H + h)). Warp w of chunk c takes
//           the keys [c·C + w·C/4, c·C + (w + 1)·C/4) of the sequence (clipped to S_b): lane ℓ holds the
//           head-dim elements ℓ + 32i (i < NE, NE = ⌈D/32⌉) of q, o; per key the dot product is summed by an
//           xor butterfly (every lane gets the same sum), then the online softmax (m, l, o). The 4 warps
//           are merged in order: partial[b·h, c] = (M, L, O_0 .. O_{D−1}) with O unnormalised.
//   pass 2  one block per b·h: M = max_c, then L and O summed over the chunks in order, out = O / L.
// Chunks past the end of a shorter sequence write M = −inf, L = 0 and weigh 0 in pass 2.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "core/cuda_launch.h"
#include "core/cuda_runtime.h"
#include "kernels/common/dtype_switch.h"
#include "kernels/decode_attention/decode_attention.h"

namespace sra::kern {

namespace {

constexpr int kWarps = 4;
constexpr int kDecodeThreads = 32 * kWarps;
constexpr unsigned kFull = 0xffffffffu;

template <typename T>
__device__ inline T warp_sum(T v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFull, v, o);
  return v;
}
__device__ inline float exp_of(float x) {
  return expf(x);
}
__device__ inline double exp_of(double x) {
  return exp(x);
}
// weight of a partial with max m against the overall max mx (an empty partial, m = −inf, weighs 0)
template <typename T>
__device__ inline T rescale(T m, T mx) {
  return isinf(m) && m < 0 ? T(0) : exp_of(m - mx);
}

template <typename T, int NE>
__global__ void __launch_bounds__(kDecodeThreads)
    decode_partial_kernel(T* partial, const DecodePart* parts, const T* q, int64_t heads, int64_t group,
                          int d, T scale, int64_t chunk, int64_t chunks) {
  __shared__ T sm_m[kWarps], sm_l[kWarps];
  __shared__ T sm_o[kWarps][32 * NE];
  const int64_t c = int64_t(blockIdx.x) % chunks, bh = int64_t(blockIdx.x) / chunks;
  const int64_t b = bh / heads, g = (bh % heads) / group;
  const int warp = int(threadIdx.x) / 32, lane = int(threadIdx.x) % 32;
  const DecodePart p0 = parts[b * kDecodeParts], p1 = parts[b * kDecodeParts + 1];
  const int64_t s_len = p0.rows + p1.rows, per = chunk / kWarps;
  T qr[NE], o[NE];
#pragma unroll
  for (int i = 0; i < NE; ++i) {
    const int e = lane + 32 * i;
    qr[i] = e < d ? q[bh * d + e] : T(0);
    o[i] = T(0);
  }
  T m = -INFINITY, l = T(0);
  const int64_t j0 = c * chunk + warp * per;
  const int64_t j1 = j0 + per < s_len ? j0 + per : s_len;
#pragma unroll 2
  for (int64_t j = j0; j < j1; ++j) {
    const bool first = j < p0.rows;
    const DecodePart& p = first ? p0 : p1;
    const int64_t row = (g * p.stride + (first ? j : j - p0.rows)) * d;
    const T* kr = static_cast<const T*>(p.k) + row;
    const T* vr = static_cast<const T*>(p.v) + row;
    T kv[NE], vv[NE];
#pragma unroll
    for (int i = 0; i < NE; ++i) {
      const int e = lane + 32 * i;
      kv[i] = e < d ? kr[e] : T(0);
      vv[i] = e < d ? vr[e] : T(0);
    }
    T dot = T(0);
#pragma unroll
    for (int i = 0; i < NE; ++i) dot += qr[i] * kv[i];
    const T s = warp_sum(dot) * scale;
    const T mn = s > m ? s : m;
    const T corr = exp_of(m - mn), pw = exp_of(s - mn);
    l = l * corr + pw;
#pragma unroll
    for (int i = 0; i < NE; ++i) o[i] = o[i] * corr + pw * vv[i];
    m = mn;
  }
  if (lane == 0) {
    sm_m[warp] = m;
    sm_l[warp] = l;
  }
#pragma unroll
  for (int i = 0; i < NE; ++i) sm_o[warp][lane + 32 * i] = o[i];
  __syncthreads();
  T mx = sm_m[0];
  for (int w = 1; w < kWarps; ++w) mx = sm_m[w] > mx ? sm_m[w] : mx;
  T* out = partial + (bh * chunks + c) * (d + 2);
  T wt[kWarps];
  T lsum = T(0);
  for (int w = 0; w < kWarps; ++w) {
    wt[w] = rescale(sm_m[w], mx);
    lsum += wt[w] * sm_l[w];
  }
  if (threadIdx.x == 0) {
    out[0] = mx;
    out[1] = lsum;
  }
  for (int e = int(threadIdx.x); e < d; e += kDecodeThreads) {
    T acc = T(0);
    for (int w = 0; w < kWarps; ++w) acc += wt[w] * sm_o[w][e];
    out[2 + e] = acc;
  }
}

template <typename T>
__global__ void __launch_bounds__(kDecodeThreads)
    decode_combine_kernel(T* out, const T* partial, int d, int64_t chunks) {
  const int64_t bh = blockIdx.x;
  const T* p = partial + bh * chunks * (d + 2);
  T mx = -INFINITY;
  for (int64_t c = 0; c < chunks; ++c) mx = p[c * (d + 2)] > mx ? p[c * (d + 2)] : mx;
  T lsum = T(0);
  for (int64_t c = 0; c < chunks; ++c) lsum += rescale(p[c * (d + 2)], mx) * p[c * (d + 2) + 1];
  for (int e = int(threadIdx.x); e < d; e += kDecodeThreads) {
    T acc = T(0);
    for (int64_t c = 0; c < chunks; ++c) acc += rescale(p[c * (d + 2)], mx) * p[c * (d + 2) + 2 + e];
    out[bh * d + e] = acc / lsum;
  }
}

template <typename T, int NE>
void launch_partial(const DecodeAttentionArgs& a, T* partial, const DecodePart* table, int64_t chunk,
                    int64_t chunks, cudaStream_t s) {
  const int64_t blocks = a.batch * a.heads * chunks;
  decode_partial_kernel<T, NE>
      <<<unsigned(blocks), kDecodeThreads, 0, s>>>(partial, table, static_cast<const T*>(a.q), a.heads,
                                                   a.heads / a.kv_heads, int(a.d), T(a.scale), chunk, chunks);
}

}  // namespace

void decode_attention_cuda(const DecodeAttentionArgs& a, int device) {
  SRA_CHECK(a.d <= 256, "[decode_attention] head dim ", a.d, " is not supported on CUDA (at most 256)");
  int64_t s_max = 0;  // the longest sequence's key count
  for (int64_t b = 0; b < a.batch; ++b)
    s_max = std::max(s_max, a.parts[b * kDecodeParts].rows + a.parts[b * kDecodeParts + 1].rows);
  const int64_t chunk = decode_attention_chunk(a.batch, a.heads, s_max);
  const int64_t chunks = (s_max + chunk - 1) / chunk;
  SRA_ASSERT(a.scratch_bytes >=
             decode_attention_scratch_bytes(Device::cuda(device), a.dtype, a.batch, a.heads, a.d, s_max));
  cuda::DeviceGuard guard(device);
  cudaStream_t s = cuda::stream(device);
  const size_t table_bytes = size_t(a.batch) * kDecodeParts * sizeof(DecodePart);
  auto* table = static_cast<DecodePart*>(a.scratch);
  cuda::memcpy_h2d_staged(table, a.parts, table_bytes, device);
  void* partial = static_cast<char*>(a.scratch) + (table_bytes + 255) / 256 * 256;
  for_float(a.dtype, "decode_attention", "CUDA", [&](auto t) {
    using T = decltype(t);
    auto* pt = static_cast<T*>(partial);
    if (a.d <= 32)
      launch_partial<T, 1>(a, pt, table, chunk, chunks, s);
    else if (a.d <= 64)
      launch_partial<T, 2>(a, pt, table, chunk, chunks, s);
    else if (a.d <= 128)
      launch_partial<T, 4>(a, pt, table, chunk, chunks, s);
    else
      launch_partial<T, 8>(a, pt, table, chunk, chunks, s);
    cuda::check_launch("decode_attention", device);
    decode_combine_kernel<T>
        <<<unsigned(a.batch * a.heads), kDecodeThreads, 0, s>>>(static_cast<T*>(a.out), pt, int(a.d), chunks);
  });
  cuda::check_launch("decode_attention", device);
}

}  // namespace sra::kern
