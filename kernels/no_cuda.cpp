// The kernels' CUDA entries in a build without CUDA (SRA_CUDA=OFF or no nvcc): each throws. A tensor can
// only reach them from the cuda device, which such a build cannot create, so these name the bug if hit.
#include "core/check.h"
#include "kernels/elementwise/elementwise.h"
#include "kernels/matmul/matmul.h"
#include "kernels/reduce/reduce.h"
// nn layers, noise, optimizer
#include "kernels/adamw/adamw.h"
#include "kernels/dropout/dropout.h"
#include "kernels/embedding/embedding.h"
#include "kernels/random/random.h"
#include "kernels/rmsnorm/rmsnorm.h"
#include "kernels/rope/rope.h"

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
// nn layers, noise, optimizer
void embedding_cuda(const EmbeddingArgs&, int) { no_cuda("embedding"); }
void embedding_backward_cuda(const EmbeddingBackwardArgs&, int) { no_cuda("embedding"); }
size_t embedding_backward_scratch_bytes_cuda(int64_t, int64_t, int) { no_cuda("embedding"); }
void rmsnorm_cuda(const RmsnormArgs&, int) { no_cuda("rmsnorm"); }
void rmsnorm_backward_cuda(const RmsnormBackwardArgs&, int) { no_cuda("rmsnorm"); }
void rope_cuda(const RopeArgs&, int) { no_cuda("rope"); }
void random_cuda(const RandomArgs&, int) { no_cuda("random"); }
void dropout_cuda(const DropoutArgs&, int) { no_cuda("dropout"); }
void dropout_apply_cuda(const DropoutApplyArgs&, int) { no_cuda("dropout"); }
void adamw_cuda(const AdamWArgs&, int) { no_cuda("adamw"); }
void sum_squares_cuda(const SumSquaresArgs&, int) { no_cuda("clip_grad_norm"); }

}  // namespace sra::kern
