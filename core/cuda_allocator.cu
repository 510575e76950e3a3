// Caching, stream-ordered device allocator (contract in core/cuda_runtime.h).
//
// Per device: a map size class -> free blocks. malloc pops a block of the request's class or calls
// cudaMalloc; free pushes the block back. Every op on a device runs on that device's one current stream,
// so a block freed (on the host) after the ops that use it were queued is reused only by ops queued
// later on the same stream: stream order makes the reuse safe without events. When cudaMalloc fails the
// cache is emptied (after a synchronize) and the call retried once.
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "core/cuda_check.h"
#include "core/cuda_launch.h"
#include "core/cuda_runtime.h"

namespace sra::cuda {

namespace {

struct DeviceCache {
  std::map<size_t, std::vector<void*>> free_blocks;  // size class -> blocks
  std::unordered_map<void*, size_t> live;            // block -> size class
  Stats stats;
};

constexpr int kMaxDevices = 64;

// Never destroyed: tensors that outlive main's statics still free into a valid cache.
std::mutex& cache_mutex() {
  static auto* m = new std::mutex;
  return *m;
}

DeviceCache& cache(int device) {
  static auto* caches = new DeviceCache[kMaxDevices];
  SRA_ASSERT(device >= 0 && device < kMaxDevices, "device ", device);
  return caches[device];
}

// cudaFree of every cached block; the caller holds the mutex and the device is current.
void release_cached(DeviceCache& c) {
  for (auto& [cls, blocks] : c.free_blocks) {
    for (void* p : blocks) {
      SRA_CUDA_CHECK(cudaFree(p));
      c.stats.device_frees++;
      c.stats.bytes_cached -= cls;
    }
  }
  c.free_blocks.clear();
}

}  // namespace

size_t size_class(size_t n) {
  if (n == 0) n = 1;
  constexpr size_t kSmall = size_t(1) << 20;
  if (n <= kSmall) return (n + 511) / 512 * 512;
  size_t p = kSmall;
  while (p * 2 < n) p *= 2;  // p < n <= 2p
  size_t quarter = p / 4;
  return (n + quarter - 1) / quarter * quarter;
}

void* malloc(size_t nbytes, int device) {
  DeviceGuard g(device);
  size_t cls = size_class(nbytes);
  std::lock_guard<std::mutex> lock(cache_mutex());
  DeviceCache& c = cache(device);
  void* p = nullptr;
  auto it = c.free_blocks.find(cls);
  if (it != c.free_blocks.end() && !it->second.empty()) {
    p = it->second.back();
    it->second.pop_back();
    c.stats.cache_hits++;
    c.stats.bytes_cached -= cls;
  } else {
    cudaError_t err = cudaMalloc(&p, cls);
    if (err == cudaErrorMemoryAllocation) {
      cudaGetLastError();  // clear it, give the cache back and try once more
      SRA_CUDA_CHECK(cudaStreamSynchronize(static_cast<cudaStream_t>(stream_of(device))));
      release_cached(c);
      err = cudaMalloc(&p, cls);
    }
    if (err != cudaSuccess) {
      cudaGetLastError();
      throw Error(detail::concat("[alloc] out of GPU memory allocating ", nbytes, " bytes on cuda:", device,
                                 " (", c.stats.bytes_in_use, " bytes in use): ", cudaGetErrorString(err)));
    }
    c.stats.device_mallocs++;
  }
  c.live[p] = cls;
  c.stats.bytes_in_use += cls;
  if (c.stats.bytes_in_use > c.stats.peak_bytes_in_use) c.stats.peak_bytes_in_use = c.stats.bytes_in_use;
  return p;
}

void free(void* p, int device) {
  if (!p) return;
  std::lock_guard<std::mutex> lock(cache_mutex());
  DeviceCache& c = cache(device);
  auto it = c.live.find(p);
  SRA_ASSERT(it != c.live.end(), "freeing a pointer the allocator did not hand out");
  size_t cls = it->second;
  c.live.erase(it);
  c.stats.bytes_in_use -= cls;
  c.stats.bytes_cached += cls;
  c.free_blocks[cls].push_back(p);
}

void empty_cache(int device) {
  DeviceGuard g(device);
  SRA_CUDA_CHECK(cudaStreamSynchronize(static_cast<cudaStream_t>(stream_of(device))));
  std::lock_guard<std::mutex> lock(cache_mutex());
  release_cached(cache(device));
}

Stats stats(int device) {
  std::lock_guard<std::mutex> lock(cache_mutex());
  Stats s = cache(device).stats;
  s.host_syncs = host_sync_count(device);
  s.launches = launch_count(device);
  return s;
}

void reset_peak(int device) {
  std::lock_guard<std::mutex> lock(cache_mutex());
  DeviceCache& c = cache(device);
  c.stats.peak_bytes_in_use = c.stats.bytes_in_use;
}

}  // namespace sra::cuda
