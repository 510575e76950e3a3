// Bucketed gradient averaging, router-threshold averaging and the start-of-job broadcast (see
// train/grad_sync.h).
#include "train/grad_sync.h"

#include <algorithm>

#include "core/check.h"

namespace sra {

std::vector<GradBucket> make_grad_buckets(const NamedTensors& params, int64_t bucket_bytes, int chunks) {
  SRA_ASSERT(chunks >= 1);
  std::vector<GradBucket> buckets;
  int64_t bytes = 0;
  for (const auto& [name, p] : params) {
    const int64_t pb = p.numel() * int64_t(dtype_size(p.dtype()));
    const bool fits = !buckets.empty() && bytes + pb <= bucket_bytes &&
                      buckets.back().params.front().dtype() == p.dtype() &&
                      buckets.back().params.front().device() == p.device();
    if (!fits) {
      buckets.emplace_back();
      bytes = 0;
    }
    GradBucket& b = buckets.back();
    b.offsets.push_back(bytes / int64_t(dtype_size(p.dtype())));
    b.names.push_back(name);
    b.params.push_back(p);
    bytes += pb;
  }
  for (GradBucket& b : buckets) {
    const Tensor& last = b.params.back();
    b.numel = b.offsets.back() + last.numel();
    const int64_t padded = (b.numel + chunks - 1) / chunks * chunks;
    b.flat = Tensor::zeros({padded}, last.dtype(), last.device());
  }
  return buckets;
}

GradSync::GradSync(const NamedTensors& params, dist::Communicator& comm, int64_t bucket_bytes)
    : comm_(comm), buckets_(make_grad_buckets(params, bucket_bytes)) {
  for (size_t k = 0; k < buckets_.size(); ++k)
    for (const Tensor& p : buckets_[k].params) bucket_of_[p.id()] = k;
  in_place_ = comm_.grouped_in_place();
  for (const GradBucket& b : buckets_) in_place_ = in_place_ && b.params.front().device().is_cuda();
  if (in_place_)
    for (GradBucket& b : buckets_) b.flat = Tensor();  // never packed
}

void GradSync::pack(GradBucket& b) {
  for (size_t i = 0; i < b.params.size(); ++i) {
    Tensor slot = b.flat.narrow(0, b.offsets[i], b.params[i].numel());
    Tensor g = b.params[i].grad();
    if (g.defined()) {
      slot.copy_(g.reshape({-1}));
    } else {
      slot.zero_();
    }
  }
}

void GradSync::unpack(GradBucket& b, bool mean) {
  const int world = comm_.world_size();
  if (mean && world > 1) b.flat.mul_(1.0 / double(world));
  for (size_t i = 0; i < b.params.size(); ++i) {
    Tensor g = b.params[i].grad();
    if (g.defined()) g.copy_(b.flat.narrow(0, b.offsets[i], b.params[i].numel()).view(g.shape()));
  }
}

void GradSync::launch(size_t k, const std::string& what) {
  const std::string name = "gradient bucket " + std::to_string(k) + " of " + what;
  GradBucket& b = buckets_[k];
  if (!in_place_) {
    pack(b);
    return comm_.all_reduce_sum_async(b.flat, name);
  }
  std::vector<Tensor> grads;
  for (const Tensor& p : b.params) {
    Tensor g = p.grad();
    SRA_ASSERT(!g.defined() || g.is_contiguous(), "a gradient that is not contiguous");
    if (!g.defined()) {  // zeros in the collective, not kept (as pack does)
      g = Tensor::zeros(p.shape(), p.dtype(), p.device());
      zeros_.push_back(g);
    }
    grads.push_back(g);
  }
  comm_.all_reduce_group_async(grads, mean_, name);
}

// Buckets start in descending order (the backward reaches the last parameters first), each once all its
// parameters were reported: an order that does not depend on the tape, so the ranks' collectives match
// even if their tapes differ.
LeafReadyFn GradSync::overlap_hook(const std::string& what, bool mean) {
  waiting_.assign(buckets_.size(), 0);
  for (size_t k = 0; k < buckets_.size(); ++k) waiting_[k] = int(buckets_[k].params.size());
  next_ = int64_t(buckets_.size()) - 1;
  overlapping_ = true;
  mean_ = mean;
  if (comm_.world_size() == 1 && comm_.backend() != "nccl") return {};  // reduce() does nothing either
  return [this, what](const Tensor& leaf) {
    auto it = bucket_of_.find(leaf.id());
    if (it == bucket_of_.end()) return;  // not a trained parameter
    --waiting_[it->second];
    while (next_ >= 0 && waiting_[size_t(next_)] == 0) launch(size_t(next_--), what);
  };
}

void GradSync::finish(const std::string& what) {
  SRA_ASSERT(overlapping_, "GradSync::finish without overlap_hook");
  overlapping_ = false;
  if (comm_.world_size() == 1 && comm_.backend() != "nccl") return;
  while (next_ >= 0) launch(size_t(next_--), what);  // those with a parameter the tape never reached
  comm_.wait_async();
  zeros_.clear();  // the current stream waits for the collectives that read them
  if (!in_place_)
    for (GradBucket& b : buckets_) unpack(b, mean_);
}

void GradSync::reduce(const std::string& what, bool mean) {
  if (comm_.world_size() == 1 && comm_.backend() != "nccl") return;  // nothing to average (nccl: measured)
  if (in_place_) {  // the overlapped path's collectives, started here at once
    overlap_hook(what, mean);
    return finish(what);
  }
  for (size_t k = 0; k < buckets_.size(); ++k) {
    GradBucket& b = buckets_[k];
    pack(b);
    comm_.all_reduce_sum(b.flat, "gradient bucket " + std::to_string(k) + " of " + what);
    unpack(b, mean);
  }
}

void average_router_thresholds(Transformer& model, dist::Communicator& comm, const std::string& what) {
  if (comm.world_size() == 1) return;
  // one collective for all thresholds: packed in layer order (a shared router once), summed, divided
  std::vector<Router*> order;
  for (Router* r : model.sra_routers())
    if (std::find(order.begin(), order.end(), r) == order.end()) order.push_back(r);
  if (order.empty()) return;
  const Device dev = order.front()->threshold_tensor().device();
  Tensor packed = Tensor::empty({int64_t(order.size())}, DType::f64, dev);
  for (size_t i = 0; i < order.size(); ++i)
    packed.narrow(0, int64_t(i), 1).copy_(order[i]->threshold_tensor());
  comm.all_reduce_sum(packed, "router thresholds of " + what);
  packed.mul_(1.0 / double(comm.world_size()));
  for (size_t i = 0; i < order.size(); ++i) {
    Tensor t = order[i]->threshold_tensor();
    t.copy_(packed.narrow(0, int64_t(i), 1));
  }
}

void broadcast_state(Module& module, dist::Communicator& comm) {
  if (comm.world_size() == 1) return;
  for (const NamedTensors& group : {module.named_parameters(), module.named_buffers()}) {
    for (const auto& [name, t] : group) {
      if (!t.is_contiguous()) continue;  // a view of another tensor (the same code made it on every rank)
      Tensor x = t;
      comm.broadcast(x, "initial state " + name);
    }
  }
}

}  // namespace sra
