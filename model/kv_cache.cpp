// KV cache for incremental decoding (see kv_cache.h): dense layers keep every token, SRA layers keep the
// sinks, the critical tokens that left the window and a ring of the last `window` tokens, all in
// position order in one (Hkv, capacity, D) buffer for k and one for v, on the entries' device.
#include "model/kv_cache.h"

#include <algorithm>

#include "autograd/ops.h"
#include "model/transformer.h"

namespace sra {

LayerKVCache::LayerKVCache(bool sra, int64_t window, int64_t n_sinks)
    : sra_(sra), window_(window), n_sinks_(n_sinks) {
  SRA_CHECK(window >= 1 && n_sinks >= 0, "[kv_cache] window must be >= 1 and sinks >= 0, got ", window,
            " and ", n_sinks);
}

void LayerKVCache::reserve(int64_t capacity, int64_t rows) {
  if (capacity <= capacity_) return;
  const int64_t cap = std::max<int64_t>(capacity, std::max<int64_t>(16, 2 * capacity_));
  for (Tensor* buf : {&k_, &v_}) {
    Tensor next = Tensor::empty({heads_, cap, head_dim_}, dtype_, device_);
    if (rows > 0) next.narrow(1, 0, rows).copy_(buf->narrow(1, 0, rows));
    *buf = next;
  }
  capacity_ = cap;
}

void LayerKVCache::erase(int64_t index, int64_t rows) {
  const int64_t later = rows - index - 1;
  if (later == 0) return;
  for (Tensor* buf : {&k_, &v_}) {
    Tensor moved = Tensor::empty({heads_, later, head_dim_}, dtype_, device_);
    moved.copy_(buf->narrow(1, index + 1, later));
    buf->narrow(1, index, later).copy_(moved);
  }
}

int64_t LayerKVCache::admit(int64_t pos, bool critical) {
  pos_.push_back(pos);
  crit_flag_.push_back(critical ? 1 : 0);
  if (!sra_) return -1;
  if (pos < n_sinks_) {
    ++n_sink_;
    return -1;
  }
  const int64_t ring = size() - n_sink_ - n_crit_;
  if (ring <= window_) return -1;
  // token pos − window (the ring's first entry) leaves the window
  const int64_t leaving = n_sink_ + n_crit_;
  if (crit_flag_[size_t(leaving)]) {
    ++n_crit_;  // already in place: the last critical entry
    return -1;
  }
  pos_.erase(pos_.begin() + leaving);
  crit_flag_.erase(crit_flag_.begin() + leaving);
  return leaving;
}

void LayerKVCache::check_entry(const Tensor& k, const Tensor& v, int64_t tokens) {
  SRA_CHECK(k.dim() == 4 && k.size(0) == 1 && k.size(2) == tokens && k.shape() == v.shape() &&
                k.dtype() == v.dtype() && k.device() == v.device(),
            "[kv_cache] k and v must be (1, Hkv, ", tokens, ", D) of one dtype and device, got ",
            shape_str(k.shape()), " and ", shape_str(v.shape()));
  if (next_pos_ == 0) {
    heads_ = k.size(1);
    head_dim_ = k.size(3);
    dtype_ = k.dtype();
    device_ = k.device();
    row_bytes_ = size_t(head_dim_) * dtype_size(dtype_);
  }
  SRA_CHECK(k.size(1) == heads_ && k.size(3) == head_dim_ && k.dtype() == dtype_ && k.device() == device_,
            "[kv_cache] k and v must be ", shape_str({1, heads_, tokens, head_dim_}), " ", dtype_name(dtype_),
            " on ", device_.str(), " like the first entry, got ", shape_str(k.shape()), " ",
            dtype_name(k.dtype()), " on ", k.device().str());
}

void LayerKVCache::append_entry(int64_t pos, const Tensor& k, const Tensor& v) {
  SRA_CHECK(pos == next_pos_, "[kv_cache] expected position ", next_pos_, ", got ", pos);
  SRA_CHECK(!pending_, "[kv_cache] set_critical must follow append_entry before the next append");
  check_entry(k, v, 1);
  ++next_pos_;
  reserve(size() + 1, size());
  const int64_t slot = size(), rows = slot + 1;
  k_.narrow(1, slot, 1).copy_(k.squeeze(0));  // (Hkv, 1, D) on the buffers' device
  v_.narrow(1, slot, 1).copy_(v.squeeze(0));
  const int64_t left = admit(pos, false);
  pending_ = sra_;  // dense layers ignore z
  if (left >= 0) erase(left, rows);
}

void LayerKVCache::set_critical(bool critical) {
  if (!sra_) return;
  SRA_CHECK(pending_, "[kv_cache] set_critical without a pending append_entry");
  crit_flag_.back() = critical ? 1 : 0;
  pending_ = false;
}

void LayerKVCache::append(int64_t pos, const Tensor& k, const Tensor& v, bool critical) {
  append_entry(pos, k, v);
  set_critical(critical);
}

std::vector<int64_t> LayerKVCache::append_prompt(const Tensor& k, const Tensor& v,
                                                 const std::vector<uint8_t>& critical) {
  SRA_CHECK(next_pos_ == 0, "[kv_cache] append_prompt needs an empty cache, this one has ", next_pos_,
            " tokens");
  const int64_t T = int64_t(critical.size());
  SRA_CHECK(T >= 1, "[kv_cache] append_prompt needs at least one token");
  check_entry(k, v, T);
  std::vector<int64_t> sizes(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) {
    admit(t, critical[size_t(t)] != 0);
    sizes[size_t(t)] = size();
  }
  next_pos_ = T;
  reserve(size(), /*rows=*/0);                              // an empty cache: nothing to keep
  const Tensor kept = Tensor::from_vector(pos_, {size()});  // the tokens still cached, ascending
  k_.narrow(1, 0, size()).copy_(index_select(k.squeeze(0), 1, kept));
  v_.narrow(1, 0, size()).copy_(index_select(v.squeeze(0), 1, kept));
  return sizes;
}

std::vector<int64_t> LayerKVCache::positions() const {
  return pos_;
}

std::pair<Tensor, Tensor> LayerKVCache::keys_values() const {
  SRA_CHECK(size() > 0, "[kv_cache] the cache is empty");
  const int64_t S = size();
  Tensor K = Tensor::empty({1, heads_, S, head_dim_}, dtype_, device_),
         V = Tensor::empty({1, heads_, S, head_dim_}, dtype_, device_);
  K.copy_(k_.narrow(1, 0, S));  // (Hkv, S, D) into (1, Hkv, S, D)
  V.copy_(v_.narrow(1, 0, S));
  return {K, V};
}

int64_t LayerKVCache::bytes() const {
  return 2 * int64_t(row_bytes_) * heads_ * size();
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
