// KV cache for incremental decoding (see kv_cache.h): dense layers keep every token, SRA layers keep the
// sinks and the critical tokens that left the window (the fixed part) and a ring of the last `window`
// tokens, each part in (Hkv, capacity, D) buffers for k and v on the entries' device.
#include "model/kv_cache.h"

#include <algorithm>
#include <cstdint>

#include "autograd/ops.h"
#include "model/transformer.h"

namespace sra {

LayerKVCache::LayerKVCache(bool sra, int64_t window, int64_t n_sinks)
    : sra_(sra), window_(window), n_sinks_(n_sinks) {
  SRA_CHECK(window >= 1 && n_sinks >= 0, "[kv_cache] window must be >= 1 and sinks >= 0, got ", window,
            " and ", n_sinks);
}

void LayerKVCache::grow(Tensor& k, Tensor& v, int64_t& capacity, int64_t rows, int64_t keep, int64_t limit) {
  if (rows <= capacity) return;
  const int64_t cap = std::min(limit, std::max<int64_t>(rows, std::max<int64_t>(16, 2 * capacity)));
  for (Tensor* buf : {&k, &v}) {
    Tensor next = Tensor::empty({heads_, cap, head_dim_}, dtype_, device_);
    if (keep > 0) next.narrow(1, 0, keep).copy_(buf->narrow(1, 0, keep));
    *buf = next;
  }
  capacity = cap;
}

int64_t LayerKVCache::admit(int64_t pos, bool critical) {
  last_slot_ = -1;
  if (!sra_ || pos < n_sinks_) {
    fixed_pos_.push_back(pos);
    return -1;
  }
  if (ring_crit_.empty()) ring_crit_.assign(size_t(window_), 0);
  const int64_t slot = (pos - n_sinks_) % window_;
  int64_t moved = -1;
  if (ring_count_ == window_) {  // token pos − window, in this slot, leaves the window
    if (ring_crit_[size_t(slot)]) {
      fixed_pos_.push_back(pos - window_);
      ++n_crit_;
      moved = slot;
    }
  } else {
    ++ring_count_;
  }
  ring_crit_[size_t(slot)] = critical ? 1 : 0;
  last_slot_ = slot;
  return moved;
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

std::pair<Tensor, Tensor> LayerKVCache::reserve_entry(int64_t pos, const Tensor& k, const Tensor& v,
                                                      std::vector<std::pair<Tensor, Tensor>>* moves) {
  SRA_CHECK(pos == next_pos_, "[kv_cache] expected position ", next_pos_, ", got ", pos);
  SRA_CHECK(!pending_, "[kv_cache] set_critical must follow append_entry before the next append");
  check_entry(k, v, 1);
  ++next_pos_;
  const int64_t fixed_before = int64_t(fixed_pos_.size()), ring_before = ring_count_;
  const int64_t moved = admit(pos, false);
  if (moved >= 0 || last_slot_ < 0) grow(fk_, fv_, fixed_cap_, fixed_before + 1, fixed_before, INT64_MAX);
  if (moved >= 0) {  // the critical token leaving the window joins the fixed part before its slot is reused
    Tensor dk = fk_.narrow(1, fixed_before, 1), dv = fv_.narrow(1, fixed_before, 1);
    const Tensor sk = rk_.narrow(1, moved, 1), sv = rv_.narrow(1, moved, 1);
    if (moves) {
      moves->emplace_back(dk, sk);
      moves->emplace_back(dv, sv);
    } else {
      dk.copy_(sk);
      dv.copy_(sv);
    }
  }
  pending_ = sra_;  // dense layers ignore z
  if (last_slot_ < 0) return {fk_.narrow(1, fixed_before, 1), fv_.narrow(1, fixed_before, 1)};
  grow(rk_, rv_, ring_cap_, last_slot_ + 1, ring_before, window_);
  return {rk_.narrow(1, last_slot_, 1), rv_.narrow(1, last_slot_, 1)};
}

void LayerKVCache::append_entry(int64_t pos, const Tensor& k, const Tensor& v) {
  const std::pair<Tensor, Tensor> dst = reserve_entry(pos, k, v);
  Tensor dk = dst.first, dv = dst.second;
  dk.copy_(k.squeeze(0));  // (Hkv, 1, D)
  dv.copy_(v.squeeze(0));
}

void LayerKVCache::set_critical(bool critical) {
  if (!sra_) return;
  SRA_CHECK(pending_, "[kv_cache] set_critical without a pending append_entry");
  if (last_slot_ >= 0) ring_crit_[size_t(last_slot_)] = critical ? 1 : 0;  // sinks stay whatever z is
  pending_ = false;
}

void LayerKVCache::append(int64_t pos, const Tensor& k, const Tensor& v, bool critical) {
  append_entry(pos, k, v);
  set_critical(critical);
}

// The positions of the ring's slots 0 .. ring_count − 1: the ring holds the last ring_count positions.
static std::vector<int64_t> ring_positions(int64_t next_pos, int64_t ring_count, int64_t n_sinks,
                                           int64_t window) {
  std::vector<int64_t> slot_pos(static_cast<size_t>(ring_count));
  for (int64_t p = next_pos - ring_count; p < next_pos; ++p) slot_pos[size_t((p - n_sinks) % window)] = p;
  return slot_pos;
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
  const Tensor k3 = k.squeeze(0), v3 = v.squeeze(0);  // (Hkv, T, D)
  const int64_t F = int64_t(fixed_pos_.size());
  if (F > 0) {
    grow(fk_, fv_, fixed_cap_, F + F / 8 + 16, 0, INT64_MAX);  // room for the answer without a regrowth
    const Tensor rows = Tensor::from_vector(fixed_pos_, {F}).to(device_);
    fk_.narrow(1, 0, F).copy_(index_select(k3, 1, rows));
    fv_.narrow(1, 0, F).copy_(index_select(v3, 1, rows));
  }
  if (ring_count_ > 0) {
    grow(rk_, rv_, ring_cap_, ring_count_, 0, window_);
    const Tensor rows =
        Tensor::from_vector(ring_positions(T, ring_count_, n_sinks_, window_), {ring_count_}).to(device_);
    rk_.narrow(1, 0, ring_count_).copy_(index_select(k3, 1, rows));
    rv_.narrow(1, 0, ring_count_).copy_(index_select(v3, 1, rows));
  }
  return sizes;
}

std::vector<int64_t> LayerKVCache::positions() const {
  std::vector<int64_t> p = fixed_pos_;
  for (int64_t t = next_pos_ - ring_count_; t < next_pos_; ++t) p.push_back(t);
  return p;
}

std::array<KVPart, 2> LayerKVCache::parts() const {
  return {KVPart{fk_, fv_, int64_t(fixed_pos_.size())}, KVPart{rk_, rv_, ring_count_}};
}

std::pair<Tensor, Tensor> LayerKVCache::keys_values() const {
  SRA_CHECK(size() > 0, "[kv_cache] the cache is empty");
  const int64_t S = size(), F = int64_t(fixed_pos_.size());
  Tensor K = Tensor::empty({1, heads_, S, head_dim_}, dtype_, device_),
         V = Tensor::empty({1, heads_, S, head_dim_}, dtype_, device_);
  Tensor k3 = K.squeeze(0), v3 = V.squeeze(0);  // (Hkv, S, D) views
  if (F > 0) {
    k3.narrow(1, 0, F).copy_(fk_.narrow(1, 0, F));
    v3.narrow(1, 0, F).copy_(fv_.narrow(1, 0, F));
  }
  if (ring_count_ > 0) {  // the oldest ring token's slot first, then wrapping around to slot 0
    const int64_t first = (next_pos_ - ring_count_ - n_sinks_) % window_;
    const int64_t n1 = std::min(ring_count_, ring_cap_ - first), n2 = ring_count_ - n1;
    k3.narrow(1, F, n1).copy_(rk_.narrow(1, first, n1));
    v3.narrow(1, F, n1).copy_(rv_.narrow(1, first, n1));
    if (n2 > 0) {
      k3.narrow(1, F + n1, n2).copy_(rk_.narrow(1, 0, n2));
      v3.narrow(1, F + n1, n2).copy_(rv_.narrow(1, 0, n2));
    }
  }
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
