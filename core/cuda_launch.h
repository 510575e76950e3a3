// What CUDA files need around a launch (kernels/*_cuda.cu, core's .cu files; .cu files only): a device
// guard, the device's current stream, a grid size for grid-stride loops, and the launch check.
//
//   DeviceGuard g(device);
//   my_kernel<<<grid_for(n), kThreads, 0, stream(device)>>>(...);
//   cuda::check_launch("my_op", device);
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "core/cuda_check.h"
#include "core/cuda_runtime.h"

namespace sra::cuda {

// Makes `d` the current device for the guard's lifetime.
struct DeviceGuard {
  int prev = 0;
  bool switched = false;
  explicit DeviceGuard(int d) {
    SRA_CUDA_CHECK(cudaGetDevice(&prev));
    switched = prev != d;
    if (switched) SRA_CUDA_CHECK(cudaSetDevice(d));
  }
  ~DeviceGuard() {
    if (switched) cudaSetDevice(prev);
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;
};

// The device's current stream without a device switch (created on first use).
void* stream_of(int device);
inline cudaStream_t stream(int device) {
  return static_cast<cudaStream_t>(stream_of(device));
}
uint64_t host_sync_count(int device);
uint64_t launch_count(int device);  // check_launch calls so far (Stats::launches)

constexpr int kThreads = 256;
// Blocks for a grid-stride loop over n elements: enough to fill the device, at least one.
inline unsigned grid_for(int64_t n, int threads = kThreads) {
  int64_t b = (n + threads - 1) / threads;
  if (b < 1) b = 1;
  if (b > 4096) b = 4096;  // 132 SMs x 8 blocks of 256 threads is ~1000; grid-stride covers the rest
  return unsigned(b);
}

}  // namespace sra::cuda
