#include "model/optimizer.h"

#include <cmath>

#include "autograd/ops/common.h"

namespace sra {

bool default_decays(const std::string& name, const Tensor& p) {
  if (p.dim() < 2) return false;
  return name.find("norm") == std::string::npos && name.find("embed") == std::string::npos;
}

AdamW::AdamW(NamedTensors params, AdamWConfig cfg,
             std::function<bool(const std::string&, const Tensor&)> decays)
    : cfg_(cfg) {
  SRA_CHECK(cfg.lr >= 0 && cfg.beta1 >= 0 && cfg.beta1 < 1 && cfg.beta2 >= 0 && cfg.beta2 < 1 &&
                cfg.eps > 0 && cfg.weight_decay >= 0,
            "[adamw] invalid hyper-parameters (need lr ≥ 0, 0 ≤ β < 1, eps > 0, weight_decay ≥ 0)");
  for (auto& [name, p] : params) {
    detail::require_float("adamw", p, name.c_str());
    SRA_CHECK(p.is_contiguous(), "[adamw] parameter ", name, " is not contiguous");
    slots_.push_back(
        {name, p, Tensor::zeros(p.shape(), p.dtype()), Tensor::zeros(p.shape(), p.dtype()), decays(name, p)});
  }
}

void AdamW::step(double lr, double grad_scale) {
  ++t_;
  NoGradGuard g;
  for (Slot& s : slots_) {
    Tensor grad = s.p.grad();
    if (!grad.defined()) continue;
    Tensor gc = grad.contiguous();
    kern::AdamWStep st{lr,         cfg_.beta1, cfg_.beta2, cfg_.eps, s.decay ? cfg_.weight_decay : 0.0,
                       grad_scale, t_};
    detail::dispatch_float(s.p.dtype(), "adamw", [&](auto tag) {
      using T = decltype(tag);
      kern::adamw_cpu<T>(s.p.data<T>(), gc.data<T>(), s.m.data<T>(), s.v.data<T>(), s.p.numel(), st);
    });
    s.p.bump_version();
  }
}

void AdamW::zero_grad() {
  for (Slot& s : slots_) s.p.zero_grad();
}

NamedTensors AdamW::state() const {
  NamedTensors out;
  for (const Slot& s : slots_) {
    out.emplace_back(s.name + ".exp_avg", s.m);
    out.emplace_back(s.name + ".exp_avg_sq", s.v);
  }
  return out;
}

std::pair<double, double> clip_grad_norm(const NamedTensors& params, double max_norm) {
  double ss = 0;
  for (auto& [name, p] : params) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    Tensor gc = g.contiguous();
    ss += detail::dispatch_float(gc.dtype(), "clip_grad_norm", [&](auto tag) {
      using T = decltype(tag);
      return kern::sum_squares_cpu<T>(gc.data<T>(), gc.numel());
    });
  }
  double norm = std::sqrt(ss);
  double scale = (max_norm > 0 && norm > max_norm) ? max_norm / (norm + 1e-12) : 1.0;
  return {norm, scale};
}

}  // namespace sra
