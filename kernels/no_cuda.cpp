// The kernels' CUDA entries in a build without CUDA (SRA_CUDA=OFF or no nvcc): each throws. A tensor can
// only reach them from the cuda device, which such a build cannot create, so these name the bug if hit.
#include "core/check.h"
#include "kernels/elementwise/elementwise.h"
#include "kernels/matmul/matmul.h"
#include "kernels/reduce/reduce.h"

namespace sra::kern {

namespace {
[[noreturn]] void no_cuda(const char* op) {
  throw Error(std::string("[") + op + "] SRA was built without CUDA (configure with -DSRA_CUDA=ON)");
}
}  // namespace

void binary_cuda(const BinaryArgs&, int) { no_cuda("binary"); }
void unary_cuda(const UnaryArgs&, int) { no_cuda("unary"); }
void unary_backward_cuda(const UnaryBackwardArgs&, int) { no_cuda("unary_backward"); }
void axpy_strided_cuda(const AxpyArgs&, int) { no_cuda("add_"); }
void gemm_cuda(const GemmArgs&, int) { no_cuda("matmul"); }
void sum_cuda(const ReduceArgs&, int) { no_cuda("sum"); }
void max_cuda(const ReduceArgs&, int64_t*, int) { no_cuda("max"); }

}  // namespace sra::kern
