// The kernels' CUDA entries in a build without CUDA (SRA_CUDA=OFF or no nvcc): each throws. A tensor can
// only reach them from the cuda device, which such a build cannot create, so these name the bug if hit.
#include "core/check.h"
#include "kernels/adamw/adamw.h"
#include "kernels/attention/attention.h"
#include "kernels/cross_entropy/cross_entropy.h"
#include "kernels/cumsum/cumsum.h"
#include "kernels/decode_attention/decode_attention.h"
#include "kernels/dropout/dropout.h"
#include "kernels/elementwise/elementwise.h"
#include "kernels/embedding/embedding.h"
#include "kernels/index/index.h"
#include "kernels/kth_smallest/kth_smallest.h"
#include "kernels/linear_cross_entropy/linear_cross_entropy.h"
#include "kernels/matmul/matmul.h"
#include "kernels/random/random.h"
#include "kernels/reduce/reduce.h"
#include "kernels/rmsnorm/rmsnorm.h"
#include "kernels/rope/rope.h"
#include "kernels/router/router.h"
#include "kernels/softmax/softmax.h"
#include "kernels/sparse_attention/sparse_attention.h"
#include "kernels/swiglu/swiglu.h"
#include "kernels/topk/topk.h"

namespace sra::kern {

namespace {
[[noreturn]] void no_cuda(const char* op) {
  throw Error(std::string("[") + op + "] SRA was built without CUDA (configure with -DSRA_CUDA=ON)");
}
}  // namespace

void decode_attention_cuda(const DecodeAttentionArgs&, int) {
  no_cuda("decode_attention");
}
void attention_forward_cuda(const AttentionArgs&, int) {
  no_cuda("attention");
}
void attention_backward_cuda(const AttentionBackwardArgs&, int) {
  no_cuda("attention");
}
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
void gemm_bf16_cuda(const GemmArgs&, int) {
  no_cuda("matmul");
}
GemmBf16Plans gemm_bf16_plans(int) {
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
void index_select_cuda(const IndexSelectArgs&, int) {
  no_cuda("index_select");
}
void index_add_cuda(const IndexAddArgs&, int) {
  no_cuda("index_select");
}
void gather_cuda(const GatherArgs&, int) {
  no_cuda("gather");
}
void scatter_add_cuda(const ScatterAddArgs&, int) {
  no_cuda("scatter_add");
}
void masked_fill_cuda(const MaskedFillArgs&, int) {
  no_cuda("masked_fill");
}
void where_cuda(const WhereArgs&, int) {
  no_cuda("where");
}
void gt_cuda(const GtArgs&, int) {
  no_cuda("gt");
}
void eq_cuda(const EqArgs&, int) {
  no_cuda("eq");
}
void topk_cuda(const TopkArgs&, int) {
  no_cuda("topk");
}
void cumsum_cuda(const CumsumArgs&, int) {
  no_cuda("cumsum");
}
void kth_smallest_cuda(const KthSmallestArgs&, int) {
  no_cuda("kth_smallest");
}
void perturbed_scores_cuda(const PerturbedScoresArgs&, int) {
  no_cuda("router");
}
void router_scores_cuda(const RouterScoresArgs&, int) {
  no_cuda("router");
}
void threshold_step_cuda(const ThresholdStepArgs&, int) {
  no_cuda("router");
}
void embedding_cuda(const EmbeddingArgs&, int) {
  no_cuda("embedding");
}
void embedding_backward_cuda(const EmbeddingBackwardArgs&, int) {
  no_cuda("embedding");
}
size_t embedding_backward_scratch_bytes_cuda(int64_t, int64_t, int) {
  no_cuda("embedding");
}
void rmsnorm_cuda(const RmsnormArgs&, int) {
  no_cuda("rmsnorm");
}
void rmsnorm_backward_cuda(const RmsnormBackwardArgs&, int) {
  no_cuda("rmsnorm");
}
void rope_cuda(const RopeArgs&, int) {
  no_cuda("rope");
}
void random_cuda(const RandomArgs&, int) {
  no_cuda("random");
}
void dropout_cuda(const DropoutArgs&, int) {
  no_cuda("dropout");
}
void dropout_apply_cuda(const DropoutApplyArgs&, int) {
  no_cuda("dropout");
}
void adamw_cuda(const AdamWArgs&, int) {
  no_cuda("adamw");
}
void adamw_multi_cuda(const AdamWMultiArgs&, int) {
  no_cuda("adamw");
}
void sum_squares_cuda(const SumSquaresArgs&, int) {
  no_cuda("clip_grad_norm");
}
void sum_squares_multi_cuda(const SumSquaresMultiArgs&, int) {
  no_cuda("clip_grad_norm");
}
void sparse_attention_forward_cuda(const SparseAttentionArgs&, int) {
  no_cuda("sparse_attention");
}
void sparse_attention_backward_cuda(const SparseAttentionBackwardArgs&, int) {
  no_cuda("sparse_attention");
}
void clip_scale_cuda(const ClipScaleArgs&, int) {
  no_cuda("clip_grad_norm");
}

void xent_count_kept_cuda(int64_t*, const int64_t*, int64_t, int64_t, int) {
  no_cuda("linear_cross_entropy");
}
void xent_chunk_cuda(const XentChunkArgs&, int) {
  no_cuda("linear_cross_entropy");
}
void xent_finish_cuda(DType, void*, const double*, const int64_t*, int64_t, int) {
  no_cuda("linear_cross_entropy");
}
void swiglu_cuda(const SwigluArgs&, int) {
  no_cuda("swiglu");
}
void swiglu_backward_cuda(const SwigluBackwardArgs&, int) {
  no_cuda("swiglu");
}

}  // namespace sra::kern
