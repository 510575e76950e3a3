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
    slots_.push_back({name, p, Tensor::zeros(p.shape(), p.dtype(), p.device()),
                      Tensor::zeros(p.shape(), p.dtype(), p.device()), decays(name, p)});
  }
}

void AdamW::step(double lr, double grad_scale) {
  ++t_;
  NoGradGuard g;
  for (Slot& s : slots_) {
    Tensor grad = s.p.grad();
    if (!grad.defined()) continue;
    SRA_CHECK(grad.device() == s.p.device(), "[adamw] gradient of ", s.name, " is on ", grad.device().str(),
              ", the parameter on ", s.p.device().str());
    SRA_CHECK(s.m.device() == s.p.device(), "[adamw] parameter ", s.name, " moved to ", s.p.device().str(),
              " after the optimizer was built (its state is on ", s.m.device().str(),
              "): move the model before constructing AdamW");
    Tensor gc = grad.contiguous();
    kern::AdamWStep st{lr,         cfg_.beta1, cfg_.beta2, cfg_.eps, s.decay ? cfg_.weight_decay : 0.0,
                       grad_scale, t_};
    kern::adamw(s.p.device(), {s.p.dtype(), s.p.raw(), gc.raw(), s.m.raw(), s.v.raw(), s.p.numel(), st});
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
  // acc and scratch live on the gradients' device, created with the first gradient.
  Tensor acc, scratch;
  for (auto& [name, p] : params) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    detail::require_float("clip_grad_norm", g, name.c_str());
    Device dev = g.device();
    if (!acc.defined()) {
      acc = Tensor::zeros({1}, DType::f64, dev);
      if (dev.is_cuda()) scratch = Tensor::empty({kern::kSumSquaresBlocks}, DType::f64, dev);
    }
    SRA_CHECK(dev == acc.device(), "[clip_grad_norm] gradient of ", name, " is on ", dev.str(),
              ", an earlier one on ", acc.device().str());
    Tensor gc = g.contiguous();
    kern::sum_squares(dev, {gc.dtype(), gc.raw(), gc.numel(), static_cast<double*>(acc.raw()),
                            scratch.defined() ? static_cast<double*>(scratch.raw()) : nullptr});
  }
  // The one host read of a step on CUDA: the norm decides the clip factor the update is given.
  double ss = acc.defined() ? acc.item() : 0.0;
  double norm = std::sqrt(ss);
  double scale = (max_norm > 0 && norm > max_norm) ? max_norm / (norm + 1e-12) : 1.0;
  return {norm, scale};
}

}  // namespace sra
