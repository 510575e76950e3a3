#include "model/optimizer.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <vector>

#include "autograd/ops/common.h"

namespace sra {

bool default_decays(const std::string& name, const Tensor& p) {
  if (p.dim() < 2) return false;
  return name.find("norm") == std::string::npos && name.find("embed") == std::string::npos;
}

namespace {

const char* at(const Tensor& t, int64_t element) {
  return static_cast<const char*>(t.raw()) + element * int64_t(dtype_size(t.dtype()));
}
char* at(Tensor& t, int64_t element) {
  return static_cast<char*>(t.raw()) + element * int64_t(dtype_size(t.dtype()));
}

std::vector<ParamRange> whole(const NamedTensors& params) {
  std::vector<ParamRange> r;
  for (const auto& [name, p] : params) r.push_back({0, p.numel()});
  return r;
}

// One gradient's elements [begin, end) for the squared sum.
struct SquaresPart {
  std::string name;
  Tensor g;  // contiguous
  int64_t begin, end;
};

// Σ g² over the parts in order, as a (1) f64 tensor on their device (`dev` when there are none): one
// sum_squares_multi per run of parts of one dtype, the same bits as one sum_squares per part.
Tensor sum_squares_of(const std::vector<SquaresPart>& parts, Device dev) {
  if (!parts.empty()) dev = parts[0].g.device();
  for (const SquaresPart& p : parts) {
    detail::require_float("clip_grad_norm", p.g, p.name.c_str());
    SRA_CHECK(p.g.device() == dev, "[clip_grad_norm] gradient of ", p.name, " is on ", p.g.device().str(),
              ", an earlier one on ", dev.str());
  }
  Tensor acc = Tensor::zeros({1}, DType::f64, dev), scratch;
  std::vector<kern::SumSquaresTensor> all;
  for (const SquaresPart& p : parts) all.push_back({at(p.g, p.begin), p.end - p.begin});
  if (dev.is_cuda())
    scratch = Tensor::empty(
        {std::max<int64_t>(1, kern::sum_squares_multi_scratch(all.data(), int64_t(all.size())))}, DType::f64,
        dev);
  auto* scratch_p = scratch.defined() ? static_cast<double*>(scratch.raw()) : nullptr;
  for (size_t i = 0; i < parts.size();) {
    size_t j = i;
    while (j < parts.size() && parts[j].g.dtype() == parts[i].g.dtype()) ++j;
    kern::sum_squares_multi(dev, {parts[i].g.dtype(), all.data() + i, int64_t(j - i),
                                  static_cast<double*>(acc.raw()), scratch_p});
    i = j;
  }
  return acc;
}

}  // namespace

AdamW::AdamW(NamedTensors params, AdamWConfig cfg,
             std::function<bool(const std::string&, const Tensor&)> decays)
    : AdamW(params, cfg, whole(params), std::move(decays)) {
  for (Slot& s : slots_) {  // unsharded: the moments in the parameter's shape (checkpoints)
    s.m = s.m.view(s.p.shape());
    s.v = s.v.view(s.p.shape());
  }
}

AdamW::AdamW(NamedTensors params, AdamWConfig cfg, const std::vector<ParamRange>& ranges,
             std::function<bool(const std::string&, const Tensor&)> decays)
    : cfg_(cfg) {
  SRA_CHECK(ranges.size() == params.size(), "[adamw] ", ranges.size(), " ranges for ", params.size(),
            " parameters");
  SRA_CHECK(cfg.lr >= 0 && cfg.beta1 >= 0 && cfg.beta1 < 1 && cfg.beta2 >= 0 && cfg.beta2 < 1 &&
                cfg.eps > 0 && cfg.weight_decay >= 0,
            "[adamw] invalid hyper-parameters (need lr ≥ 0, 0 ≤ β < 1, eps > 0, weight_decay ≥ 0)");
  for (size_t i = 0; i < params.size(); ++i) {
    const auto& [name, p] = params[i];
    const ParamRange r = ranges[i];
    detail::require_float("adamw", p, name.c_str());
    SRA_CHECK(p.is_contiguous(), "[adamw] parameter ", name, " is not contiguous");
    SRA_CHECK(0 <= r.begin && r.begin <= r.end && r.end <= p.numel(), "[adamw] range [", r.begin, ", ", r.end,
              ") of ", name, " is outside its ", p.numel(), " elements");
    slots_.push_back({name, p, Tensor::zeros({r.end - r.begin}, p.dtype(), p.device()),
                      Tensor::zeros({r.end - r.begin}, p.dtype(), p.device()), decays(name, p), r.begin,
                      r.end});
  }
}

void AdamW::step(double lr, double grad_scale) {
  update(lr, grad_scale, nullptr);
}

void AdamW::step(double lr, const Tensor& grad_scale) {
  SRA_CHECK(grad_scale.defined() && grad_scale.dtype() == DType::f64 && grad_scale.numel() == 1,
            "[adamw] the gradient scale must be one f64 element");
  update(lr, 1.0, &grad_scale);
}

void AdamW::update(double lr, double grad_scale, const Tensor* scale_dev) {
  ++t_;
  NoGradGuard g;
  // consecutive parameters of one device and dtype are updated by one adamw_multi call (one launch per
  // kern::kAdamWMultiTensors tensors on CUDA)
  const kern::AdamWStep st{lr, cfg_.beta1, cfg_.beta2, cfg_.eps, 0.0, grad_scale, t_};
  const double* sd = scale_dev ? static_cast<const double*>(scale_dev->raw()) : nullptr;
  std::vector<kern::AdamWTensor> batch;
  std::vector<Tensor> grads;
  grads.reserve(slots_.size());
  std::optional<Device> dev;
  DType dtype = DType::f32;
  auto flush = [&] {
    if (!batch.empty()) kern::adamw_multi(*dev, {dtype, batch.data(), int64_t(batch.size()), st, sd});
    batch.clear();
  };
  for (Slot& s : slots_) {
    Tensor grad = s.p.grad();
    if (!grad.defined() || s.begin == s.end) continue;
    SRA_CHECK(grad.device() == s.p.device(), "[adamw] gradient of ", s.name, " is on ", grad.device().str(),
              ", the parameter on ", s.p.device().str());
    SRA_CHECK(s.m.device() == s.p.device(), "[adamw] parameter ", s.name, " moved to ", s.p.device().str(),
              " after the optimizer was built (its state is on ", s.m.device().str(),
              "): move the model before constructing AdamW");
    SRA_CHECK(!scale_dev || scale_dev->device() == s.p.device(), "[adamw] the gradient scale is on ",
              scale_dev ? scale_dev->device().str() : "", ", the parameter ", s.name, " on ",
              s.p.device().str());
    grads.push_back(grad.contiguous());  // held until the launch
    const Tensor& gc = grads.back();
    if (dev && *dev != s.p.device()) flush();
    dev = s.p.device();
    if (dtype != s.p.dtype()) flush();
    dtype = s.p.dtype();
    batch.push_back({at(s.p, s.begin), at(gc, s.begin), s.m.raw(), s.v.raw(), s.end - s.begin,
                     s.decay ? cfg_.weight_decay : 0.0});
    s.p.bump_version();
  }
  flush();
}

void AdamW::zero_grad() {
  for (Slot& s : slots_) s.p.zero_grad();
}

NamedTensors AdamW::state() const {
  NamedTensors out;
  for (const Slot& s : slots_) {
    if (s.begin == s.end && s.p.numel() > 0) continue;  // sharded: nothing of this parameter here
    out.emplace_back(s.name + ".exp_avg", s.m);
    out.emplace_back(s.name + ".exp_avg_sq", s.v);
  }
  return out;
}

Tensor AdamW::grad_sum_squares() const {
  std::vector<SquaresPart> parts;
  for (const Slot& s : slots_) {
    Tensor g = s.p.grad();
    if (!g.defined() || s.begin == s.end) continue;
    parts.push_back({s.name, g.contiguous(), s.begin, s.end});
  }
  return sum_squares_of(parts, slots_.empty() ? Device::cpu() : slots_[0].p.device());
}

Tensor grad_norm_and_scale(const NamedTensors& params, double max_norm) {
  // Σ g² on the gradients' device (no gradient: Σ g² = 0, so [0, 1])
  std::vector<SquaresPart> parts;
  for (auto& [name, p] : params) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    parts.push_back({name, g.contiguous(), 0, g.numel()});
  }
  return norm_and_scale(sum_squares_of(parts, params.empty() ? Device::cpu() : params[0].second.device()),
                        max_norm);
}

Tensor norm_and_scale(const Tensor& sum_squares, double max_norm) {
  SRA_CHECK(sum_squares.dtype() == DType::f64 && sum_squares.numel() == 1 && sum_squares.is_contiguous(),
            "[clip_grad_norm] Σ g² must be one f64 element");
  Tensor out = Tensor::empty({2}, DType::f64, sum_squares.device());
  kern::clip_scale(sum_squares.device(), {static_cast<const double*>(sum_squares.raw()), max_norm,
                                          static_cast<double*>(out.raw())});
  return out;
}

std::pair<double, double> clip_grad_norm(const NamedTensors& params, double max_norm) {
  // The one host read of a step that clips this way: the norm and the factor.
  const std::vector<double> v = grad_norm_and_scale(params, max_norm).to_vector<double>();
  return {v[0], v[1]};
}

}  // namespace sra
