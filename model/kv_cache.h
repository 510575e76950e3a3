// Key/value cache for incremental decoding, one per sequence, one LayerKVCache per decoder layer.
// Entries are post-RoPE k, v of one token: (1, Hkv, 1, D) each.
//   dense layer: every token 0..t, O(N) memory.
//   SRA layer:   query t attends to A(t) = sinks(t) ∪ window(t) ∪ crit(t) (docs/sra.md, gate = 1 in eval):
//                sinks   tokens j < n_sinks (kept for ever),
//                window  a ring of the last `window` tokens with j ≥ n_sinks,
//                crit    tokens j ≥ n_sinks with z_j = 1 that left the ring (j ≤ t − window).
//                A token leaving the ring is dropped unless it is critical: O(n_sinks + K + w) memory.
// keys_values() returns the attended set of the latest query as (1, Hkv, S, D) tensors in the order
// sinks, critical (ascending), window (ascending) — that is, by ascending position; positions() gives the
// matching token positions.
// Storage: per layer one buffer for k and one for v, laid out (Hkv, capacity, D) with the S kept tokens
// in position order at [0, S) of each head (capacity doubles when full), on the device of the first
// appended k, v (every later entry must be on it too). The bookkeeping (positions, flags, counts) lives on
// the host; every data movement is a tensor copy on the buffers' device. A token leaving the ring either
// stays where it is (critical: it becomes the last crit entry) or is removed by moving the ring's
// remaining w − 1 entries down one slot (through a temporary, the ranges overlap), so an append costs
// O(Hkv·w·D) bytes moved and keys_values() one strided copy.
// z_t of the newest token is needed only when that token leaves the window, at a later append: a decode
// step appends with append_entry (z pending), attends, and gives z with set_critical once the router
// scores are read back, before the next append. append_prompt fills an empty cache from a whole prompt's
// k, v at once (one gather per buffer); the result equals appending the tokens one by one.
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace sra {

struct TransformerConfig;

class LayerKVCache {
 public:
  LayerKVCache(bool sra, int64_t window, int64_t n_sinks);
  // Adds token `pos` (must be the next position: 0, 1, 2, ...); k, v (1, Hkv, 1, D), the same shape,
  // dtype and device at every call; `critical` is z_pos (ignored by dense layers).
  void append(int64_t pos, const Tensor& k, const Tensor& v, bool critical);
  // The same with z_pos pending: set_critical(z_pos) must follow before the next append (SRA layers;
  // dense layers ignore z and both calls).
  void append_entry(int64_t pos, const Tensor& k, const Tensor& v);
  void set_critical(bool critical);
  // An empty cache: tokens 0 .. T − 1 from k, v (1, Hkv, T, D) and critical (T) at once. Returns S after
  // each token's append (what size() would have been), for the multiply-add counts.
  std::vector<int64_t> append_prompt(const Tensor& k, const Tensor& v, const std::vector<uint8_t>& critical);
  std::pair<Tensor, Tensor> keys_values() const;  // (1, Hkv, S, D) each, contiguous
  std::vector<int64_t> positions() const;         // the S cached positions, in keys_values() order
  int64_t size() const {
    return int64_t(pos_.size());
  }  // S: keys the next query (the latest token) attends to
  int64_t n_critical() const { return n_crit_; }
  int64_t bytes() const;  // bytes of the cached k and v
  bool is_sra() const { return sra_; }

 private:
  void check_entry(const Tensor& k, const Tensor& v, int64_t tokens);
  // Bookkeeping of token `pos` with flag z: returns the index of the entry that left the cache, or −1.
  int64_t admit(int64_t pos, bool critical);
  void reserve(int64_t capacity, int64_t rows);  // keeps k, v rows [0, rows)
  // Removes row `index` of the first `rows` rows of k, v, moving the later ones down one slot.
  void erase(int64_t index, int64_t rows);

  bool sra_;
  int64_t window_, n_sinks_;
  int64_t next_pos_ = 0;
  // entry i of [0, size()): position pos_[i], critical flag crit_flag_[i]; SRA: [0, n_sink_) sinks,
  // [n_sink_, n_sink_ + n_crit_) critical tokens that left the window, then the ring.
  std::vector<int64_t> pos_;
  std::vector<uint8_t> crit_flag_;
  int64_t n_sink_ = 0, n_crit_ = 0;
  bool pending_ = false;  // the newest entry's flag is not set yet (append_entry)
  // k and v, (Hkv, capacity_, D) each, on device_
  Tensor k_, v_;
  int64_t capacity_ = 0;
  int64_t heads_ = 0, head_dim_ = 0;
  DType dtype_ = DType::f32;
  Device device_ = Device::cpu();
  size_t row_bytes_ = 0;  // bytes of one token in one head: D · dtype size
};

class KVCache {
 public:
  explicit KVCache(const TransformerConfig& c);
  LayerKVCache& layer(size_t i) { return layers_[i]; }
  const LayerKVCache& layer(size_t i) const { return layers_[i]; }
  size_t n_layers() const { return layers_.size(); }
  int64_t length() const { return length_; }  // tokens fed so far = position of the next token
  void advance() { ++length_; }
  int64_t bytes() const;  // Σ over layers

 private:
  std::vector<LayerKVCache> layers_;
  int64_t length_ = 0;
};

}  // namespace sra
