// Key/value cache for incremental decoding, one per sequence, one LayerKVCache per decoder layer.
// Entries are post-RoPE k, v of one token: (1, Hkv, 1, D) each.
//   dense layer: every token 0..t, O(N) memory.
//   SRA layer:   query t attends to A(t) = sinks(t) ∪ window(t) ∪ crit(t) (docs/sra.md, gate = 1 in eval):
//                sinks   tokens j < n_sinks (kept for ever),
//                window  a ring of the last `window` tokens with j ≥ n_sinks,
//                crit    tokens j ≥ n_sinks with z_j = 1 that left the ring (j ≤ t − window).
//                A token leaving the ring is dropped unless it is critical: O(n_sinks + K + w) memory.
// keys_values() returns the attended set of the latest query as (1, Hkv, S, D) tensors in the order
// sinks, critical (ascending), window (ascending); positions() gives the matching token positions.
#pragma once
#include <cstdint>
#include <deque>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace sra {

struct TransformerConfig;

class LayerKVCache {
 public:
  LayerKVCache(bool sra, int64_t window, int64_t n_sinks);
  // Adds token `pos` (must be the next position: 0, 1, 2, ...); k, v (1, Hkv, 1, D); `critical` is z_pos
  // (ignored by dense layers).
  void append(int64_t pos, const Tensor& k, const Tensor& v, bool critical);
  std::pair<Tensor, Tensor> keys_values() const;  // (1, Hkv, S, D) each
  std::vector<int64_t> positions() const;         // the S cached positions, in keys_values() order
  int64_t size() const;                           // S: keys the next query (the latest token) attends to
  int64_t n_critical() const { return int64_t(crit_.size()); }
  int64_t bytes() const;  // bytes of the cached k and v
  bool is_sra() const { return sra_; }

 private:
  struct Entry {
    int64_t pos;
    Tensor k, v;
    bool critical;
  };
  bool sra_;
  int64_t window_, n_sinks_;
  int64_t next_pos_ = 0;
  std::vector<Entry> all_;    // dense: every token
  std::vector<Entry> sinks_;  // SRA: j < n_sinks
  std::vector<Entry> crit_;   // SRA: critical tokens that left the window
  std::deque<Entry> ring_;    // SRA: the last `window` tokens with j ≥ n_sinks
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
