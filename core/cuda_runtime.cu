// CUDA entry points of core/: device discovery, the current stream per device, copies, launch checks
// (contract in core/cuda_runtime.h; the allocator is core/cuda_allocator.cu).
#include <cuda_profiler_api.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

#include "core/cuda_check.h"
#include "core/cuda_launch.h"
#include "core/cuda_runtime.h"

namespace sra::cuda {

namespace {

constexpr int kMaxDevices = 64;

// A pinned buffer of the staging ring and the event recorded after the copy out of it.
struct StageSlot {
  void* host = nullptr;
  size_t capacity = 0;
  cudaEvent_t copied = nullptr;
};

struct DeviceState {
  std::once_flag stream_once;
  cudaStream_t stream = nullptr;
  std::atomic<uint64_t> host_syncs{0};
  std::atomic<uint64_t> launches{0};
  std::mutex stage_mutex;
  StageSlot stage[kStageSlots];
  int next_slot = 0;
};

DeviceState& state(int device) {
  static auto* states = new DeviceState[kMaxDevices];  // never destroyed (see cuda_allocator.cu)
  SRA_ASSERT(device >= 0 && device < kMaxDevices, "device ", device);
  return states[device];
}

void count_sync(int device) {
  state(device).host_syncs.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

bool built_with_cuda() {
  return true;
}

int device_count() {
  static const int n = [] {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) {
      cudaGetLastError();  // clear the sticky "no device" error
      return 0;
    }
    return count;
  }();
  return n;
}

bool available() {
  return device_count() > 0;
}

std::string device_name(int device) {
  cudaDeviceProp prop{};
  SRA_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  return prop.name;
}

void* stream_of(int device) {
  DeviceState& s = state(device);
  std::call_once(s.stream_once, [&] {
    DeviceGuard g(device);
    SRA_CUDA_CHECK(cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking));
  });
  return s.stream;
}

uint64_t host_sync_count(int device) {
  return state(device).host_syncs.load(std::memory_order_relaxed);
}

uint64_t launch_count(int device) {
  return state(device).launches.load(std::memory_order_relaxed);
}

void profiler_start(int device) {
  DeviceGuard g(device);
  SRA_CUDA_CHECK(cudaProfilerStart());
}

void profiler_stop(int device) {
  DeviceGuard g(device);
  SRA_CUDA_CHECK(cudaProfilerStop());
}

Stream current_stream(int device) {
  return stream_of(device);
}

void synchronize(int device) {
  DeviceGuard g(device);
  count_sync(device);
  SRA_CUDA_CHECK(cudaStreamSynchronize(static_cast<cudaStream_t>(stream_of(device))));
}

void memcpy_h2d(void* dst, const void* src, size_t n, int device) {
  if (n == 0) return;
  DeviceGuard g(device);
  auto s = static_cast<cudaStream_t>(stream_of(device));
  SRA_CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, s));
  // From pageable memory the call returns once `src` is staged; from pinned memory it may not, so wait
  // for pinned sources (the caller may free or overwrite them next).
  cudaPointerAttributes attr{};
  SRA_CUDA_CHECK(cudaPointerGetAttributes(&attr, src));
  if (attr.type == cudaMemoryTypeHost) {
    count_sync(device);
    SRA_CUDA_CHECK(cudaStreamSynchronize(s));
  }
}

void memcpy_d2h(void* dst, const void* src, size_t n, int device) {
  if (n == 0) return;
  DeviceGuard g(device);
  auto s = static_cast<cudaStream_t>(stream_of(device));
  count_sync(device);
  SRA_CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToHost, s));
  SRA_CUDA_CHECK(cudaStreamSynchronize(s));
}

