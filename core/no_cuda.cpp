// CUDA entry points of a build without CUDA (SRA_CUDA=OFF or no nvcc): nothing is available and every
// call that would touch a GPU throws.
#include "core/check.h"
#include "core/cuda_runtime.h"

namespace sra::cuda {

namespace {
[[noreturn]] void no_cuda(const char* what) {
  throw Error(std::string("[cuda] ") + what + ": SRA was built without CUDA (configure with -DSRA_CUDA=ON)");
}
}  // namespace

bool built_with_cuda() { return false; }
int device_count() { return 0; }
bool available() { return false; }
void* malloc(size_t, int) { no_cuda("malloc"); }
void free(void*, int) { no_cuda("free"); }
void memcpy_h2d(void*, const void*, size_t, int) { no_cuda("memcpy"); }
void memcpy_d2h(void*, const void*, size_t, int) { no_cuda("memcpy"); }
void memcpy_d2d(void*, const void*, size_t, int) { no_cuda("memcpy"); }
void memset_zero(void*, size_t, int) { no_cuda("memset"); }

}  // namespace sra::cuda
