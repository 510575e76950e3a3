#include "autograd/module.h"

#include "autograd/ops.h"
#include "autograd/tape.h"
#include "core/check.h"

namespace sra {

void Module::check_name(const std::string& name) const {
  SRA_CHECK(!name.empty() && name.find('.') == std::string::npos, "[module] invalid name '", name, "'");
  for (const auto& [n, t] : params_) SRA_CHECK(n != name, "[module] name '", name, "' registered twice");
  for (const auto& [n, t] : buffers_) SRA_CHECK(n != name, "[module] name '", name, "' registered twice");
  for (const auto& [n, m] : children_) SRA_CHECK(n != name, "[module] name '", name, "' registered twice");
}

Tensor Module::register_parameter(const std::string& name, Tensor t) {
  check_name(name);
  t.set_requires_grad(true);
  params_.emplace_back(name, t);
  return t;
}

Tensor Module::register_buffer(const std::string& name, Tensor t) {
  check_name(name);
  buffers_.emplace_back(name, t);
  return t;
}

void Module::collect(const std::string& prefix, bool params, NamedTensors& out) const {
  for (const auto& [n, t] : params ? params_ : buffers_) out.emplace_back(prefix + n, t);
  for (const auto& [n, m] : children_) m->collect(prefix + n + ".", params, out);
}

NamedTensors Module::named_parameters(const std::string& prefix) const {
  NamedTensors out;
  collect(prefix.empty() ? "" : prefix + ".", true, out);
  return out;
}

NamedTensors Module::named_buffers(const std::string& prefix) const {
  NamedTensors out;
  collect(prefix.empty() ? "" : prefix + ".", false, out);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [n, t] : named_parameters()) out.push_back(t);
  return out;
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (auto& [name, t] : named_parameters()) n += t.numel();
  return n;
}

void Module::zero_grad() {
  for (auto& [n, t] : named_parameters()) t.zero_grad();
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [n, m] : children_) m->train(on);
}

namespace {
// Points t's TensorImpl at c's memory, layout and dtype (c has t's shape); its id and flags stay.
void point_at(const Tensor& t, const Tensor& c) {
  TensorImpl* impl = t.impl();
  impl->storage = c.storage();
  impl->strides = c.strides();
  impl->offset = c.offset();
  impl->dtype = c.dtype();
}

// Points t's TensorImpl at a contiguous copy of its values on `device`.
void move_in_place(const Tensor& t, Device device) {
  if (t.device() == device) return;
  point_at(t, t.to(device));
  if (t.impl()->grad) t.impl()->grad = t.grad().to(device).impl_ptr();
}
}  // namespace

void cast_in_place(const Tensor& t, DType dtype) {
  SRA_CHECK(!t.requires_grad() && !t.grad().defined(),
            "[module] cast_in_place of a tensor that trains (requires_grad or a gradient)");
  if (t.dtype() == dtype) return;
  Tensor c;
  {
    NoGradGuard g;
    c = contiguous(cast(t, dtype));
  }
  point_at(t, c);
}

void Module::to(Device device) {
  for (auto& [n, t] : params_) move_in_place(t, device);
  for (auto& [n, t] : buffers_) move_in_place(t, device);
  for (auto& [n, m] : children_) m->to(device);
}

Tensor Module::find(const std::string& name) const {
  for (auto& [n, t] : named_parameters())
    if (n == name) return t;
  for (auto& [n, t] : named_buffers())
    if (n == name) return t;
  throw Error("[module] no parameter or buffer named '" + name + "'");
}

}  // namespace sra
