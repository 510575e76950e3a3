// ZeRO-1: reduce-scatter, sharded AdamW, all-gather; gathering and loading the sharded state (see
// train/zero.h).
#include "train/zero.h"

#include <algorithm>
#include <map>

#include "core/check.h"

namespace sra {

ZeroAdamW::ZeroAdamW(const NamedTensors& params, const AdamWConfig& cfg, dist::Communicator& comm,
                     int64_t bucket_bytes)
    : comm_(comm), buckets_(make_grad_buckets(params, bucket_bytes, comm.world_size())) {
  NamedTensors ordered;  // the buckets' order is the parameters' order
  std::vector<ParamRange> ranges;
  for (const GradBucket& b : buckets_) {
    for (size_t i = 0; i < b.params.size(); ++i) {
      ordered.emplace_back(b.names[i], b.params[i]);
      ranges.push_back(owned(b, i));
    }
  }
  optim_ = std::make_unique<AdamW>(ordered, cfg, ranges);
}

ParamRange ZeroAdamW::owned(const GradBucket& b, size_t i) const {
  const int64_t lo = comm_.rank() * chunk(b), hi = lo + chunk(b);
  const int64_t off = b.offsets[i], n = b.params[i].numel();
  const int64_t begin = std::clamp(lo - off, int64_t(0), n), end = std::clamp(hi - off, int64_t(0), n);
  return {begin, std::max(begin, end)};
}

int64_t ZeroAdamW::owned_elements() const {
  int64_t n = 0;
  for (const GradBucket& b : buckets_)
    for (size_t i = 0; i < b.params.size(); ++i) n += owned(b, i).end - owned(b, i).begin;
  return n;
}

Tensor ZeroAdamW::step(double lr, double max_norm, const std::string& what) {
  NoGradGuard no_grad;
  const int world = comm_.world_size();
  for (size_t k = 0; k < buckets_.size(); ++k) {  // 1. the averaged gradient of the owned ranges
    GradBucket& b = buckets_[k];
    for (size_t i = 0; i < b.params.size(); ++i) {
      Tensor slot = b.flat.narrow(0, b.offsets[i], b.params[i].numel());
      Tensor g = b.params[i].grad();
      if (g.defined()) {
        slot.copy_(g.reshape({-1}));
      } else {
        slot.zero_();
      }
    }
    comm_.reduce_scatter_sum(b.flat, "gradient bucket " + std::to_string(k) + " of " + what);
    Tensor mine = b.flat.narrow(0, comm_.rank() * chunk(b), chunk(b));
    if (world > 1) mine.mul_(1.0 / double(world));
    for (size_t i = 0; i < b.params.size(); ++i) {
      Tensor g = b.params[i].grad();
      const ParamRange r = owned(b, i);
      if (!g.defined() || r.begin == r.end) continue;
      SRA_CHECK(g.is_contiguous(), "[zero] the gradient of ", b.names[i], " is not contiguous");
      g.reshape({-1})
          .narrow(0, r.begin, r.end - r.begin)
          .copy_(b.flat.narrow(0, b.offsets[i] + r.begin, r.end - r.begin));
    }
  }
  Tensor sum_sq = optim_->grad_sum_squares();  // 2. the global norm and clip factor
  comm_.all_reduce_sum(sum_sq, "gradient norm of " + what);
  Tensor norm_scale = norm_and_scale(sum_sq, max_norm);
  optim_->step(lr, norm_scale.narrow(0, 1, 1));   // 3. the owned ranges
  for (size_t k = 0; k < buckets_.size(); ++k) {  // 4. every rank's updated ranges to every rank
    GradBucket& b = buckets_[k];
    for (size_t i = 0; i < b.params.size(); ++i) {
      const ParamRange r = owned(b, i);
      if (r.begin == r.end) continue;
      b.flat.narrow(0, b.offsets[i] + r.begin, r.end - r.begin)
          .copy_(b.params[i].reshape({-1}).narrow(0, r.begin, r.end - r.begin));
    }
    comm_.all_gather_chunks(b.flat, "parameter bucket " + std::to_string(k) + " of " + what);
    for (size_t i = 0; i < b.params.size(); ++i) {
      Tensor p = b.params[i];
      p.copy_(b.flat.narrow(0, b.offsets[i], p.numel()).view(p.shape()));
    }
  }
  return norm_scale;
}

NamedTensors ZeroAdamW::gather_state(const std::string& what) {
  NoGradGuard no_grad;
  std::map<std::string, Tensor> mine;
  for (auto& [name, t] : optim_->state()) mine[name] = t;
  const char* moments[2] = {".exp_avg", ".exp_avg_sq"};
  NamedTensors full;  // AdamW::state()'s order: per parameter, exp_avg then exp_avg_sq
  for (size_t k = 0; k < buckets_.size(); ++k) {
    const GradBucket& b = buckets_[k];
    Tensor flats[2];
    for (int j = 0; j < 2; ++j) {
      flats[j] = Tensor::zeros({b.flat.numel()}, b.flat.dtype(), b.flat.device());
      for (size_t i = 0; i < b.params.size(); ++i) {
        const ParamRange r = owned(b, i);
        if (r.begin < r.end)
          flats[j].narrow(0, b.offsets[i] + r.begin, r.end - r.begin).copy_(mine.at(b.names[i] + moments[j]));
      }
      comm_.all_gather_chunks(flats[j], "optimizer state bucket " + std::to_string(k) + " of " + what);
    }
    for (size_t i = 0; i < b.params.size(); ++i)
      for (int j = 0; j < 2; ++j)
        full.emplace_back(b.names[i] + moments[j],
                          flats[j].narrow(0, b.offsets[i], b.params[i].numel()).view(b.params[i].shape()));
  }
  return full;
}

void ZeroAdamW::load_state(const Checkpoint& ck, const std::string& prefix) {
  NoGradGuard no_grad;
  const Tensor* steps = ck.find(prefix + "steps");
  SRA_CHECK(steps && steps->dtype() == DType::i64 && steps->numel() == 1, "[checkpoint] no 0-d i64 tensor '",
            prefix, "steps' (the optimizer step count)");
  NamedTensors full;  // a plain AdamW's state, then this rank's ranges of it
  for (const GradBucket& b : buckets_)
    for (size_t i = 0; i < b.params.size(); ++i)
      for (const char* moment : {".exp_avg", ".exp_avg_sq"})
        full.emplace_back(b.names[i] + moment,
                          Tensor::zeros(b.params[i].shape(), b.params[i].dtype(), b.params[i].device()));
  load_into(full, ck, prefix + "state/");
  std::map<std::string, Tensor> mine;
  for (auto& [name, t] : optim_->state()) mine[name] = t;
  size_t j = 0;
  for (const GradBucket& b : buckets_) {
    for (size_t i = 0; i < b.params.size(); ++i) {
      const ParamRange r = owned(b, i);
      for (const char* moment : {".exp_avg", ".exp_avg_sq"}) {
        const Tensor& src = full[j++].second;
        if (r.begin < r.end)
          mine.at(b.names[i] + moment).copy_(src.reshape({-1}).narrow(0, r.begin, r.end - r.begin));
      }
    }
  }
  optim_->set_steps(steps->to_vector<int64_t>()[0]);
}

}  // namespace sra
