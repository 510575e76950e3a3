// SRA_CUDA_CHECK(call): every CUDA runtime call goes through it; SRA_CUDA_CHECK_LAUNCH() follows every
// kernel launch. A failure throws sra::Error with the call, file and line. (.cu files only.)
#pragma once
#include <cuda_runtime.h>

#include "core/check.h"

#define SRA_CUDA_CHECK(call)                                                                             \
  do {                                                                                                   \
    cudaError_t sra_err_ = (call);                                                                       \
    if (sra_err_ != cudaSuccess)                                                                         \
      throw ::sra::Error(::sra::detail::concat("[cuda] ", #call, " failed at ", __FILE__, ":", __LINE__, \
                                               ": ", cudaGetErrorString(sra_err_)));                     \
  } while (0)

#define SRA_CUDA_CHECK_LAUNCH() SRA_CUDA_CHECK(cudaGetLastError())
