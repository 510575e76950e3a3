// SRA_CUBLAS_CHECK(call): every cuBLAS and cuBLASLt call goes through it (the cuBLAS twin of
// core/cuda_check.h's SRA_CUDA_CHECK). A failure throws sra::Error naming the call, the file and line,
// and cuBLAS's status. (.cu files only.)
#pragma once
#include <cublas_api.h>

#include "core/check.h"

#define SRA_CUBLAS_CHECK(call)                                                                             \
  do {                                                                                                     \
    cublasStatus_t sra_st_ = (call);                                                                       \
    if (sra_st_ != CUBLAS_STATUS_SUCCESS)                                                                  \
      throw ::sra::Error(::sra::detail::concat("[matmul] ", #call, " failed at ", __FILE__, ":", __LINE__, \
                                               ": cuBLAS status ", int(sra_st_), " (",                     \
                                               cublasGetStatusString(sra_st_), ")"));                      \
  } while (0)
