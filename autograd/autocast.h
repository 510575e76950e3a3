// Autocast (mixed precision), first version. While an AutocastGuard(DType::bf16) is alive on a thread,
// matmul (and linear, built on it) with f32 inputs runs its three GEMMs — the forward C = A·B and the
// backward dA = dC·Bᵀ, dB = Aᵀ·dC — on operands rounded to bf16 (round to nearest even, as core/dtype.h's
// bf16), with the products accumulated in fp32 and an f32 result:
//   C = bf16(A) · bf16(B)   (fp32 accumulation),   dA = bf16(dC) · bf16(B)ᵀ,   dB = bf16(A)ᵀ · bf16(dC)
// Gradients reach A and B in f32 as if the rounding were the identity (as PyTorch's autocast does).
// Everything else stays f32 in this version: master weights, the activations between ops, softmax,
// norms, the loss, the router, AdamW. Activations stored in bf16 (half the memory traffic of every
// elementwise op) come with the speed issue.
//
// The choice is made when an op runs forward: a matmul recorded under the guard runs its backward GEMMs
// in bf16 wherever backward() is called; one recorded outside it stays f32. f64 inputs (gradchecks) are
// never cast. Devices: the same arithmetic on both. CUDA runs cuBLASLt with bf16 operands and fp32
// accumulation; the CPU widens the bf16 operands back to f32 (exact) and runs sgemm, so a CPU run is the
// CUDA path's oracle up to the order of the fp32 additions (kernels/matmul/matmul.h).
//
// Cast cache: while a guard is alive, an operand whose elements were cast before — same storage, offset,
// shape, strides and storage version — reuses that bf16 copy as long as something (the tape) still holds
// any view of it (a hit returns a new handle on the copy's storage), so q/k/v projections of one input, or
// gate/up, cast it once. The cache holds no copy alive and is emptied when the thread's outermost guard ends.
// A contiguous tensor also matches any contiguous view of the same elements (a reshape), and gets the copy
// reshaped alike.
//
// Kept copies: an op whose f32 output feeds GEMMs (rmsnorm, rope, swiglu) writes the bf16 copy in the same
// kernel and hands it to the cache (autocast_keep_bf16), so that the GEMM's cast is a cache hit and no cast
// kernel runs. The backward does the same for gradients that reach GEMMs whole: swiglu's gate and up
// gradients, add_rmsnorm's gradient of its delta (the projection before it). The cache holds a kept copy
// until its first use (the GEMM then saves it for backward, as it would its own cast), and weakly after that.
#pragma once
#include "core/tensor.h"

namespace sra {

// The thread's autocast dtype: bf16 inside an AutocastGuard(DType::bf16), else f32 (no casting).
DType autocast_dtype();

class AutocastGuard {
 public:
  explicit AutocastGuard(DType dtype);  // bf16 turns autocast on for the scope, f32 turns it off
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  DType prev_;
};

// For ops: the f32 tensor x rounded to bf16, laid out like x when x is a permutation of a dense layout
// (a transposed weight stays transposed, so the copy is a straight conversion), else contiguous. Never
// recorded on the tape; served from the cast cache while a guard is alive. A bf16 x (a frozen weight held
// in bf16, train.base_dtype) is returned as it is.
Tensor autocast_bf16_operand(const Tensor& x);

// x rounded to bf16 as a dense (row-major contiguous) tensor, for kernels that need one (attention's q, k, v
// and dout): a contiguous x goes through autocast_bf16_operand (cached, or a kept copy); a strided x, such
// as the head split of a projection, is cast straight into a dense copy by one strided-copy kernel (not
// cached) instead of a dense f32 copy followed by a cast.
Tensor autocast_dense_bf16(const Tensor& x);

// The cast cache's bf16 copy of x (a kept copy, or an earlier cast) while a guard is alive, else an
// undefined tensor: never casts (for an op that converts x itself when no copy exists).
Tensor autocast_find_bf16(const Tensor& x);

// This thread's counts of autocast_bf16_operand calls (tests, benchmarks): casts made (cache misses or no
// guard), cache hits, and hits on a kept copy (one an op wrote beside its output: autocast_keep_bf16).
struct AutocastStats {
  uint64_t casts = 0, hits = 0, kept_hits = 0;
};
AutocastStats autocast_stats();

// True when an op with f32 output x should write its bf16 copy: a guard is alive with dtype bf16.
bool autocast_keeps_bf16(const Tensor& x);
// Puts x16 (bf16, x's shape, both contiguous; every element x's rounded to nearest even, as cast does) in
// the cast cache as x's copy. Only when autocast_keeps_bf16(x).
void autocast_keep_bf16(const Tensor& x, const Tensor& x16);

}  // namespace sra
