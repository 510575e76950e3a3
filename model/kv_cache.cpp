// KV cache for incremental decoding (see kv_cache.h): dense layers keep every token, SRA layers keep the
// sinks, the critical tokens that left the window and a ring of the last `window` tokens, all in
// position order in one (Hkv, capacity, D) buffer for k and one for v.
#include "model/kv_cache.h"

#include <algorithm>
#include <cstring>

#include "autograd/ops.h"
#include "model/transformer.h"

namespace sra {

LayerKVCache::LayerKVCache(bool sra, int64_t window, int64_t n_sinks)
    : sra_(sra), window_(window), n_sinks_(n_sinks) {
  SRA_CHECK(window >= 1 && n_sinks >= 0, "[kv_cache] window must be >= 1 and sinks >= 0, got ", window,
            " and ", n_sinks);
}

void LayerKVCache::reserve(int64_t capacity) {
  if (capacity <= capacity_) return;
  int64_t cap = std::max<int64_t>(capacity, std::max<int64_t>(16, 2 * capacity_));
  auto grow = [&](std::vector<unsigned char>& buf) {
    std::vector<unsigned char> next(size_t(heads_ * cap) * row_bytes_);
    for (int64_t h = 0; h < heads_; ++h)
      if (size() > 0)
        std::memcpy(next.data() + size_t(h * cap) * row_bytes_,
                    buf.data() + size_t(h * capacity_) * row_bytes_, size_t(size()) * row_bytes_);
    buf.swap(next);
  };
  grow(k_);
  grow(v_);
  capacity_ = cap;
}

void LayerKVCache::erase(int64_t index) {
  const int64_t n = size();
  for (std::vector<unsigned char>* buf : {&k_, &v_})
    for (int64_t h = 0; h < heads_; ++h) {
      unsigned char* base = buf->data() + size_t(h * capacity_) * row_bytes_;
      std::memmove(base + size_t(index) * row_bytes_, base + size_t(index + 1) * row_bytes_,
                   size_t(n - index - 1) * row_bytes_);
    }
  pos_.erase(pos_.begin() + index);
  crit_flag_.erase(crit_flag_.begin() + index);
}

void LayerKVCache::append(int64_t pos, const Tensor& k, const Tensor& v, bool critical) {
  SRA_CHECK(pos == next_pos_, "[kv_cache] expected position ", next_pos_, ", got ", pos);
  SRA_CHECK(
      k.dim() == 4 && k.size(0) == 1 && k.size(2) == 1 && k.shape() == v.shape() && k.dtype() == v.dtype(),
      "[kv_cache] k and v must be (1, Hkv, 1, D) of one dtype, got ", shape_str(k.shape()), " and ",
      shape_str(v.shape()));
  if (next_pos_ == 0) {
    heads_ = k.size(1);
    head_dim_ = k.size(3);
    dtype_ = k.dtype();
    row_bytes_ = size_t(head_dim_) * dtype_size(dtype_);
  }
  SRA_CHECK(k.size(1) == heads_ && k.size(3) == head_dim_ && k.dtype() == dtype_,
            "[kv_cache] k and v must be ", shape_str({1, heads_, 1, head_dim_}), " ", dtype_name(dtype_),
            " like the first entry, got ", shape_str(k.shape()), " ", dtype_name(k.dtype()));
  ++next_pos_;
  reserve(size() + 1);
  Tensor kc = k.contiguous(), vc = v.contiguous();  // k, v themselves when already contiguous
  const int64_t slot = size();
  for (int64_t h = 0; h < heads_; ++h) {
    std::memcpy(k_.data() + size_t(h * capacity_ + slot) * row_bytes_,
                static_cast<const unsigned char*>(kc.raw()) + size_t(h) * row_bytes_, row_bytes_);
    std::memcpy(v_.data() + size_t(h * capacity_ + slot) * row_bytes_,
                static_cast<const unsigned char*>(vc.raw()) + size_t(h) * row_bytes_, row_bytes_);
  }
  pos_.push_back(pos);
  crit_flag_.push_back(critical ? 1 : 0);
  if (!sra_) return;
  if (pos < n_sinks_) {
    ++n_sink_;
    return;
  }
  const int64_t ring = size() - n_sink_ - n_crit_;
  if (ring > window_) {  // token pos − window (the ring's first entry) leaves the window
    const int64_t leaving = n_sink_ + n_crit_;
    if (crit_flag_[size_t(leaving)]) {
      ++n_crit_;  // already in place: the last critical entry
    } else {
      erase(leaving);
    }
  }
}

std::vector<int64_t> LayerKVCache::positions() const {
  return pos_;
}

std::pair<Tensor, Tensor> LayerKVCache::keys_values() const {
  SRA_CHECK(size() > 0, "[kv_cache] the cache is empty");
  const int64_t S = size();
  Tensor K = Tensor::empty({1, heads_, S, head_dim_}, dtype_),
         V = Tensor::empty({1, heads_, S, head_dim_}, dtype_);
  unsigned char* kp = static_cast<unsigned char*>(K.raw());
  unsigned char* vp = static_cast<unsigned char*>(V.raw());
  const size_t head_bytes = size_t(S) * row_bytes_;
  for (int64_t h = 0; h < heads_; ++h) {
    std::memcpy(kp + size_t(h) * head_bytes, k_.data() + size_t(h * capacity_) * row_bytes_, head_bytes);
    std::memcpy(vp + size_t(h) * head_bytes, v_.data() + size_t(h * capacity_) * row_bytes_, head_bytes);
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
