#include "model/router.h"

#include <algorithm>
#include <cmath>

#include "autograd/autocast.h"
#include "autograd/tape.h"
#include "kernels/router/router.h"

namespace sra {

void RouterConfig::validate() const {
  SRA_CHECK(hidden > 0, "[router] hidden must be > 0, got ", hidden);
  SRA_CHECK(target_ratio > 0 && target_ratio <= 1, "[router] target_ratio must be in (0, 1], got ",
            target_ratio);
  SRA_CHECK(temperature > 0, "[router] temperature must be > 0, got ", temperature);
  SRA_CHECK(threshold_update == "quantile" || threshold_update == "ratio",
            "[router] threshold_update must be quantile or ratio, got '", threshold_update, "'");
  SRA_CHECK(threshold_lr >= 0 && (threshold_update == "ratio" || threshold_lr <= 1),
            "[router] threshold_lr must be ",
            threshold_update == "ratio" ? ">= 0" : "in [0, 1] with threshold_update quantile", ", got ",
            threshold_lr);
  SRA_CHECK(budget_weight >= 0, "[router] budget_weight must be >= 0, got ", budget_weight);
  SRA_CHECK(std::isfinite(init_threshold), "[router] init_threshold must be finite");
}

Router::Router(int64_t d_model, const RouterConfig& c, double norm_eps, double init_std, Generator& gen,
               DType dtype)
    : config_(c) {
  c.validate();
  norm = register_module("norm", std::make_shared<RMSNorm>(d_model, norm_eps, dtype));
  up_proj =
      register_module("up_proj", std::make_shared<Linear>(d_model, c.hidden, true, init_std, gen, dtype));
  down_proj = register_module("down_proj", std::make_shared<Linear>(c.hidden, 1, true, init_std, gen, dtype));
  threshold_ = register_buffer("threshold", Tensor::full({1}, c.init_threshold, DType::f64));
}

Tensor Router::scores(const Tensor& h) const {
  SRA_CHECK(h.dim() == 3, "[router] hidden states must be (B, T, C), got ", shape_str(h.shape()));
  Tensor s = down_proj->forward(silu(up_proj->forward(norm->forward(h))));  // (B, T, 1)
  return s.squeeze(-1);
}

Tensor Router::decode_scores(const Tensor& h) const {
  SRA_CHECK(h.dim() == 3, "[router] hidden states must be (B, T, C), got ", shape_str(h.shape()));
  const Device dev = h.device();
  const DType dt = h.dtype();
  const bool fused = dev.is_cuda() && !grad_enabled() && autocast_dtype() != DType::bf16 &&
                     (dt == DType::f32 || dt == DType::f64) && up_proj->bias.defined() &&
                     down_proj->bias.defined() &&
                     kern::router_scores_fits_cuda(dt, h.size(2), up_proj->weight.size(0));
  if (!fused) return scores(h);
  for (const Tensor* p :
       {&norm->weight, &up_proj->weight, &up_proj->bias, &down_proj->weight, &down_proj->bias})
    SRA_CHECK(p->dtype() == dt && p->device() == dev && p->is_contiguous(), "[router] parameters must be ",
              dtype_name(dt), " on ", dev.str(), " like the hidden states");
  const int64_t B = h.size(0), T = h.size(1), C = h.size(2), hidden = up_proj->weight.size(0);
  Tensor x = h.contiguous();
  Tensor s = Tensor::empty({B, T}, dt, dev);
  kern::router_scores(
      dev, {dt, s.raw(), x.raw(), norm->weight.raw(), norm->eps(), up_proj->weight.raw(), up_proj->bias.raw(),
            down_proj->weight.raw(), down_proj->bias.raw(), B * T, C, hidden});
  return s;
}

double Router::threshold() const {
  return threshold_.item();
}

void Router::set_threshold(double theta) {
  SRA_CHECK(std::isfinite(theta), "[router] the threshold must be finite, got ", theta);
  threshold_.fill_(theta);
}

void Router::update_threshold(const Tensor& observed_ratio, const Tensor& quantile) {
  const bool toward = config_.threshold_update == "quantile";
  const Tensor& v = toward ? quantile : observed_ratio;
  SRA_CHECK(v.defined() && v.dtype() == DType::f64 && v.numel() == 1 && v.device() == threshold_.device(),
            "[router] update_threshold needs the ", toward ? "quantile" : "ratio", " as one f64 on ",
            threshold_.device().str());
  Tensor vc = v.contiguous();
  kern::threshold_step(threshold_.device(),
                       {static_cast<double*>(threshold_.raw()), static_cast<const double*>(vc.raw()),
                        config_.threshold_lr, toward, config_.target_ratio});
  threshold_.bump_version();
}

namespace {

// count(z ≠ 0) / numel as a 0-d f64 tensor on z's device (the count is exact in f64).
Tensor fraction_selected(const Tensor& z) {
  NoGradGuard g;
  if (z.numel() == 0) return Tensor::zeros({}, DType::f64, z.device());
  return div(sum(cast(gt(z, 0.0), DType::f64)), double(z.numel()));
}

}  // namespace

Selection Router::select(const Tensor& h, Generator& gen) const {
  Selection sel;
  sel.scores = scores(h);
  if (is_training()) {
    Tensor noise = logistic_noise(sel.scores.shape(), gen, sel.scores.dtype(), sel.scores.device());
    Tensor theta;
    {
      NoGradGuard g;
      theta = cast(threshold_, sel.scores.dtype());
    }
    // g = σ((s − θ)/τ + ℓ): z = 1[g > ½] ~ Bernoulli(σ((s − θ)/τ)), the RL policy at the same τ.
    sel.soft = sigmoid(add(mul(sub(sel.scores, theta), 1.0 / config_.temperature), noise));
    Tensor hard;
    {
      NoGradGuard g;
      sel.selected = gt(sel.soft, 0.5);
      hard = cast(sel.selected, sel.scores.dtype());
    }
    sel.gate = straight_through(hard, sel.soft);
    // u_j = s_j + τ·ℓ_j, compared with θ above; its (1 − ρ)-quantile is where θ would select ρ.
    if (config_.threshold_update == "quantile") {
      NoGradGuard g;
      const int64_t n = sel.scores.numel();
      if (n == 0) {
        sel.quantile = Tensor::zeros({}, DType::f64, sel.scores.device());
      } else {
        Tensor sc = sel.scores.contiguous(), nc = noise.contiguous();
        Tensor u = Tensor::empty(sc.shape(), DType::f64, sc.device());
        kern::perturbed_scores(sc.device(), {sc.dtype(), static_cast<double*>(u.raw()), sc.raw(), nc.raw(), n,
                                             config_.temperature});
        int64_t k = std::min(n - 1, int64_t(double(n) * (1.0 - config_.target_ratio)));
        sel.quantile = kth_smallest(u, k);
      }
    }
  } else {
    NoGradGuard g;
    sel.selected = gt(sub(cast(sel.scores, DType::f64), threshold_), 0.0);  // f64(s) > θ
    sel.gate = cast(sel.selected, sel.scores.dtype());
  }
  sel.ratio = fraction_selected(sel.selected);
  return sel;
}

Selection Router::forced_select(const Tensor& h, const Tensor& z) const {
  Selection sel;
  sel.scores = scores(h);
  SRA_CHECK(z.dtype() == DType::u8 && z.shape() == sel.scores.shape(), "[router] forced selection must be ",
            shape_str(sel.scores.shape()), " u8, got ", shape_str(z.shape()), " ", dtype_name(z.dtype()));
  NoGradGuard g;
  sel.selected = z;
  sel.gate = cast(z, sel.scores.dtype());
  sel.ratio = fraction_selected(z);
  return sel;
}

Tensor Router::budget_loss(const Selection& s) const {
  if (config_.budget_weight <= 0 || !s.soft.defined())
    return Tensor::zeros({}, s.scores.dtype(), s.scores.device());
  Tensor d = add(mean(s.soft), -config_.target_ratio);
  return mul(mul(d, d), config_.budget_weight);
}

}  // namespace sra
