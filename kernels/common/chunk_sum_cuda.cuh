// The second pass of the two-pass column sums (.cu files only: the CUDA sum over few outputs, RMSNorm's
// weight gradient): out[j] = T(Σ_{p = 0 … chunks−1, in order} scratch[p · n + j]) for j < n, one thread per
// j in a grid-stride loop; the first pass wrote each chunk's partial sums in double as rows of scratch.
// The order depends only on the chunk count: deterministic.
#pragma once
#include <cstdint>

namespace sra::kern {

template <typename T>
__global__ void chunk_sum_final_kernel(T* out, const double* scratch, int64_t n, int64_t chunks) {
  for (int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; j < n;
       j += int64_t(gridDim.x) * blockDim.x) {
    double acc = 0;
    for (int64_t p = 0; p < chunks; ++p) acc += scratch[p * n + j];
    out[j] = T(acc);
  }
}

}  // namespace sra::kern
