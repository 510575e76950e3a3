// The differentiable ops. Each is one function in autograd/ops/<group>.cpp: shape checks, dispatch to
// the raw-pointer kernel in kernels/<op>/, then (when an input requires grad) record() with the
// backward closure right under the forward. Shape errors throw "[op] ..." naming both shapes.
// Floating ops run in f32 or f64 (inputs of one op share a dtype); index tensors are i64 or i32.
#pragma once
#include <array>
#include <utility>
#include <vector>

#include "autograd/tape.h"
#include "core/rng.h"
#include "core/tensor.h"
#include "kernels/rope/rope_freq.h"

namespace sra {

// ---- elementwise binary, with NumPy broadcasting (ops/elementwise.cpp) -------------------------
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, double s);
Tensor mul(const Tensor& a, double s);
// a / s as one rounded division on a's device (mul(a, 1 / s) can differ in the last bit).
Tensor div(const Tensor& a, double s);
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
inline Tensor operator+(const Tensor& a, const Tensor& b) {
  return add(a, b);
}
inline Tensor operator-(const Tensor& a, const Tensor& b) {
  return sub(a, b);
}
inline Tensor operator*(const Tensor& a, const Tensor& b) {
  return mul(a, b);
}
inline Tensor operator/(const Tensor& a, const Tensor& b) {
  return div(a, b);
}
inline Tensor operator+(const Tensor& a, double s) {
  return add(a, s);
}
inline Tensor operator-(const Tensor& a, double s) {
  return add(a, -s);
}
inline Tensor operator*(const Tensor& a, double s) {
  return mul(a, s);
}
inline Tensor operator*(double s, const Tensor& a) {
  return mul(a, s);
}

// ---- elementwise unary (ops/elementwise.cpp) ------------------------------------------------
Tensor neg(const Tensor& x);
Tensor pow(const Tensor& x, double p);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor silu(const Tensor& x);
Tensor gelu(const Tensor& x);  // exact: x·Φ(x)
Tensor relu(const Tensor& x);
inline Tensor operator-(const Tensor& x) {
  return neg(x);
}

// ---- reductions (ops/reduce.cpp) ------------------------------------------------------------
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false);
Tensor sum(const Tensor& x);  // all elements → scalar
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false);
Tensor mean(const Tensor& x);
// max over one dim: values (differentiable; the gradient goes to the first maximum) and i64 indices.
std::pair<Tensor, Tensor> max(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim = false);
// The k-th smallest (0-based) of all elements as a 0-d tensor on x's device, without a host read; not
// differentiable. Order: -0 < +0, NaN above +inf (kernels/kth_smallest/kth_smallest.h).
Tensor kth_smallest(const Tensor& x, int64_t k);

// ---- softmax family (ops/softmax.cpp) -------------------------------------------------------
Tensor softmax(const Tensor& x, int64_t dim = -1);
Tensor log_softmax(const Tensor& x, int64_t dim = -1);
// logits (N, V), targets (N) i64/i32; mean over targets != ignore_index (0 when none are kept).
Tensor cross_entropy(const Tensor& logits, const Tensor& targets, int64_t ignore_index = -100);

// ---- linear algebra (ops/matmul.cpp) --------------------------------------------------------
// (…, M, K) @ (…, K, N) → (…, M, N), batch dims broadcast; 1-D operands as in NumPy are not accepted.
Tensor matmul(const Tensor& a, const Tensor& b);
// x (…, in) · wᵀ with w (out, in) [+ bias (out)] → (…, out): Hugging Face / PyTorch Linear layout.
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias = Tensor());
// linear(x, w) whose output is bf16 when the GEMM runs on bf16 operands (under bf16 autocast, or a bf16
// weight): the GEMM rounds its fp32 sums (half the bytes written and read after), for consumers that read
// bf16 (swiglu). Its gradient arrives in any float dtype. Elsewhere (no guard, f64): linear(x, w).
Tensor linear_bf16_out(const Tensor& x, const Tensor& w);
// {linear(x, w_0), …, linear(x, w_{n−1})} as one GEMM over the weights stacked along their output dim (the
// attention's q, k and v projections): y_i (…, out_i) are column blocks of one (…, Σ out_i) result (views,
// row stride Σ out_i). Backward: the gradients gathered into one (M, Σ out_i) matrix, then one GEMM for dx
// (no sum of n partial dx) and one for the stacked dW, each w_i's gradient a row block of it. The same
// products as n linears (each output element the same dot product; under bf16 autocast the same bf16
// operands), so equal up to the order of fp32 additions the GEMM library picks.
std::vector<Tensor> linear_stacked(const Tensor& x, const std::vector<Tensor>& ws);
// linear_stacked whose outputs are bf16 when the GEMM runs on bf16 operands (linear_bf16_out's rule): the
// MLP's gate and up, which swiglu reads in place as the two halves of one matrix and whose bf16 gradients
// it writes side by side, so the backward GEMMs take them with no gather.
std::vector<Tensor> linear_stacked_bf16_out(const Tensor& x, const std::vector<Tensor>& ws);