void memcpy_h2d_staged(void* dst, const void* src, size_t n, int device) {
  if (n == 0) return;
  DeviceGuard g(device);
  auto s = static_cast<cudaStream_t>(stream_of(device));
  DeviceState& st = state(device);
  std::lock_guard<std::mutex> lock(st.stage_mutex);
  StageSlot& slot = st.stage[st.next_slot];
  st.next_slot = (st.next_slot + 1) % kStageSlots;
  if (slot.copied) {  // the slot's last copy must be done before its buffer is overwritten
    cudaError_t q = cudaEventQuery(slot.copied);
    if (q == cudaErrorNotReady) {
      cudaGetLastError();  // "not ready" is a status, not an error to report later
      count_sync(device);
      SRA_CUDA_CHECK(cudaEventSynchronize(slot.copied));
    } else {
      SRA_CUDA_CHECK(q);
    }
  } else {
    SRA_CUDA_CHECK(cudaEventCreateWithFlags(&slot.copied, cudaEventDisableTiming));
  }
  if (slot.capacity < n) {
    if (slot.host) {
      count_sync(device);  // cudaFreeHost waits for the device
      SRA_CUDA_CHECK(cudaFreeHost(slot.host));
      slot.host = nullptr;
      slot.capacity = 0;
    }
    size_t cap = (std::max(n, 2 * slot.capacity) + 4095) / 4096 * 4096;
    SRA_CUDA_CHECK(cudaHostAlloc(&slot.host, cap, cudaHostAllocDefault));
    slot.capacity = cap;
  }
  std::memcpy(slot.host, src, n);
  SRA_CUDA_CHECK(cudaMemcpyAsync(dst, slot.host, n, cudaMemcpyHostToDevice, s));
  SRA_CUDA_CHECK(cudaEventRecord(slot.copied, s));
}

void memcpy_d2d(void* dst, const void* src, size_t n, int device) {
  if (n == 0) return;
  DeviceGuard g(device);
  auto s = static_cast<cudaStream_t>(stream_of(device));
  SRA_CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToDevice, s));
}

void memset_zero(void* p, size_t n, int device) {
  if (n == 0) return;
  DeviceGuard g(device);
  SRA_CUDA_CHECK(cudaMemsetAsync(p, 0, n, static_cast<cudaStream_t>(stream_of(device))));
}

bool sync_each_op() {
  static const bool on = [] {
    const char* v = std::getenv("SRA_CUDA_SYNC");
    return v && std::strcmp(v, "0") != 0 && *v;
  }();
  return on;
}

void check_launch(const char* op, int device) {
  state(device).launches.fetch_add(1, std::memory_order_relaxed);
  cudaError_t err = cudaGetLastError();
  if (err == cudaSuccess && sync_each_op()) {
    DeviceGuard g(device);
    count_sync(device);
    err = cudaStreamSynchronize(static_cast<cudaStream_t>(stream_of(device)));
  }
  if (err != cudaSuccess)
    throw Error(detail::concat("[cuda] ", op, " on cuda:", device, " failed: ", cudaGetErrorString(err),
                               sync_each_op() ? "" : " (set SRA_CUDA_SYNC=1 to name the op that faulted)"));
}

EventTimer::EventTimer(int device) : device_(device) {
  DeviceGuard g(device);
  cudaEvent_t a = nullptr, b = nullptr;
  SRA_CUDA_CHECK(cudaEventCreate(&a));
  start_ = a;
  SRA_CUDA_CHECK(cudaEventCreate(&b));
  stop_ = b;
}

EventTimer::~EventTimer() {
  cudaEventDestroy(static_cast<cudaEvent_t>(start_));
  cudaEventDestroy(static_cast<cudaEvent_t>(stop_));
}

void EventTimer::start() {
  DeviceGuard g(device_);
  SRA_CUDA_CHECK(
      cudaEventRecord(static_cast<cudaEvent_t>(start_), static_cast<cudaStream_t>(stream_of(device_))));
}

void EventTimer::stop() {
  DeviceGuard g(device_);
  SRA_CUDA_CHECK(
      cudaEventRecord(static_cast<cudaEvent_t>(stop_), static_cast<cudaStream_t>(stream_of(device_))));
}

double EventTimer::elapsed_ms() {
  DeviceGuard g(device_);
  count_sync(device_);
  SRA_CUDA_CHECK(cudaEventSynchronize(static_cast<cudaEvent_t>(stop_)));
  float ms = 0;
  SRA_CUDA_CHECK(
      cudaEventElapsedTime(&ms, static_cast<cudaEvent_t>(start_), static_cast<cudaEvent_t>(stop_)));
  return double(ms);
}

}  // namespace sra::cuda
