// Tape-based reverse-mode autograd.
//
// Each differentiable op that sees an input with requires_grad (and grad mode on) appends a Node to
// the thread-local tape: its inputs, the ids of its outputs, the tensors it saved (with their storage
// versions) and a backward closure written right under the forward in autograd/ops/*.cpp.
// backward(loss) walks the tape in reverse: grad_out of each node → closure → grads of its inputs,
// summed where a tensor feeds several ops; leaves accumulate into .grad with += (micro-batches add up).
// Saved tensors are freed as each node runs unless retain_graph; a saved tensor whose storage was
// written in place since it was saved raises an error naming the op.
// on_leaf_ready (data parallel: start a gradient bucket's all-reduce during the backward) is called once per
// leaf that requires grad and is an input of a node on the tape, as soon as the walk has passed the
// earliest such node: that leaf's .grad gets nothing more from this backward. Called in walk order on
// the calling thread; leaves no node takes are not reported.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace sra {

using BackwardFn = std::function<std::vector<Tensor>(const std::vector<Tensor>& grad_outputs)>;

struct Node {
  const char* op = "";
  std::vector<Tensor> inputs;        // grads flow to those with requires_grad
  std::vector<uint64_t> output_ids;  // TensorImpl ids of the outputs
  std::vector<Shape> output_shapes;
  std::vector<DType> output_dtypes;
  std::vector<Device> output_devices;
  std::vector<Tensor> saved;  // checked against saved_versions before backward
  std::vector<uint64_t> saved_versions;
  BackwardFn backward;
};

// Grad mode: on by default; NoGradGuard turns recording off for its scope (thread-local).
bool grad_enabled();
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};

// True when grad mode is on and some input requires grad: the op must record.
bool needs_grad(const std::vector<Tensor>& inputs);

// Records a node: marks outputs requires_grad / non-leaf, remembers saved tensors' versions.
// `saved` lists the tensors the closure captured that must not change before backward.
void record(const char* op, const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs,
            const std::vector<Tensor>& saved, BackwardFn backward);

using LeafReadyFn = std::function<void(const Tensor& leaf)>;

// Reverse pass from `root` (a scalar unless `grad` is given, shaped like root).
void backward(const Tensor& root, const Tensor& grad = Tensor(), bool retain_graph = false,
              const LeafReadyFn& on_leaf_ready = {});

size_t tape_size();  // nodes on this thread's tape
void tape_clear();   // drops every node (and what it saved)

// Reduces a broadcast gradient back to `shape` (sums the broadcast dims).
Tensor sum_to(const Tensor& g, const Shape& shape);

}  // namespace sra
