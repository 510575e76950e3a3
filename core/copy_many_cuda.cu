// Many small same-dtype strided copies in one launch per kCopyManyPairs pairs (contract in
// core/cuda_runtime.h; the CPU loop of copy_ is the oracle): block (x, j) copies elements of pair j, each
// pair a shape of at most kCopyManyDims dims with its own destination and source strides. The pointer
// table is the kernel's by-value argument (16 pairs x 120 bytes), so nothing is copied to the device first.
#include <cstdint>

#include "core/cuda_launch.h"
#include "core/cuda_runtime.h"

namespace sra::cuda {

namespace {

struct PairGeometry {
  char* dst;
  const char* src;
  int64_t n;
  int64_t shape[kCopyManyDims];
  int64_t sd[kCopyManyDims];
  int64_t ss[kCopyManyDims];
};

struct PairTable {
  PairGeometry p[kCopyManyPairs];
};

template <typename E>  // E: an unsigned integer of the element's size (a copy moves bits)
__global__ void copy_many_kernel(PairTable t) {
  const PairGeometry& g = t.p[blockIdx.y];
  E* dst = reinterpret_cast<E*>(g.dst);
  const E* src = reinterpret_cast<const E*>(g.src);
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < g.n;
       i += int64_t(gridDim.x) * blockDim.x) {
    int64_t r = i, od = 0, os = 0;
    for (int d = kCopyManyDims - 1; d >= 0; --d) {
      const int64_t c = r % g.shape[d];
      r /= g.shape[d];
      od += c * g.sd[d];
      os += c * g.ss[d];
    }
    dst[od] = src[os];
  }
}

// Pair j's geometry, its shape left-padded with size-1 dims to kCopyManyDims.
PairGeometry geometry_of(const CopyPair& c) {
  const int nd = int(c.shape.size());
  SRA_CHECK(nd <= kCopyManyDims && c.dst_strides.size() == size_t(nd) && c.src_strides.size() == size_t(nd),
            "[copy_many] at most ", kCopyManyDims, " dims with one stride per dim");
  PairGeometry g{static_cast<char*>(c.dst), static_cast<const char*>(c.src), 1, {}, {}, {}};
  const int pad = kCopyManyDims - nd;
  for (int d = 0; d < kCopyManyDims; ++d) {
    const bool real = d >= pad;
    g.shape[d] = real ? c.shape[size_t(d - pad)] : 1;
    g.sd[d] = real ? c.dst_strides[size_t(d - pad)] : 0;
    g.ss[d] = real ? c.src_strides[size_t(d - pad)] : 0;
    g.n *= g.shape[d];
  }
  return g;
}

template <typename E>
void launch_table(const PairTable& t, int count, int64_t max_n, int device) {
  dim3 grid(unsigned(grid_for(max_n)), unsigned(count));
  copy_many_kernel<E><<<grid, kThreads, 0, stream(device)>>>(t);
}

}  // namespace

void copy_many(const std::vector<CopyPair>& pairs, size_t elem_size, int device) {
  DeviceGuard guard(device);
  for (size_t first = 0; first < pairs.size(); first += kCopyManyPairs) {
    PairTable t{};
    const int count = int(std::min(pairs.size() - first, size_t(kCopyManyPairs)));
    int64_t max_n = 0;
    for (int j = 0; j < count; ++j) {
      t.p[j] = geometry_of(pairs[first + size_t(j)]);
      max_n = std::max(max_n, t.p[j].n);
    }
    if (max_n == 0) continue;
    switch (elem_size) {
      case 1:
        launch_table<uint8_t>(t, count, max_n, device);
        break;
      case 2:
        launch_table<uint16_t>(t, count, max_n, device);
        break;
      case 4:
        launch_table<uint32_t>(t, count, max_n, device);
        break;
      case 8:
        launch_table<uint64_t>(t, count, max_n, device);
        break;
      default:
        SRA_CHECK(false, "[copy_many] unsupported element size ", elem_size);
    }
    check_launch("copy_many", device);
  }
}

}  // namespace sra::cuda
