// Internals shared by core's CUDA files (core/cuda_runtime.cu, core/cuda_allocator.cu); .cu files only.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "core/cuda_check.h"

namespace sra::cuda {

// Makes `d` the current device for the guard's lifetime.
struct DeviceGuard {
  int prev = 0;
  explicit DeviceGuard(int d) {
    SRA_CUDA_CHECK(cudaGetDevice(&prev));
    if (prev != d) SRA_CUDA_CHECK(cudaSetDevice(d));
  }
  ~DeviceGuard() { cudaSetDevice(prev); }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;
};

// The device's current stream without a device switch (created on first use).
void* stream_of(int device);
uint64_t host_sync_count(int device);

}  // namespace sra::cuda
