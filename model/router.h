// The SRA router and its selection (see docs/sra.md for the full math).
//   score      s_j = w2 · silu(W1 · RMSNorm(h_j) + b1) + b2          h (B, T, C) → s (B, T)
//   training   soft g_j = σ((s_j − θ) / τ + ℓ_j), ℓ_j ~ Logistic(0, 1)  (binary Gumbel-softmax)
//              hard z_j = 1[g_j > 0.5] = 1[s_j + τ·ℓ_j > θ] ~ Bernoulli(σ((s_j − θ)/τ));
//              gate = straight_through(z, g). Annealing τ → 0 turns training selection into the
//              evaluation rule.
//   evaluation z_j = 1[s_j > θ] (no noise), gate = 1
// θ is a buffer ("threshold"), not a function of the sequence, so z_j depends only on tokens ≤ j:
// selection is causal. After each optimizer step, update_threshold() moves θ: by default toward the
// (1 − ρ)-quantile q of the step's perturbed scores u_j = s_j + τ·ℓ_j (the values compared with θ),
// θ ← θ + η·(q − θ), an exponential moving average that follows the scores wherever training moves
// them; or (threshold_update "ratio") θ ← θ + η·(observed ratio − ρ). Saved in checkpoints.
// An optional budget loss w·(mean g − ρ)² pulls the soft gates toward ρ as well.
// Devices: θ is a one-element f64 tensor on the router's device and select / update_threshold use it
// there (training: s − f32(θ); evaluation: f64(s) − θ > 0, i.e. f64(s) > θ; the update is
// kernels/router's θ = fma(η, q − θ, θ) or fma(η, r − ρ, θ)); the ratio (count / n in f64) and the
// quantile (u = fma(τ, ℓ, s) in f64, kth_smallest at index min(n − 1, ⌊n·(1 − ρ)⌋)) are 0-d f64 tensors
// there too, so a training step reads nothing back to the host. threshold() is the one host read (for
// logs, the CLI, and code that compares on the host).
#pragma once
#include "model/layers.h"

namespace sra {

struct RouterConfig {
  int64_t hidden = 64;                        // router MLP width (32–128)
  double target_ratio = 0.10;                 // ρ: fraction of tokens selected
  double temperature = 1.0;                   // τ (scheduled by the trainer)
  double threshold_lr = 0.05;                 // η of the threshold update (in [0, 1] for "quantile")
  std::string threshold_update = "quantile";  // "quantile" (EMA of the batch quantile) | "ratio"
  double budget_weight = 0.0;                 // w of the budget loss (0 = off)
  double init_threshold = 2.2;  // θ₀ ≈ logit(1 − ρ) for scores near 0 under logistic noise
  void validate() const;        // throws "[router] ..." naming the bad field
  bool operator==(const RouterConfig&) const = default;
};

struct Selection {
  Tensor scores;    // (B, T) router scores (differentiable)
  Tensor selected;  // (B, T) u8, 1 = critical
  Tensor gate;      // (B, T) float, value = selected; in training its gradient is the soft gate's
  Tensor soft;      // (B, T) float soft gate g (training) — undefined in evaluation
  Tensor ratio;     // 0-d f64 on the scores' device: fraction of selected tokens
  Tensor quantile;  // 0-d f64, training with threshold_update quantile only: the (1 − ρ)-quantile of
                    // s_j + τ·ℓ_j (0 when there are no tokens); undefined otherwise
};

class Router : public Module {
 public:
  Router(int64_t d_model, const RouterConfig& c, double norm_eps, double init_std, Generator& gen,
         DType dtype = DType::f32);
  Tensor scores(const Tensor& h) const;  // (B, T, C) → (B, T)
  // scores for generation: on CUDA without autograd or autocast, the whole MLP in one kernel
  // (kernels/router/router.h router_scores: equal to scores up to rounding); otherwise scores.
  Tensor decode_scores(const Tensor& h) const;
  // Training (stochastic, straight-through) when is_training(), else deterministic hard selection.
  Selection select(const Tensor& h, Generator& gen) const;
  // Given decisions z (B, T) u8 (e.g. sampled by the RL stage): scores (differentiable), selected = z,
  // gate = z as a constant (no gradient), soft undefined.
  Selection forced_select(const Tensor& h, const Tensor& z) const;
  // Budget loss w·(mean g − ρ)² of a training selection (0-d tensor; zero when w = 0).
  Tensor budget_loss(const Selection& s) const;
  // After an optimizer step, from a training selection's ratio and quantile (0-d f64 tensors on the
  // router's device; the quantile is only read with threshold_update quantile): see the top of this file.
  void update_threshold(const Tensor& observed_ratio, const Tensor& quantile);
  double threshold() const;                                      // a host read of θ
  const Tensor& threshold_tensor() const { return threshold_; }  // (1) f64 on the router's device
  void set_threshold(double theta);  // e.g. sra eval --threshold-offset (inference-time budget)
  RouterConfig& config() { return config_; }
  const RouterConfig& config() const { return config_; }

  std::shared_ptr<RMSNorm> norm;
  std::shared_ptr<Linear> up_proj, down_proj;

 private:
  RouterConfig config_;
  Tensor threshold_;  // buffer (1), f64, on the router's device
};

}  // namespace sra
