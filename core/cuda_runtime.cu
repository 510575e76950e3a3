// CUDA entry points of core/: device discovery, allocation and copies (see core/cuda_runtime.h).
#include "core/cuda_check.h"
#include "core/cuda_runtime.h"

namespace sra::cuda {

namespace {
struct DeviceGuard {
  int prev = 0;
  explicit DeviceGuard(int d) {
    SRA_CUDA_CHECK(cudaGetDevice(&prev));
    if (prev != d) SRA_CUDA_CHECK(cudaSetDevice(d));
  }
  ~DeviceGuard() { cudaSetDevice(prev); }
};
}  // namespace

bool built_with_cuda() { return true; }

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no device" error
    return 0;
  }
  return n;
}

bool available() { return device_count() > 0; }

void* malloc(size_t nbytes, int device) {
  DeviceGuard g(device);
  void* p = nullptr;
  SRA_CUDA_CHECK(cudaMalloc(&p, nbytes == 0 ? 1 : nbytes));
  return p;
}

void free(void* p, int device) {
  DeviceGuard g(device);
  SRA_CUDA_CHECK(cudaFree(p));
}

void memcpy_h2d(void* dst, const void* src, size_t n, int device) {
  DeviceGuard g(device);
  SRA_CUDA_CHECK(cudaMemcpy(dst, src, n, cudaMemcpyHostToDevice));
}
void memcpy_d2h(void* dst, const void* src, size_t n, int device) {
  DeviceGuard g(device);
  SRA_CUDA_CHECK(cudaMemcpy(dst, src, n, cudaMemcpyDeviceToHost));
}
void memcpy_d2d(void* dst, const void* src, size_t n, int device) {
  DeviceGuard g(device);
  SRA_CUDA_CHECK(cudaMemcpy(dst, src, n, cudaMemcpyDeviceToDevice));
}
void memset_zero(void* p, size_t n, int device) {
  DeviceGuard g(device);
  SRA_CUDA_CHECK(cudaMemset(p, 0, n));
}

}  // namespace sra::cuda