// ---- layers (ops/nn.cpp) --------------------------------------------------------------------
// weight (V, C), ids (…) integer → (…, C); backward scatter-adds rows.
Tensor embedding(const Tensor& weight, const Tensor& ids);
// x (…, C), weight (C): x / sqrt(mean(x²) + eps) · weight.
Tensor rmsnorm(const Tensor& x, const Tensor& weight, double eps = 1e-6);
// Rotary embedding, Hugging Face Llama layout ("rotate_half"): x (B, H, T, D) with D even,
// positions (T) or (B, T) integer; out = x·cos + rotate_half(x)·sin, angle = pos · theta^(-2i/D).
Tensor rope(const Tensor& x, const Tensor& positions, double theta = 10000.0,
            const kern::RopeScaling& scaling = {});
// Causal attention softmax(QKᵀ·scale + causal mask)·V. q (B, H, T, D); k, v (B, Hkv, S, D), H a
// multiple of Hkv (grouped-query); query t sits at key position t + S − T. scale 0 → 1/√D.
// Never builds a T×S buffer: tiles with an online softmax; backward recomputes the tiles.
Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, bool causal = true, double scale = 0.0);
// Decode attention (ops/decode_attention.cpp): one query per sequence over its KV-cache parts, no mask.
// q (B, H, D); parts[b] holds up to two parts of sequence b's keys, each k, v buffers (Hkv, capacity, D)
// of which rows [0, rows) of every head are attended (a part with rows 0 may be undefined); the parts'
// rows in order are the keys. out (B, H, D) = attention(q, K, V, causal = false) over those keys (at least
// one per sequence). Inference only: no gradient (an input that requires grad is an error).
struct KVPart {
  Tensor k, v;
  int64_t rows = 0;
};
Tensor decode_attention(const Tensor& q, const std::vector<std::array<KVPart, 2>>& parts, double scale = 0.0);
// Inverted dropout: zeroes with probability p, scales the rest by 1/(1-p). Identity when !training.
Tensor dropout(const Tensor& x, double p, Generator& gen, bool training = true);

// ---- shape and movement (ops/view.cpp, ops/index.cpp) ---------------------------------------
Tensor reshape(const Tensor& x, const Shape& shape);
Tensor transpose(const Tensor& x, int64_t d0, int64_t d1);
Tensor permute(const Tensor& x, const std::vector<int64_t>& dims);
Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step = 1);
Tensor expand(const Tensor& x, const Shape& shape);
Tensor concat(const std::vector<Tensor>& xs, int64_t dim);
// The values of several tensors (on one device) in one device-to-host read, each flattened as doubles
// (f32, bf16, integer and u8 values convert exactly). Not recorded.
std::vector<std::vector<double>> read_back(const std::vector<Tensor>& ts);
Tensor stack(const std::vector<Tensor>& xs, int64_t dim);
Tensor contiguous(const Tensor& x);
Tensor cast(const Tensor& x, DType dtype);                               // float↔float is differentiable
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);  // index (n) integer
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);        // out[..i..] = x[..index[..i..]..]
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index,
                   const Tensor& src);                                  // x + scattered src
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value);  // mask u8, broadcast to x
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);     // cond u8, broadcast
// k largest along dim, sorted descending (ties: lower index first): values (differentiable), i64 indices.
std::pair<Tensor, Tensor> topk(const Tensor& x, int64_t k, int64_t dim = -1);
Tensor cumsum(const Tensor& x, int64_t dim);

// ---- straight-through (ops/gate.cpp) --------------------------------------------------------
// Forward value `hard`, backward gradient passed unchanged to `soft` (same shape and dtype): the
// straight-through estimator of the router's Gumbel-sigmoid gate.
Tensor straight_through(const Tensor& hard, const Tensor& soft);

// ---- comparisons (not differentiable; u8 results) --------------------------------------------
Tensor gt(const Tensor& a, double s);
Tensor eq(const Tensor& a, const Tensor& b);

// ---- random factories (no history; counter-based, see core/rng.h) -----------------------------
// Created on `device`; the same generator state gives the same numbers on every device
// (kernels/random/random.h says how exactly).
Tensor rand_uniform(const Shape& shape, Generator& gen, DType dtype = DType::f32,
                    Device device = Device::cpu());  // (0, 1)
Tensor randn(const Shape& shape, Generator& gen, DType dtype = DType::f32, Device device = Device::cpu());
Tensor gumbel_noise(const Shape& shape, Generator& gen, DType dtype = DType::f32,
                    Device device = Device::cpu());  // -log(-log u)
Tensor logistic_noise(const Shape& shape, Generator& gen, DType dtype = DType::f32,
                      Device device = Device::cpu());  // log u - log(1-u)

}  // namespace sra
