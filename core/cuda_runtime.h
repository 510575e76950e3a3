// The CUDA entry points that core/ and the kernels' dispatchers need, with no CUDA header: streams are
// opaque pointers (cudaStream_t). Implemented in core/cuda_runtime.cu and core/cuda_allocator.cu when SRA
// is built with CUDA; otherwise core/no_cuda.cpp implements them: available() is false and the rest
// throw "[cuda] ... built without CUDA".
//
// Memory: malloc/free go through a caching, stream-ordered allocator (core/cuda_allocator.cu): a freed
// block returns to a free list of its size class and the next allocation of that class on the same
// device reuses it without cudaMalloc. All work on a device runs on that device's current stream, so a
// block freed after its last use is only reused by work queued behind that use (stream order).
//
// Host syncs: every call that waits for the device (d2h copies, synchronize) counts one in stats(), so
// a test can assert that a steady-state training step makes none.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace sra::cuda {

bool built_with_cuda();
int device_count();  // 0 without CUDA or without a visible GPU
bool available();    // built with CUDA and at least one device

std::string device_name(int device);  // cudaGetDeviceProperties' name, e.g. "NVIDIA H200"

// ---- streams -------------------------------------------------------------------------------------
using Stream = void*;  // cudaStream_t
// The stream every op on `device` is queued on (created once per device, non-blocking).
Stream current_stream(int device);
void synchronize(int device);  // waits for the current stream; counts a host sync

// ---- memory --------------------------------------------------------------------------------------
void* malloc(size_t nbytes, int device);  // from the cache when a block of the size class is free
void free(void* p, int device);           // back to the cache (no cudaFree)
void empty_cache(int device);             // cudaFree every cached block (after a synchronize)

struct Stats {
  uint64_t device_mallocs = 0;  // cudaMalloc calls
  uint64_t device_frees = 0;    // cudaFree calls
  uint64_t cache_hits = 0;      // allocations served from a free list
  uint64_t host_syncs = 0;      // device-to-host copies and synchronizations
  uint64_t launches = 0;        // kernel launches checked by check_launch (one per launch site)
  uint64_t bytes_in_use = 0;    // blocks handed out (size-class bytes)
  uint64_t bytes_cached = 0;    // blocks in free lists
  uint64_t peak_bytes_in_use = 0;
};
Stats stats(int device);
void reset_peak(int device);

// Size class of a request: multiples of 512 bytes up to 1 MiB, then four classes per power of two
// (at most 25% over the request). Exposed for tests.
size_t size_class(size_t nbytes);

// ---- copies (on the current stream) --------------------------------------------------------------
void memcpy_h2d(void* dst, const void* src, size_t nbytes, int device);  // returns once src is read
void memcpy_d2h(void* dst, const void* src, size_t nbytes, int device);  // waits: a host sync
void memcpy_d2d(void* dst, const void* src, size_t nbytes, int device);  // asynchronous
void memset_zero(void* p, size_t nbytes, int device);                    // asynchronous
// Host-to-device through pinned memory, for data produced on the host every step (training batches):
// copies src (any host memory) into the next slot of a per-device ring of kStageSlots pinned buffers,
// queues the copy from the slot to dst on the current stream and records an event; returns at once (src
// may be reused). A slot is refilled only after its previous copy completed: when the device is that far
// behind the call waits, and counts a host sync. Slots grow on demand (a warm-up cost).
void memcpy_h2d_staged(void* dst, const void* src, size_t nbytes, int device);
constexpr int kStageSlots = 32;

// ---- strided copy and fill (core/strided_copy_cuda.cu; the CPU's strided copy is the oracle) ------------
// dst[i] = convert<dst dtype>(src[i]) over `shape`, pointers at element 0 on `device`, strides in elements
// (0 broadcasts); same-dtype dense copies become one cudaMemcpyAsync.
void copy_strided(void* dst, DType dst_dtype, const std::vector<int64_t>& dst_strides, const void* src,
                  DType src_dtype, const std::vector<int64_t>& src_strides, const std::vector<int64_t>& shape,
                  int device);
void fill_strided(void* dst, DType dtype, const std::vector<int64_t>& strides,
                  const std::vector<int64_t>& shape, double value, int device);
// Many small same-dtype copies in few launches (core/copy_many_cuda.cu): pair j copies `shape` (at most
// kCopyManyDims dims, strides in elements) from src to dst; one launch per kCopyManyPairs pairs, whose
// pointer table travels as the kernel's argument (no host-to-device copy, no sync).
struct CopyPair {
  void* dst = nullptr;
  const void* src = nullptr;
  std::vector<int64_t> shape, dst_strides, src_strides;
};
constexpr int kCopyManyDims = 4, kCopyManyPairs = 16;
void copy_many(const std::vector<CopyPair>& pairs, size_t elem_size, int device);

// ---- launches --------------------------------------------------------------------------------------
// After every kernel launch (kernels/*_cuda.cu): throws "[cuda] <op>: <error>" when the launch failed;
// with SRA_CUDA_SYNC=1 in the environment it also synchronises, so a fault names the op that caused it.
void check_launch(const char* op, int device);
bool sync_each_op();  // SRA_CUDA_SYNC=1

// ---- timing (benchmarks) --------------------------------------------------------------------------
// Two CUDA events recorded on the device's current stream around queued work: start(), queue the work,
// stop(), then elapsed_ms() waits for the stop event (one host sync) and returns the GPU time between them.
// Marks the region a profiler started with `ncu --profile-from-start off` records (cudaProfilerStart /
// cudaProfilerStop); no effect without a profiler attached.
void profiler_start(int device);
void profiler_stop(int device);

class EventTimer {
 public:
  explicit EventTimer(int device);
  ~EventTimer();
  EventTimer(const EventTimer&) = delete;
  EventTimer& operator=(const EventTimer&) = delete;
  void start();
  void stop();
  double elapsed_ms();

 private:
  int device_;
  void* start_ = nullptr;  // cudaEvent_t
  void* stop_ = nullptr;
};

}  // namespace sra::cuda
