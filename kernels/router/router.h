// The router's threshold arithmetic on the router's device (model/router.h), in f64 with explicit fused
// multiply-adds (one rounding), as the host code it replaces was compiled (-mfma contracted it):
//   perturbed_scores   u[i] = fma(τ, f64(ℓ[i]), f64(s[i]))      s, ℓ: n scores and noise in T; u: n f64
//   threshold_step     θ = fma(η, v − c, θ)                      θ, v: one f64 each on the device;
//                      c = θ (quantile: v = q, an EMA step toward q) or c = ρ (ratio: v = observed ratio)
// CPU (router_cpu.cpp): std::fma. CUDA (router_cuda.cu): fma, a grid-stride loop for u and one thread for
// θ: the same bits on both devices, no host read. Callers use the dispatchers (router.cpp). T = float or
// double.
//
// router_scores: the router MLP of model/router.h in one call, for generation (no autograd): for each of
//   `rows` hidden states x (C) in T,
//     r = 1 / √(mean x² + eps)  (double, as rmsnorm),   n_i = x_i · r · g_i  (T, the norm's weight g)
//     u_j = T(Σ_i W_up[j, i] · n_i) + b_up[j],   a_j = u_j · σ(u_j)  (T; σ(v) = 1 / (1 + exp(−v)))
//     s = T(Σ_j w_down[j] · a_j) + b_down                         (the sums in double, in index order)
//   W_up (hidden, C), b_up (hidden), w_down (hidden), b_down (1). The composite (norm, two linears and
//   silu) rounds its GEMM sums in another order: equal up to rounding. CPU: a loop per row; CUDA: one block
//   per row (the norm's sum and the hidden sums through fixed trees), so a decode step's router is one
//   launch instead of six.
#pragma once
#include <cstdint>

#include "core/device.h"
#include "core/dtype.h"

namespace sra::kern {

struct PerturbedScoresArgs {  // pointers on the call's device, contiguous
  DType dtype;                // of s and noise: f32 | f64
  double* u;
  const void* s;
  const void* noise;
  int64_t n;
  double tau;
};

struct ThresholdStepArgs {  // pointers on the call's device
  double* theta;            // θ, updated in place
  const double* value;      // v: the quantile q or the observed ratio
  double lr;                // η
  bool toward_value;        // true: c = θ (quantile); false: c = target (ratio)
  double target;            // ρ
};

struct RouterScoresArgs {  // contiguous, on the call's device
  DType dtype;             // f32 | f64, of every tensor
  void* s;                 // (rows)
  const void* h;           // (rows, c)
  const void* norm_w;      // (c)
  double eps;
  const void* up_w;    // (hidden, c)
  const void* up_b;    // (hidden)
  const void* down_w;  // (hidden)
  const void* down_b;  // (1)
  int64_t rows, c, hidden;
};

// Whether the CUDA kernel takes these sizes (its row and activations in 48 KiB of shared memory with its
// reduction tree); the CPU takes any.
inline bool router_scores_fits_cuda(DType dtype, int64_t c, int64_t hidden) {
  return size_t(c + hidden) * dtype_size(dtype) + 256 * sizeof(double) <= 48 * 1024;
}
void router_scores(Device device, const RouterScoresArgs& args);
void router_scores_cuda(const RouterScoresArgs& args, int device);
template <typename T>
void router_scores_cpu(const RouterScoresArgs& args);

void perturbed_scores(Device device, const PerturbedScoresArgs& args);
void threshold_step(Device device, const ThresholdStepArgs& args);
void perturbed_scores_cuda(const PerturbedScoresArgs& args, int device);
void threshold_step_cuda(const ThresholdStepArgs& args, int device);

template <typename T>
void perturbed_scores_cpu(double* u, const T* s, const T* noise, int64_t n, double tau);
void threshold_step_cpu(const ThresholdStepArgs& args);

}  // namespace sra::kern
