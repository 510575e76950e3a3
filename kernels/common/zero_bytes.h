// Zeroes `bytes` bytes at p on device d (queued on the device's current stream on CUDA): the dispatchers'
// answer for outputs of empty problems (an empty sum, the weight gradient of no rows, dk and dv of no
// queries).
#pragma once
#include <cstring>

#include "core/cuda_runtime.h"
#include "core/device.h"

namespace sra::kern {

inline void zero_bytes(Device d, void* p, size_t bytes) {
  if (bytes == 0) return;
  if (d.is_cuda()) return cuda::memset_zero(p, bytes, d.index);
  std::memset(p, 0, bytes);
}

}  // namespace sra::kern
