#include "core/storage.h"

#include <cstdlib>

#include "core/check.h"
#include "core/cuda_runtime.h"

namespace sra {

void* cpu_alloc(size_t nbytes) {
  size_t n = (nbytes + 63) / 64 * 64;
  if (n == 0) n = 64;
  void* p = std::aligned_alloc(64, n);
  SRA_CHECK(p != nullptr, "[alloc] out of memory allocating ", nbytes, " bytes on cpu");
  return p;
}

void cpu_free(void* p) {
  std::free(p);
}

Storage::Storage(size_t n, Device d) : nbytes(n), device(d) {
  data = d.is_cpu() ? cpu_alloc(n) : cuda::malloc(n, d.index);
}

Storage::~Storage() {
  if (!data) return;
  if (device.is_cpu()) {
    cpu_free(data);
  } else {
    try {
      cuda::free(data, device.index);
    } catch (...) {
      // a destructor must not throw; a failed cudaFree at shutdown leaks nothing we can reclaim
    }
  }
}

}  // namespace sra
