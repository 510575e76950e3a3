// The kernels' CUDA entries in a build without CUDA (SRA_CUDA=OFF or no nvcc): each throws. A tensor can
// only reach them from the cuda device, which such a build cannot create, so these name the bug if hit.
#include "core/check.h"
#include "kernels/cross_entropy/cross_entropy.h"
#include "kernels/elementwise/elementwise.h"
#include "kernels/matmul/matmul.h"
#include "kernels/reduce/reduce.h"
#include "kernels/softmax/softmax.h"

namespace sra::kern {

namespace {
[[noreturn]] void no_cuda(const char* op) {
  throw Error(std::string("[") + op + "] SRA was built without CUDA (configure with -DSRA_CUDA=ON)");
}
}  // namespace

void binary_cuda(const BinaryArgs&, int) {
  no_cuda("binary");
}
void unary_cuda(const UnaryArgs&, int) {
  no_cuda("unary");
}
void unary_backward_cuda(const UnaryBackwardArgs&, int) {
  no_cuda("unary_backward");
}
void axpy_strided_cuda(const AxpyArgs&, int) {
  no_cuda("add_");
}
void gemm_cuda(const GemmArgs&, int) {
  no_cuda("matmul");
}
void sum_cuda(const ReduceArgs&, int) {
  no_cuda("sum");
}
void max_cuda(const ReduceArgs&, int64_t*, int) {
  no_cuda("max");
}
void softmax_cuda(const SoftmaxArgs&, int) {
  no_cuda("softmax");
}
void softmax_backward_cuda(const SoftmaxBackwardArgs&, int) {
  no_cuda("softmax");
}
void cross_entropy_cuda(const CrossEntropyArgs&, int) {
  no_cuda("cross_entropy");
}
void cross_entropy_backward_cuda(const CrossEntropyBackwardArgs&, int) {
  no_cuda("cross_entropy");
}
  no_cuda("index_select");
}
  no_cuda("index_select");
}
  no_cuda("gather");
}
  no_cuda("scatter_add");
}
  no_cuda("masked_fill");
}
  no_cuda("where");
}
  no_cuda("gt");
}
  no_cuda("eq");
}
  no_cuda("topk");
}
  no_cuda("cumsum");
}

}  // namespace sra::kern
