#include "model/router.h"

#include <algorithm>
#include <cmath>

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

double Router::threshold() const {
  return threshold_.data<double>()[0];
}

void Router::set_threshold(double theta) {
  SRA_CHECK(std::isfinite(theta), "[router] the threshold must be finite, got ", theta);
  threshold_.data<double>()[0] = theta;
  threshold_.bump_version();
}

void Router::update_threshold(double observed_ratio, double quantile) {
  double& theta = threshold_.data<double>()[0];
  if (config_.threshold_update == "quantile") {
    theta += config_.threshold_lr * (quantile - theta);
  } else {
    theta += config_.threshold_lr * (observed_ratio - config_.target_ratio);
  }
  threshold_.bump_version();
}

Selection Router::select(const Tensor& h, Generator& gen) const {
  Selection sel;
  sel.scores = scores(h);
  const double theta = threshold();
  if (is_training()) {
    Tensor noise = logistic_noise(sel.scores.shape(), gen, sel.scores.dtype(), sel.scores.device());
    // g = σ((s − θ)/τ + ℓ): z = 1[g > ½] ~ Bernoulli(σ((s − θ)/τ)), the RL policy at the same τ.
    sel.soft = sigmoid(add(mul(add(sel.scores, -theta), 1.0 / config_.temperature), noise));
    Tensor hard;
    {
      NoGradGuard g;
      sel.selected = gt(sel.soft, 0.5);
      hard = cast(sel.selected, sel.scores.dtype());
    }
    sel.gate = straight_through(hard, sel.soft);
    // u_j = s_j + τ·ℓ_j, compared with θ above; its (1 − ρ)-quantile is where θ would select ρ.
    if (config_.threshold_update == "quantile" && sel.scores.numel() > 0) {
      std::vector<double> u = cast(sel.scores, DType::f64).to_vector<double>();
      const std::vector<double> l = cast(noise, DType::f64).to_vector<double>();
      for (size_t i = 0; i < u.size(); ++i) u[i] += config_.temperature * l[i];
      size_t k = std::min(u.size() - 1, size_t(double(u.size()) * (1.0 - config_.target_ratio)));
      std::nth_element(u.begin(), u.begin() + std::ptrdiff_t(k), u.end());
      sel.quantile = u[k];
    }
  } else {
    NoGradGuard g;
    sel.selected = gt(sel.scores, theta);
    sel.gate = cast(sel.selected, sel.scores.dtype());
  }
  const std::vector<uint8_t> z = sel.selected.to_vector<uint8_t>();
  int64_t n = 0;
  for (uint8_t v : z) n += v;
  sel.ratio = z.empty() ? 0.0 : double(n) / double(z.size());
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
  const std::vector<uint8_t> v = z.to_vector<uint8_t>();
  int64_t n = 0;
  for (uint8_t x : v) n += x != 0;
  sel.ratio = v.empty() ? 0.0 : double(n) / double(v.size());
  return sel;
}

Tensor Router::budget_loss(const Selection& s) const {
  if (config_.budget_weight <= 0 || !s.soft.defined()) return Tensor::zeros({}, s.scores.dtype());
  Tensor d = add(mean(s.soft), -config_.target_ratio);
  return mul(mul(d, d), config_.budget_weight);
}

}  // namespace sra
