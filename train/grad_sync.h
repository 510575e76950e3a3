// Data-parallel gradient averaging (core/dist/collectives.h), used by the trainer and by `sra rl`.
//
// GradSync(params, comm, bucket_bytes): the parameters, in named_parameters() order, are cut into buckets
// of at most bucket_bytes (25 MB by default; a larger tensor is a bucket of its own). average(what)
// copies each bucket's gradients into one flat buffer on the parameters' device (kept from step to step:
// a steady step allocates nothing), all-reduces it (sum), scales it by 1 / world size and copies it back:
// one collective per bucket instead of one per tensor. A parameter without a gradient contributes zeros
// and keeps no gradient. On NCCL the collectives queue on the device's current stream after the backward.
// Overlapped (distributed.overlap): pass overlap_hook() to the backward of a step's last micro-batch
// (autograd/tape.h on_leaf_ready); once every parameter of a bucket is reported ready and every later
// bucket has started (a fixed order, last to first, whatever the tape), its gradients are packed and its
// all-reduce started (Communicator::all_reduce_sum_async: tcp on a communication thread, nccl on a
// communication stream) while the backward goes on; finish(what) then starts the buckets not
// started yet (parameters the tape never reached), waits, and scales and copies back in bucket order. Every
// bucket is packed from the same final gradients and reduced by the same collective, so the result is
// reduce()'s bit for bit.
// On nccl with parameters on the GPU (Communicator::grouped_in_place) nothing is packed: a bucket's
// all-reduce is one NCCL group of in-place all-reduces of its gradients where they lie (ncclAvg for the
// mean), so the step does no copies in and out of a flat buffer; a parameter without a gradient joins with
// a zero tensor that is dropped afterwards. reduce() then runs the same grouped collectives.
//
// average_router_thresholds(model, comm): each router's threshold θ is the mean of the ranks' θ after
// update_thresholds(). Both updates (quantile EMA and ratio step) are affine in the batch statistic, so
// this equals one update with the ranks' mean statistic, and keeps the ranks' models identical.
//
// broadcast_state(module, comm): parameters and buffers from rank 0 (a job's start and after a resume).
#pragma once
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "autograd/module.h"
#include "autograd/tape.h"
#include "core/dist/collectives.h"
#include "model/transformer.h"

namespace sra {

// The parameters, in order, cut into buckets of at most bucket_bytes of one dtype and device (a larger
// tensor is a bucket of its own). flat: 1-D zeros of the bucket's elements rounded up to a multiple of
// `chunks` (ZeRO-1's world size: equal chunks for reduce-scatter and all-gather), kept from step to step.
struct GradBucket {
  std::vector<std::string> names;
  std::vector<Tensor> params;
  std::vector<int64_t> offsets;  // each parameter's first element in flat
  int64_t numel = 0;             // Σ the parameters' elements (flat may be longer: zero padding)
  Tensor flat;
};
std::vector<GradBucket> make_grad_buckets(const NamedTensors& params, int64_t bucket_bytes, int chunks = 1);

class GradSync {
 public:
  GradSync(const NamedTensors& params, dist::Communicator& comm, int64_t bucket_bytes = 25 << 20);
  void average(const std::string& what) { reduce(what, true); }
  void reduce(const std::string& what, bool mean);  // mean false: the sum (sra rl's losses carry 1/R)
  int64_t num_buckets() const { return int64_t(buckets_.size()); }
  LeafReadyFn overlap_hook(const std::string& what, bool mean = true);  // mean false: the sum
  void finish(const std::string& what);

 private:
  void pack(GradBucket& b);
  void launch(size_t k, const std::string& what);  // pack, start the all-reduce
  void unpack(GradBucket& b, bool mean);
  std::vector<int> waiting_;                        // per bucket: parameters not reported ready yet (overlap)
  int64_t next_ = -1;                               // the next bucket to start (they start last to first)
  bool overlapping_ = false;                        // between overlap_hook and finish
  bool mean_ = true;                                // overlap_hook's
  bool in_place_ = false;                           // grouped in-place collectives, no flat buffers
  std::vector<Tensor> zeros_;                       // stand-ins for missing gradients until finish
  std::unordered_map<uint64_t, size_t> bucket_of_;  // parameter id → bucket
  dist::Communicator& comm_;
  std::vector<GradBucket> buckets_;
};

void average_router_thresholds(Transformer& model, dist::Communicator& comm, const std::string& what);
void broadcast_state(Module& module, dist::Communicator& comm);

}  // namespace sra
