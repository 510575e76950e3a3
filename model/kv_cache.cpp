// KV cache for incremental decoding (see kv_cache.h): dense layers keep every token, SRA layers keep the
// sinks, the critical tokens that left the window and a ring of the last `window` tokens.
#include "model/kv_cache.h"

#include "autograd/ops.h"
#include "model/transformer.h"

namespace sra {

LayerKVCache::LayerKVCache(bool sra, int64_t window, int64_t n_sinks)
    : sra_(sra), window_(window), n_sinks_(n_sinks) {
  SRA_CHECK(window >= 1 && n_sinks >= 0, "[kv_cache] window must be >= 1 and sinks >= 0, got ", window,
            " and ", n_sinks);
}

void LayerKVCache::append(int64_t pos, const Tensor& k, const Tensor& v, bool critical) {
  SRA_CHECK(pos == next_pos_, "[kv_cache] expected position ", next_pos_, ", got ", pos);
  SRA_CHECK(k.dim() == 4 && k.size(0) == 1 && k.size(2) == 1 && k.shape() == v.shape(),
            "[kv_cache] k and v must be (1, Hkv, 1, D), got ", shape_str(k.shape()), " and ",
            shape_str(v.shape()));
  ++next_pos_;
  Entry e{pos, k.contiguous(), v.contiguous(), critical};
  if (!sra_) {
    all_.push_back(std::move(e));
    return;
  }
  if (pos < n_sinks_) {
    sinks_.push_back(std::move(e));
    return;
  }
  ring_.push_back(std::move(e));
  if (int64_t(ring_.size()) > window_) {  // token pos − window leaves the window
    if (ring_.front().critical) crit_.push_back(std::move(ring_.front()));
    ring_.pop_front();
  }
}

int64_t LayerKVCache::size() const {
  return sra_ ? int64_t(sinks_.size() + crit_.size() + ring_.size()) : int64_t(all_.size());
}

std::vector<int64_t> LayerKVCache::positions() const {
  std::vector<int64_t> p;
  if (!sra_) {
    for (const Entry& e : all_) p.push_back(e.pos);
    return p;
  }
  for (const Entry& e : sinks_) p.push_back(e.pos);
  for (const Entry& e : crit_) p.push_back(e.pos);
  for (const Entry& e : ring_) p.push_back(e.pos);
  return p;
}

std::pair<Tensor, Tensor> LayerKVCache::keys_values() const {
  SRA_CHECK(size() > 0, "[kv_cache] the cache is empty");
  std::vector<Tensor> ks, vs;
  auto take = [&](const Entry& e) {
    ks.push_back(e.k);
    vs.push_back(e.v);
  };
  if (!sra_) {
    for (const Entry& e : all_) take(e);
  } else {
    for (const Entry& e : sinks_) take(e);
    for (const Entry& e : crit_) take(e);
    for (const Entry& e : ring_) take(e);
  }
  return {concat(ks, 2), concat(vs, 2)};
}

int64_t LayerKVCache::bytes() const {
  int64_t per = 0;
  const Entry* any = !all_.empty()     ? &all_[0]
                     : !sinks_.empty() ? &sinks_[0]
                     : !ring_.empty()  ? &ring_[0]
                                       : nullptr;
  if (any) per = 2 * any->k.numel() * int64_t(dtype_size(any->k.dtype()));
  return per * size();
}

KVCache::KVCache(const TransformerConfig& c) {
  for (int64_t i = 0; i < c.n_layers; ++i) layers_.emplace_back(c.is_sra_layer(i), c.window, c.sinks);
}

int64_t KVCache::bytes() const {
  int64_t b = 0;
  for (const LayerKVCache& l : layers_) b += l.bytes();
  return b;
}

}  // namespace sra
