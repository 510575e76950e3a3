// SRA_HOST_DEVICE: marks inline functions that the CPU reference and a CUDA kernel share, so both run the
// same expression. No CUDA header: under nvcc (__CUDACC__) it is __host__ __device__, else nothing.
// (core/philox.h defines the same macro for core's shared functions.)
#pragma once

#if !defined(SRA_HOST_DEVICE)
#if defined(__CUDACC__)
#define SRA_HOST_DEVICE __host__ __device__
#else
#define SRA_HOST_DEVICE
#endif
#endif
