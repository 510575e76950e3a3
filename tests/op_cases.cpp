// The op table: one line per op case. It drives the finite-difference gradchecks
// (tests/test_gradcheck.cpp) and, with the CUDA backend, CPU-vs-CUDA parity. Adding an op = one line.
#include "autograd/fused_ops.h"
#include "autograd/sparse_attention.h"
#include "tests/gradcheck.h"

namespace sra::test {

namespace {
using V = const std::vector<Tensor>&;
}

const std::vector<OpCase>& op_cases() {
  static const std::vector<OpCase> cases = {
      // ---- elementwise binary (broadcasting) ----
      {"add", {F({3, 4}), F({3, 4})}, [](V x) { return add(x[0], x[1]); }},
      {"add/broadcast", {F({2, 3, 4}), F({3, 1})}, [](V x) { return add(x[0], x[1]); }},
      {"sub", {F({2, 3, 4}), F({4})}, [](V x) { return sub(x[0], x[1]); }},
      {"mul", {F({2, 1, 4}), F({3, 1})}, [](V x) { return mul(x[0], x[1]); }},
      {"div", {F({3, 4}), Pos({3, 4})}, [](V x) { return div(x[0], x[1]); }},
      {"div/broadcast", {F({2, 3}), Pos({2, 1})}, [](V x) { return div(x[0], x[1]); }},
      {"add_scalar", {F({5})}, [](V x) { return add(x[0], 2.5); }},
      {"mul_scalar", {F({5})}, [](V x) { return mul(x[0], -1.5); }},
      // ---- elementwise unary ----
      {"neg", {F({3, 4})}, [](V x) { return neg(x[0]); }},
      {"pow", {Pos({3, 4})}, [](V x) { return pow(x[0], 2.5); }},
      {"pow/negative", {Pos({6})}, [](V x) { return pow(x[0], -1.5); }},
      {"exp", {F({3, 4})}, [](V x) { return exp(x[0]); }},
      {"log", {Pos({3, 4})}, [](V x) { return log(x[0]); }},
      {"sqrt", {Pos({3, 4})}, [](V x) { return sqrt(x[0]); }},
      {"rsqrt", {Pos({3, 4})}, [](V x) { return rsqrt(x[0]); }},
      {"tanh", {F({3, 4})}, [](V x) { return tanh(x[0]); }},
      {"sigmoid", {F({3, 4})}, [](V x) { return sigmoid(x[0]); }},
      {"silu", {F({3, 4})}, [](V x) { return silu(x[0]); }},
      {"gelu", {F({3, 4})}, [](V x) { return gelu(x[0]); }},
      {"relu", {Away({3, 4})}, [](V x) { return relu(x[0]); }},
      {"unary/strided", {F({4, 3})}, [](V x) { return exp(transpose(x[0], 0, 1)); }},
      // ---- reductions ----
      {"sum", {F({2, 3, 4})}, [](V x) { return sum(x[0], {1}); }},
      {"sum/keepdim", {F({2, 3, 4})}, [](V x) { return sum(x[0], {0, 2}, true); }},
      {"sum/all", {F({2, 3, 4})}, [](V x) { return sum(x[0]); }},
      {"mean", {F({2, 3, 4})}, [](V x) { return mean(x[0], {-1}); }},
      {"mean/all", {F({3, 5})}, [](V x) { return mean(x[0]); }},
      {"max", {Distinct({3, 5})}, [](V x) { return max(x[0], 1).first; }},
      {"max/dim0_keepdim", {Distinct({4, 3, 2})}, [](V x) { return max(x[0], 0, true).first; }},
      // ---- linear algebra ----
      {"matmul", {F({3, 4}), F({4, 5})}, [](V x) { return matmul(x[0], x[1]); }},
      {"matmul/batched", {F({2, 3, 4}), F({2, 4, 5})}, [](V x) { return matmul(x[0], x[1]); }},
      {"matmul/broadcast", {F({2, 1, 3, 4}), F({3, 4, 2})}, [](V x) { return matmul(x[0], x[1]); }},
      {"matmul/fold", {F({2, 3, 4}), F({4, 5})}, [](V x) { return matmul(x[0], x[1]); }},
      {"matmul/transposed", {F({4, 3}), F({5, 4})},
       [](V x) { return matmul(transpose(x[0], 0, 1), transpose(x[1], 0, 1)); }},
      {"linear", {F({2, 3, 4}), F({5, 4}), F({5})}, [](V x) { return linear(x[0], x[1], x[2]); }},
      // without a bf16 autocast guard it is linear (its bf16 output: tests/test_fused_ops.cpp)
      {"linear_bf16_out", {F({2, 3, 4}), F({5, 4})}, [](V x) { return linear_bf16_out(x[0], x[1]); }},
      // three weights of 5, 5 and 2 rows: every output block (offsets 0, 5, 10) reaches the loss
      {"linear_stacked", {F({2, 3, 4}), F({5, 4}), F({5, 4}), F({2, 4})},
       [](V x) {
         std::vector<Tensor> y = linear_stacked(x[0], {x[1], x[2], x[3]});
         return add(mul(y[0], y[1]), sum(mul(y[2], y[2]), {-1}, true));
       }},
      // without a bf16 autocast guard it is linear_stacked (its bf16 halves: tests/test_fused_ops.cpp)
      {"linear_stacked_bf16_out", {F({2, 3, 4}), F({5, 4}), F({5, 4})},
       [](V x) {
         std::vector<Tensor> y = linear_stacked_bf16_out(x[0], {x[1], x[2]});
         return swiglu(y[0], y[1]);
       }},
      {"linear_stacked/unused_output", {F({3, 4}), F({2, 4}), F({3, 4})},
       [](V x) { return linear_stacked(x[0], {x[1], x[2]})[1]; }},
      // ---- shape and movement ----
      {"reshape", {F({2, 3, 4})}, [](V x) { return mul(reshape(x[0], {4, -1}), reshape(x[0], {4, 6})); }},
      {"reshape/copy", {F({3, 4})}, [](V x) { return reshape(transpose(x[0], 0, 1), {2, 6}); }},
      {"transpose", {F({2, 3, 4})}, [](V x) { return transpose(x[0], 0, 2); }},
      {"permute", {F({2, 3, 4})}, [](V x) { return permute(x[0], {1, 2, 0}); }},
      {"slice", {F({5, 6})}, [](V x) { return slice(x[0], 1, 1, 6, 2); }},
      {"slice/negative", {F({5, 6})}, [](V x) { return slice(x[0], 0, -3, -1); }},
      {"expand", {F({3, 1})}, [](V x) { return expand(x[0], {2, 3, 4}); }},
      {"concat", {F({2, 3}), F({2, 2})}, [](V x) { return concat({x[0], x[1], x[0]}, 1); }},
      {"stack", {F({2, 3}), F({2, 3})}, [](V x) { return stack({x[0], x[1]}, 1); }},
      {"contiguous", {F({3, 4})}, [](V x) { return contiguous(transpose(x[0], 0, 1)); }},
      {"cast", {F({3, 4})}, [](V x) { return cast(cast(x[0], DType::f32), DType::f64); }, 1e-3, 1e-3, 1e-3},
      // ---- softmax family, losses, layers (embedding, rmsnorm, rope, dropout), indexing, random ----
      {"softmax", {F({3, 5})}, [](V x) { return softmax(x[0], -1); }},
      {"softmax/dim0", {F({4, 3, 2})}, [](V x) { return softmax(x[0], 0); }},
      {"softmax/middle", {F({2, 4, 3})}, [](V x) { return softmax(x[0], 1); }},
      {"softmax/strided", {F({4, 3})}, [](V x) { return softmax(transpose(x[0], 0, 1), -1); }},
      {"log_softmax", {F({3, 5})}, [](V x) { return log_softmax(x[0], -1); }},
      {"log_softmax/dim0", {F({4, 3, 2})}, [](V x) { return log_softmax(x[0], 0); }},
      {"log_softmax/middle", {F({2, 4, 3})}, [](V x) { return log_softmax(x[0], 1); }},
      {"cross_entropy", {F({4, 5}), Idx({4}, 5)}, [](V x) { return cross_entropy(x[0], x[1]); }},
      {"cross_entropy/i32", {F({3, 4}), Idx({3}, 4)},
       [](V x) { return cross_entropy(x[0], cast(x[1], DType::i32)); }},
      {"cross_entropy/ignore", {F({5, 4})}, [](V x) {
         return cross_entropy(x[0], Tensor::from_vector(std::vector<int64_t>{1, -100, 3, -100, 0}, {5}));
       }},
      {"cross_entropy/ignore_custom", {F({4, 3})}, [](V x) {
         return cross_entropy(x[0], Tensor::from_vector(std::vector<int64_t>{2, 0, 2, 1}, {4}), 2);
       }},
      {"cross_entropy/all_ignored", {F({2, 3})},
       [](V x) { return cross_entropy(x[0], Tensor::from_vector(std::vector<int64_t>{-100, -100}, {2})); }},
      {"embedding", {F({6, 3}), Idx({2, 4}, 6)}, [](V x) { return embedding(x[0], x[1]); }},
      {"embedding/i32_repeated", {F({4, 2})},
       [](V x) {
         return embedding(x[0], Tensor::from_vector(std::vector<int32_t>{3, 1, 3, 3, 0}, {5}).to(x[0].device()));
       }},
      {"rmsnorm", {F({2, 3, 5}), F({5})}, [](V x) { return rmsnorm(x[0], x[1], 1e-5); }},
      {"rmsnorm/input_only", {F({4, 6}), Const({6})}, [](V x) { return rmsnorm(x[0], x[1], 1e-2); }},
      {"rmsnorm/weight_only", {Const({3, 4}), F({4})}, [](V x) { return rmsnorm(x[0], x[1]); }},
      {"rope", {F({2, 2, 3, 4}), Idx({3}, 50)}, [](V x) { return rope(x[0], x[1]); }},
      {"rope/batch_positions", {F({2, 1, 3, 6}), Idx({2, 3}, 50)},
       [](V x) { return rope(x[0], x[1], 100.0); }},
      {"rope/strided_input", {F({2, 3, 2, 4}), Idx({3}, 50)},  // the (B, T, H, D) → (B, H, T, D) head split
       [](V x) { return rope(transpose(x[0], 1, 2), x[1]); }},
      // ---- fused ops (autograd/fused_ops.h; each also checked against its composite in test_fused_ops) ----
      {"linear_cross_entropy", {F({5, 4}), F({7, 4}), Idx({5}, 7)},  // chunks of 2, 2, 1 rows
       [](V x) { return linear_cross_entropy(x[0], x[1], x[2], -100, 2); }},
      {"linear_cross_entropy/ignore", {F({5, 3}), F({6, 3})}, [](V x) {
         return linear_cross_entropy(x[0], x[1], Tensor::from_vector(std::vector<int64_t>{1, -100, 5, -100, 0}, {5}),
                                     -100, 3);
       }},
      {"linear_cross_entropy/all_ignored", {F({2, 3}), F({4, 3})}, [](V x) {
         return linear_cross_entropy(x[0], x[1], Tensor::from_vector(std::vector<int64_t>{-100, -100}, {2}));
       }},
      {"linear_cross_entropy/weight_only", {Const({4, 3}), F({5, 3}), Idx({4}, 5)},
       [](V x) { return linear_cross_entropy(x[0], x[1], cast(x[2], DType::i32), -100, 3); }},
      {"swiglu", {F({3, 4}), F({3, 4})}, [](V x) { return swiglu(x[0], x[1]); }},
      {"add_rmsnorm", {F({2, 3, 5}), F({2, 3, 5}), F({5})}, [](V x) {
         auto [s, y] = add_rmsnorm(x[0], x[1], x[2], 1e-5);
         return stack({s, y}, 0);
       }},
      {"add_rmsnorm/norm_only", {F({4, 6}), Const({4, 6}), Const({6})}, [](V x) {
         return add_rmsnorm(x[0], x[1], x[2], 1e-2).second;
       }},
      {"swiglu/gate_only", {F({2, 5}), Const({2, 5})}, [](V x) { return swiglu(x[0], x[1]); }},
      {"dropout", {F({4, 5})}, [](V x) {
         Generator gen(7);
         return dropout(x[0], 0.3, gen);
       }},
      {"dropout/eval", {F({3, 4})}, [](V x) {
         Generator gen(7);
         return dropout(x[0], 0.5, gen, false);
       }},
      {"index_select", {F({5, 3}), Idx({4}, 5)}, [](V x) { return index_select(x[0], 0, x[1]); }},
      {"index_select/dim1", {F({2, 4, 3}), Idx({6}, 4)}, [](V x) { return index_select(x[0], 1, x[1]); }},
      {"gather", {F({4, 5}), Idx({4, 3}, 5)}, [](V x) { return gather(x[0], 1, x[1]); }},
      {"gather/dim0", {F({4, 5}), Idx({6, 3}, 4)}, [](V x) { return gather(x[0], 0, x[1]); }},
      {"scatter_add", {F({4, 5}), Idx({4, 3}, 5), F({4, 3})},
       [](V x) { return scatter_add(x[0], 1, x[1], x[2]); }},
      {"scatter_add/dim0_big_src", {F({3, 4}), Idx({5, 2}, 3), F({6, 4})},
       [](V x) { return scatter_add(x[0], 0, x[1], x[2]); }},
      {"masked_fill", {F({3, 4}), Mask({3, 4})}, [](V x) { return masked_fill(x[0], x[1], -2.0); }},
      {"masked_fill/broadcast", {F({2, 3, 4}), Mask({3, 1})},
       [](V x) { return masked_fill(x[0], x[1], 0.5); }},
      {"where", {Mask({3, 4}), F({3, 4}), F({3, 4})}, [](V x) { return where(x[0], x[1], x[2]); }},
      {"where/broadcast", {Mask({3, 1}), F({4}), F({2, 3, 4})},
       [](V x) { return where(x[0], x[1], x[2]); }},
      {"topk", {Distinct({3, 6})}, [](V x) { return topk(x[0], 3, -1).first; }},
      {"topk/dim0", {Distinct({5, 2, 3})}, [](V x) { return topk(x[0], 2, 0).first; }},
      {"cumsum", {F({3, 5})}, [](V x) { return cumsum(x[0], 1); }},
      {"cumsum/dim0", {F({4, 2, 3})}, [](V x) { return cumsum(x[0], 0); }},
      {"gumbel_noise", {F({3, 4})}, [](V x) {
         Generator gen(11);
         return add(x[0], gumbel_noise(x[0].shape(), gen, x[0].dtype(), x[0].device()));
       }},
      {"logistic_noise", {F({3, 4})}, [](V x) {
         Generator gen(13);
         return mul(x[0], logistic_noise(x[0].shape(), gen, x[0].dtype(), x[0].device()));
       }},
      // forward = hard, gradient → soft only: with hard = soft = x the numeric gradient is w, and it
      // would be 2w if hard got a gradient too
      {"straight_through", {F({3, 4})}, [](V x) { return straight_through(x[0], x[0]); }},
      // (section NN: insert lines above this marker)
      // ---- attention ----
      {"attention", {F({1, 2, 4, 4}), F({1, 2, 4, 4}), F({1, 2, 4, 4})},
       [](V x) { return attention(x[0], x[1], x[2]); }},
      {"attention/gqa", {F({2, 4, 3, 4}), F({2, 2, 3, 4}), F({2, 2, 3, 4})},
       [](V x) { return attention(x[0], x[1], x[2]); }},
      {"attention/noncausal", {F({1, 2, 5, 4}), F({1, 2, 3, 4}), F({1, 2, 3, 4})},
       [](V x) { return attention(x[0], x[1], x[2], false); }},
      {"attention/cache", {F({2, 2, 3, 4}), F({2, 1, 5, 4}), F({2, 1, 5, 4})},
       [](V x) { return attention(x[0], x[1], x[2], true, 0.7); }},
      {"attention/decode", {F({1, 3, 1, 4}), F({1, 3, 4, 4}), F({1, 3, 4, 4})},
       [](V x) { return attention(x[0], x[1], x[2]); }},
      {"attention/fused_backward", {F({4, 4, 3, 4}), F({4, 4, 4, 4}), F({4, 4, 4, 4})},
       [](V x) { return attention(x[0], x[1], x[2]); }},
      {"sparse_attention", {F({1, 2, 7, 4}), F({1, 2, 7, 4}), F({1, 2, 7, 4}), Pos({1, 7})}, [](V x) {
         Tensor sel = Tensor::from_vector(std::vector<uint8_t>{0, 1, 1, 0, 1, 0, 1}, {1, 7}).to(x[0].device());
         return sparse_attention(x[0], x[1], x[2], sel, x[3], 2, 1);
       }},
      {"sparse_attention/gqa", {F({2, 4, 6, 4}), F({2, 2, 6, 4}), F({2, 2, 6, 4}), Pos({2, 6})}, [](V x) {
         Tensor sel = Tensor::from_vector(std::vector<uint8_t>{1, 0, 1, 1, 0, 0, 0, 1, 0, 1, 1, 0}, {2, 6}).to(x[0].device());
         return sparse_attention(x[0], x[1], x[2], sel, x[3], 2, 0, 0.7);
       }},
      {"sparse_attention/sinks", {F({1, 1, 9, 3}), F({1, 1, 9, 3}), F({1, 1, 9, 3}), Pos({1, 9})}, [](V x) {
         Tensor sel = Tensor::from_vector(std::vector<uint8_t>{1, 0, 0, 1, 0, 1, 1, 0, 1}, {1, 9}).to(x[0].device());
         return sparse_attention(x[0], x[1], x[2], sel, x[3], 3, 2);
       }},
      {"sparse_attention/window_1", {F({1, 1, 6, 2}), F({1, 1, 6, 2}), F({1, 1, 6, 2}), Pos({1, 6})}, [](V x) {
         Tensor sel = Tensor::from_vector(std::vector<uint8_t>{0, 1, 0, 1, 1, 0}, {1, 6}).to(x[0].device());
         return sparse_attention(x[0], x[1], x[2], sel, x[3], 1, 1);
       }},
      // (section ATTENTION: insert lines above this marker)
  };
  return cases;
}

}  // namespace sra::test
