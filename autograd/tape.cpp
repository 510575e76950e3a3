#include "autograd/tape.h"

#include <unordered_map>

#include "autograd/ops.h"

namespace sra {

namespace {
thread_local bool t_grad_enabled = true;
thread_local std::vector<std::unique_ptr<Node>> t_tape;
}  // namespace

bool grad_enabled() {
  return t_grad_enabled;
}
NoGradGuard::NoGradGuard() : prev_(t_grad_enabled) {
  t_grad_enabled = false;
}
NoGradGuard::~NoGradGuard() {
  t_grad_enabled = prev_;
}

bool needs_grad(const std::vector<Tensor>& inputs) {
  if (!t_grad_enabled) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

void record(const char* op, const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs,
            const std::vector<Tensor>& saved, BackwardFn backward) {
  auto node = std::make_unique<Node>();
  node->op = op;
  node->inputs = inputs;
  for (const Tensor& o : outputs) {
    SRA_ASSERT(o.defined());
    if (is_floating(o.dtype())) {
      o.impl()->requires_grad = true;
      o.impl()->is_leaf = false;
    }
    node->output_ids.push_back(o.id());
    node->output_shapes.push_back(o.shape());
    node->output_dtypes.push_back(o.dtype());
    node->output_devices.push_back(o.device());
  }
  for (const Tensor& s : saved) {
    node->saved.push_back(s);
    node->saved_versions.push_back(s.version());
  }
  node->backward = std::move(backward);
  t_tape.push_back(std::move(node));
}

size_t tape_size() {
  return t_tape.size();
}
void tape_clear() {
  t_tape.clear();
}

Tensor sum_to(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  int64_t lead = g.dim() - int64_t(shape.size());
  SRA_ASSERT(lead >= 0, "sum_to ", shape_str(g.shape()), " -> ", shape_str(shape));
  std::vector<int64_t> dims;
  for (int64_t d = 0; d < g.dim(); ++d) {
    if (d < lead || (shape[d - lead] == 1 && g.size(d) != 1)) dims.push_back(d);
  }
  Tensor r = dims.empty() ? g : sum(g, dims, /*keepdim=*/true);
  return r.reshape(shape);
}

namespace {

// ready[i]: the leaves whose earliest node on the tape is node i (on_leaf_ready fires after node i).
std::vector<std::vector<Tensor>> leaves_by_first_use() {
  std::vector<std::vector<Tensor>> ready(t_tape.size());
  std::unordered_map<uint64_t, size_t> seen;
  for (size_t i = 0; i < t_tape.size(); ++i)
    for (const Tensor& in : t_tape[i]->inputs)
      if (in.defined() && in.is_leaf() && in.requires_grad() && seen.emplace(in.id(), i).second)
        ready[i].push_back(in);
  return ready;
}

}  // namespace

void backward(const Tensor& root, const Tensor& grad, bool retain_graph, const LeafReadyFn& on_leaf_ready) {
  SRA_CHECK(root.defined(), "[backward] undefined tensor");
  SRA_CHECK(root.requires_grad(), "[backward] the tensor does not require grad (no recorded op leads to it)");
  Tensor seed = grad;
  if (!seed.defined()) {
    SRA_CHECK(root.numel() == 1, "[backward] implicit gradient needs a scalar, got shape ",
              shape_str(root.shape()), "; pass grad");
    seed = Tensor::ones(root.shape(), root.dtype(), root.device());
  }
  SRA_CHECK(seed.shape() == root.shape(), "[backward] grad shape ", shape_str(seed.shape()),
            " does not match ", shape_str(root.shape()));

  NoGradGuard no_grad;
  auto accumulate_leaf = [](const Tensor& leaf, const Tensor& g) {
    if (!leaf.requires_grad()) return;
    Tensor cur = leaf.grad();
    if (!cur.defined()) {
      // A gradient that nothing else holds (a fresh dense result: the op's closure, the other inputs'
      // gradients and the grads map hold none of it) becomes the leaf's .grad as it is; anything else is
      // cloned, so that accumulating into .grad later never writes into another tensor's memory.
      const bool alone = g.dtype() == leaf.dtype() && g.impl_ptr().use_count() == 1 &&
                         g.storage().use_count() == 1 && g.offset() == 0 && g.is_contiguous();
      leaf.impl()->grad = alone ? g.impl_ptr() : g.to(leaf.dtype()).clone().impl_ptr();
    } else {
      cur.add_(g);
    }
  };
  if (root.is_leaf()) {
    accumulate_leaf(root, seed);
    return;
  }
  bool on_tape = false;
  for (const auto& n : t_tape)
    for (uint64_t id : n->output_ids) on_tape = on_tape || id == root.id();
  SRA_CHECK(on_tape,
            "[backward] no recorded graph leads to this tensor: it was consumed by an earlier "
            "backward (pass retain_graph=true to the first call) or recorded on another thread");
  std::unordered_map<uint64_t, Tensor> grads;
  grads[root.id()] = seed;
  std::vector<std::vector<Tensor>> ready;
  if (on_leaf_ready) ready = leaves_by_first_use();
  auto report = [&](int64_t i) {  // after node i (run or skipped)
    if (on_leaf_ready && i < int64_t(ready.size()))
      for (const Tensor& leaf : ready[size_t(i)]) on_leaf_ready(leaf);
  };

  for (int64_t i = int64_t(t_tape.size()) - 1; i >= 0; --i) {
    report(i + 1);
    Node& node = *t_tape[i];
    std::vector<Tensor> gout(node.output_ids.size());
    bool any = false;
    for (size_t k = 0; k < gout.size(); ++k) {
      auto it = grads.find(node.output_ids[k]);
      if (it != grads.end()) {
        gout[k] = it->second;
        grads.erase(it);
        any = true;
      }
    }
    if (!any) continue;
    SRA_CHECK(node.backward, "[backward] the graph through '", node.op,
              "' was already freed by an earlier backward; pass retain_graph=true to the first call");
    for (size_t k = 0; k < node.saved.size(); ++k) {
      SRA_CHECK(node.saved[k].version() == node.saved_versions[k], "[backward] a tensor saved by '", node.op,
                "' was modified in place after it was saved (version ", node.saved[k].version(),
                ", expected ", node.saved_versions[k], ")");
    }
    for (size_t k = 0; k < gout.size(); ++k) {
      if (!gout[k].defined())
        gout[k] = Tensor::zeros(node.output_shapes[k], node.output_dtypes[k], node.output_devices[k]);
    }
    std::vector<Tensor> gin = node.backward(gout);
    SRA_ASSERT(gin.size() == node.inputs.size(), "op ", node.op);
    for (size_t k = 0; k < gin.size(); ++k) {
      const Tensor& in = node.inputs[k];
      if (!gin[k].defined() || !in.defined() || !in.requires_grad()) continue;
      SRA_ASSERT(gin[k].shape() == in.shape(), "op ", node.op, " input ", k, ": grad ",
                 shape_str(gin[k].shape()), " vs ", shape_str(in.shape()));
      if (in.is_leaf()) {
        accumulate_leaf(in, gin[k]);
        continue;
      }
      auto it = grads.find(in.id());
      if (it == grads.end()) {
        grads.emplace(in.id(), gin[k]);
      } else {
        it->second = add(it->second, gin[k]);
      }
    }
    if (!retain_graph) {
      node.backward = nullptr;
      node.saved.clear();
      node.inputs.clear();
    }
  }
  report(0);
  if (!retain_graph) t_tape.clear();
}

}  // namespace sra
