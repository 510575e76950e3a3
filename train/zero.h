// ZeRO-1 (distributed.zero: 1): the AdamW state sharded across the ranks of a data-parallel job.
//
// Layout: the trainable parameters are cut into GradSync's buckets (make_grad_buckets); bucket k's flat
// buffer of n_k elements is padded to W·c_k elements (W ranks, c_k = ⌈n_k / W⌉) and rank r owns elements
// [r·c_k, (r+1)·c_k) of it: for each parameter, the part of its flattened elements inside that chunk (an
// AdamW ParamRange; moments exist only there, so each rank keeps about 1/W of the optimizer state).
// step(lr, max_norm, what), after the backward, instead of GradSync::average + grad_norm_and_scale + AdamW:
//   1. per bucket: gradients → flat (zeros where none), reduce_scatter_sum, own chunk × 1/W, copied back
//      into the owned ranges of the gradients (on tcp the bits of GradSync's all-reduce there);
//   2. the global norm: Σ g² over the owned ranges, all-reduced in f64 → [norm, clip factor]
//      (norm_and_scale; the same norm up to the summation order of Σ g²);
//   3. AdamW on the owned ranges with that factor (the kernel's per-element math, step count shared);
//   4. per bucket: the owned ranges of the parameters → own chunk, all_gather_chunks, flat → parameters.
// It returns [norm, scale] (f64 (2) on the parameters' device) as grad_norm_and_scale does, and queues
// everything on the device's stream (NCCL) or runs it on the host (tcp): no host read on NCCL.
// gather_state(what) is collective: the full moments named and shaped as a plain AdamW::state(), on every
// rank (one all_gather_chunks per bucket and moment), so a ZeRO-1 checkpoint is a plain one. load_state
// takes this rank's ranges from a checkpoint written by any number of ranks, with or without ZeRO.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/dist/collectives.h"
#include "model/optimizer.h"
#include "run/checkpoint.h"
#include "train/grad_sync.h"

namespace sra {

class ZeroAdamW {
 public:
  ZeroAdamW(const NamedTensors& params, const AdamWConfig& cfg, dist::Communicator& comm,
            int64_t bucket_bytes = 25 << 20);
  Tensor step(double lr, double max_norm, const std::string& what);
  void zero_grad() { optim_->zero_grad(); }
  int64_t steps() const { return optim_->steps(); }
  int64_t num_buckets() const { return int64_t(buckets_.size()); }
  int64_t owned_elements() const;  // this rank's share of the parameters (moments: twice this)
  NamedTensors gather_state(const std::string& what);
  void load_state(const Checkpoint& ck, const std::string& prefix = "optim/");

 private:
  // rank's elements of bucket b: [chunk_begin, chunk_begin + chunk) of its flat
  int64_t chunk(const GradBucket& b) const { return b.flat.numel() / comm_.world_size(); }
  ParamRange owned(const GradBucket& b, size_t i) const;  // of parameter i, in its own elements
  dist::Communicator& comm_;
  std::vector<GradBucket> buckets_;
  std::unique_ptr<AdamW> optim_;
};

}  // namespace sra
