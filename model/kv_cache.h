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
// Storage, on the device of the first appended k, v (every later entry must be on it too): a fixed part,
// (Hkv, capacity, D) buffers for k and v whose rows [0, F) are the tokens that stay for good (dense: every
// token; SRA: the sinks, then the critical tokens that left the window, ascending), capacity doubling when
// full; and, in SRA layers, a ring of the window's tokens, (Hkv, ≤ window, D) buffers where token p ≥ n_sinks
// sits in slot (p − n_sinks) mod window. An append writes one row per buffer; a token leaving the window
// is overwritten in place, or first copied to the end of the fixed part when it is critical: O(Hkv·D)
// bytes moved per append. parts() hands the two parts to decode_attention (autograd/ops.h) without a
// copy (keys in the order fixed, then ring slots); keys_values() assembles them by position (one copy per
// part, two for a wrapped ring). The bookkeeping (positions, flags, counts) lives on the host.
// z_t of the newest token is needed only when that token leaves the window, at a later append: a decode
// step appends with append_entry (z pending), attends, and gives z with set_critical once the router
// scores are read back, before the next append. append_prompt fills an empty cache from a whole prompt's
// k, v at once (one gather per buffer); the result equals appending the tokens one by one.
#pragma once
#include <array>
#include <cstdint>
#include <utility>
#include <vector>

#include "autograd/ops.h"
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
  // append_entry's bookkeeping without its copies: returns the (Hkv, 1, D) rows that k, v (1, Hkv, 1, D)
  // must be copied into before the cache is read (decode_rows copies a whole batch's rows in one launch).
  // A critical token leaving the window is copied from its ring slot to the fixed part first: at once, or,
  // with `moves`, appended there as (dst, src) pairs that must be copied before the returned rows are
  // written (decode_rows batches them too).
  std::pair<Tensor, Tensor> reserve_entry(int64_t pos, const Tensor& k, const Tensor& v,
                                          std::vector<std::pair<Tensor, Tensor>>* moves = nullptr);
  void set_critical(bool critical);
  // An empty cache: tokens 0 .. T − 1 from k, v (1, Hkv, T, D) and critical (T) at once. Returns S after
  // each token's append (what size() would have been), for the multiply-add counts.
  std::vector<int64_t> append_prompt(const Tensor& k, const Tensor& v, const std::vector<uint8_t>& critical);
  std::pair<Tensor, Tensor> keys_values() const;  // (1, Hkv, S, D) each, contiguous, by position
  std::vector<int64_t> positions() const;         // the S cached positions, ascending
  // The fixed part and the ring as decode_attention's parts (the ring's rows 0 in dense layers).
  std::array<KVPart, 2> parts() const;
  int64_t size() const { return int64_t(fixed_pos_.size()) + ring_count_; }  // S: keys the newest token sees
  int64_t n_critical() const { return n_crit_; }
  int64_t bytes() const;  // bytes of the cached k and v (S tokens)
  bool is_sra() const { return sra_; }

 private:
  void check_entry(const Tensor& k, const Tensor& v, int64_t tokens);
  // Bookkeeping of token `pos` with flag z: returns the ring slot whose token moves to the fixed part
  // (a critical token leaving the window), or −1.
  int64_t admit(int64_t pos, bool critical);
  // Grows (Hkv, capacity, D) buffers to hold `rows` rows, keeping rows [0, keep); capacity doubles, at most
  // `limit`.
  void grow(Tensor& k, Tensor& v, int64_t& capacity, int64_t rows, int64_t keep, int64_t limit);

  bool sra_;
  int64_t window_, n_sinks_;
  int64_t next_pos_ = 0;
  std::vector<int64_t> fixed_pos_;  // positions of the fixed part's rows
  std::vector<uint8_t> ring_crit_;  // z of the token in each ring slot (SRA)
  int64_t ring_count_ = 0;          // tokens in the ring: min(window, tokens with p ≥ n_sinks)
  int64_t n_crit_ = 0;              // critical tokens moved to the fixed part
  int64_t last_slot_ = -1;          // ring slot of the newest token (−1: a sink or a dense layer)
  bool pending_ = false;            // the newest entry's flag is not set yet (append_entry)
  Tensor fk_, fv_, rk_, rv_;        // fixed part and ring, (Hkv, capacity, D) each, on device_
  int64_t fixed_cap_ = 0, ring_cap_ = 0;
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
