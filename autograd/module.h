// Module: a node of the model tree that owns named parameters, buffers and child modules.
// named_parameters() walks the tree and joins names with '.', giving Hugging Face style names such as
// "model.layers.0.self_attn.q_proj.weight" — the names the optimizer, checkpoints and the HF importer
// use. Buffers (e.g. running router thresholds) are state without gradients that checkpoints save.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace sra {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// Points a parameter's TensorImpl at a contiguous copy of its values cast to `dtype` (to bf16: rounded to
// nearest even), in place as Module::to moves one: its name, id and every handle to it stay valid. For
// frozen parameters only (t must not require a gradient and must have none). Not recorded on the tape.
void cast_in_place(const Tensor& t, DType dtype);

class Module {
 public:
  virtual ~Module() = default;

  NamedTensors named_parameters(const std::string& prefix = "") const;
  NamedTensors named_buffers(const std::string& prefix = "") const;
  std::vector<Tensor> parameters() const;
  int64_t num_parameters() const;
  void zero_grad();
  void train(bool on = true);  // recursively
  void eval() { train(false); }
  bool is_training() const { return training_; }
  // Looks a parameter or buffer up by its full name; throws "[module] no tensor named ..." when absent.
  Tensor find(const std::string& name) const;
  // Moves every parameter and buffer of the tree to `device`, in place: each keeps its TensorImpl (so its
  // name, id, requires_grad, leaf status and every handle to it, the modules' own members included, stay
  // valid) and gets a contiguous copy of its values on `device`; a gradient moves with it. Tensors
  // already there are untouched (to(its own device) is a no-op). Not recorded on the tape. Move the model
  // before building the optimizer (AdamW allocates its moments on the parameters' device) and before any
  // forward whose tape is still alive. Views sharing one storage become separate copies.
  void to(Device device);

 protected:
  Tensor register_parameter(const std::string& name, Tensor t);  // sets requires_grad
  Tensor register_buffer(const std::string& name, Tensor t);
  template <typename M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    check_name(name);
    children_.emplace_back(name, m);
    return m;
  }

 private:
  void check_name(const std::string& name) const;
  void collect(const std::string& prefix, bool params, NamedTensors& out) const;

  NamedTensors params_;
  NamedTensors buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

}  // namespace sra
