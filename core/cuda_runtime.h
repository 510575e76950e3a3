// The CUDA entry points that core/ needs. Implemented in core/cuda_runtime.cu when SRA is built with
// CUDA; otherwise core/no_cuda.cpp implements them: available() is false and the rest throw
// "[cuda] built without CUDA".
#pragma once
#include <cstddef>

namespace sra::cuda {

bool built_with_cuda();
int device_count();  // 0 without CUDA or without a visible GPU
bool available();    // built with CUDA and at least one device
void* malloc(size_t nbytes, int device);
void free(void* p, int device);
void memcpy_h2d(void* dst, const void* src, size_t nbytes, int device);
void memcpy_d2h(void* dst, const void* src, size_t nbytes, int device);
void memcpy_d2d(void* dst, const void* src, size_t nbytes, int device);
void memset_zero(void* p, size_t nbytes, int device);

}  // namespace sra::cuda
