// Fused ops: one op (and few launches) where the composite of autograd/ops.h would run several kernels and
// keep intermediate tensors. Each has the composite as its oracle (tests/test_fused_ops.cpp on the CPU,
// gradchecks in f64; tests/test_cuda_fused.cpp on the GPU); docs/fusion.md says what each saves.
#pragma once
#include <utility>

#include "core/tensor.h"

namespace sra {

// The LM head fused with the mean cross-entropy (ops/fused_lce.cpp): x (N, C), w (V, C) (Linear layout),
// targets (N) i64/i32 → 0-d loss equal to cross_entropy(linear(x, w), targets, ignore_index) (rows whose
// target is ignore_index do not count; 0 when none is kept). The logits are made chunk_rows rows at a time
// (0: as many rows as fit 2^26 logits, 256 MiB in f32) and never exist for the whole batch. When x or w
// requires grad, the forward also forms each chunk's softmax − onehot (scaled by 1 / kept) and accumulates
// dx = G·w and dw = Gᵀ·x chunk by chunk; backward multiplies them by the incoming gradient (no second pass
// over the logits). Under AutocastGuard(bf16) with f32 inputs the three GEMMs run on bf16 operands (x, w
// from the cast cache; G rounded to bf16, as matmul's backward rounds the logits' gradient) with fp32
// accumulation; the softmax and the loss stay f32. Everything runs on x's device.
Tensor linear_cross_entropy(const Tensor& x, const Tensor& w, const Tensor& targets,
                            int64_t ignore_index = -100, int64_t chunk_rows = 0);

// SwiGLU's gate (ops/fused_swiglu.cpp): silu(gate) · up for gate, up of one shape, one kernel forward and one
// backward (ggate = gy·up·σ(gate)·(1 + gate·(1 − σ(gate))), gup = gy·silu(gate)), equal to
// mul(silu(gate), up). Under AutocastGuard(bf16) with f32 inputs the kernel also writes the bf16 copy the
// next GEMM reads (autocast.h: autocast_keep_bf16), so no separate cast runs, and keeps gate and up in
// bf16 for the backward. gate and up may both be bf16 (linear_bf16_out's): read widened; y f32, their
// gradients bf16 (the dtype of the inputs; what the projections' GEMMs read).
Tensor swiglu(const Tensor& gate, const Tensor& up);

// The residual add fused with the RMSNorm after it (ops/fused_add_rmsnorm.cpp): x, delta (…, C), weight (C)
// → (s, y) with s = x + delta and y = rmsnorm(s, weight, eps), one kernel forward (s written beside y, and
// y's bf16 copy under autocast as rmsnorm does) and one backward: gx = gdelta = gs + rmsnorm's gradient (in
// the order the tape would add them), gw as rmsnorm's. Equal to add + rmsnorm.
std::pair<Tensor, Tensor> add_rmsnorm(const Tensor& x, const Tensor& delta, const Tensor& weight,
                                      double eps = 1e-6);

}  // namespace sra
