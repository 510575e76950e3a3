// Storage: one refcounted, device-resident byte buffer shared by a tensor and all of its views.
// CPU buffers are 64-byte aligned. `version` counts in-place writes; autograd compares it against the
// version recorded when a tensor was saved for backward.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/device.h"

namespace sra {

void* cpu_alloc(size_t nbytes);  // 64-byte aligned; throws "[alloc] ..." when out of memory
void cpu_free(void* p);

struct Storage {
  void* data = nullptr;
  size_t nbytes = 0;
  Device device;
  std::atomic<uint64_t> version{0};

  Storage(size_t nbytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
};

}  // namespace sra
