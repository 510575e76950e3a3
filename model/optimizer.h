// AdamW with decoupled weight decay over named parameters (math in kernels/adamw/adamw.h).
// By default no decay on norms, embeddings and 1-D parameters (biases, norm gains).
// clip_grad_norm computes the global L2 norm of all gradients (fixed order, in double) and returns it;
// the optimizer applies the clip factor inside its update, so no extra pass over the gradients.
// Devices: the update and the squared sums run on the parameters' device (kernels/adamw dispatchers);
// the moments are allocated there when the optimizer is built, so move the model first
// (Module::to(device), then AdamW(model.named_parameters(), ...)); step() throws if a parameter moved
// since. grad_norm_and_scale leaves the global norm and the clip factor on the gradients' device and
// step(lr, scale tensor) reads the factor there, so a training step makes no host read; clip_grad_norm
// is the same with one host read (the pair as doubles).
// Sharded (ZeRO-1, train/zero.h): built with a range [begin, end) of each parameter's flattened elements,
// the optimizer keeps moments for that range only (1-D, end − begin elements) and updates only it, from
// the same range of the gradient, with the same per-element math (the kernel's expression); an empty range
// keeps nothing and updates nothing (zero_grad still clears the parameter's gradient).
// grad_sum_squares gives Σ g² over the ranges (a (1) f64 tensor on the gradients' device) and
// norm_and_scale turns a (global) Σ g² into grad_norm_and_scale's [norm, scale].
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "autograd/module.h"
#include "kernels/adamw/adamw.h"

namespace sra {

struct AdamWConfig {
  double lr = 3e-4;
  double beta1 = 0.9;
  double beta2 = 0.95;
  double eps = 1e-8;
  double weight_decay = 0.1;
  bool operator==(const AdamWConfig&) const = default;
};

// True for parameters that get weight decay: ≥ 2-D and not a norm or an embedding.
bool default_decays(const std::string& name, const Tensor& p);

struct ParamRange {  // elements [begin, end) of a parameter's flattened data
  int64_t begin = 0, end = 0;
};

class AdamW {
 public:
  AdamW(NamedTensors params, AdamWConfig cfg,
        std::function<bool(const std::string&, const Tensor&)> decays = default_decays);
  // Sharded: ranges[i] is the part of params[i] this optimizer owns (ranges.size() == params.size()).
  AdamW(NamedTensors params, AdamWConfig cfg, const std::vector<ParamRange>& ranges,
        std::function<bool(const std::string&, const Tensor&)> decays = default_decays);
  // One update with learning rate lr; gradients are scaled by grad_scale (1 = no clipping).
  // Parameters without a gradient are skipped.
  void step(double lr, double grad_scale = 1.0);
  // The same with the scale read on the device from grad_scale: one f64 element on the parameters'
  // device (e.g. element 1 of grad_norm_and_scale's result); the update is step(lr, that value)'s.
  void step(double lr, const Tensor& grad_scale);
  void zero_grad();
  int64_t steps() const { return t_; }
  const AdamWConfig& config() const { return cfg_; }
  // Optimizer state by parameter name ("<name>.exp_avg", "<name>.exp_avg_sq"), for checkpoints; sharded:
  // the owned ranges' moments (1-D), parameters with an empty range left out.
  NamedTensors state() const;
  // Σ g² over the owned elements of the parameters that have a gradient, in slot order: (1) f64 on their
  // device (on the first parameter's device, 0, when none has one).
  Tensor grad_sum_squares() const;
  void set_steps(int64_t t) { t_ = t; }

 private:
  struct Slot {
    std::string name;
    Tensor p, m, v;  // m, v: p's shape, or 1-D over [begin, end) when sharded
    bool decay;
    int64_t begin, end;
  };
  void update(double lr, double grad_scale, const Tensor* scale_dev);
  std::vector<Slot> slots_;
  AdamWConfig cfg_;
  int64_t t_ = 0;
};

// Global L2 norm of the gradients and the clip scale max_norm / (norm + 1e-12) when max_norm > 0 and
// norm > max_norm, else 1 (kern::clip_norm_scale): a (2) f64 tensor [norm, scale] on the gradients'
// device, computed there (no host read); [0, 1] on the first parameter's device when none has a gradient.
Tensor grad_norm_and_scale(const NamedTensors& params, double max_norm);
// [norm, scale] from Σ g² (a (1) f64 tensor), on its device: grad_norm_and_scale's second half.
Tensor norm_and_scale(const Tensor& sum_squares, double max_norm);
// The same read back to the host: {norm, scale}.
std::pair<double, double> clip_grad_norm(const NamedTensors& params, double max_norm);

}  // namespace sra
