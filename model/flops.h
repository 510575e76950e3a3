// Exact multiply-add (MAC) counts of the Transformer's matrix products, per query token, from the real
// shapes. Per layer and token (C = d_model, H heads, Hkv kv heads, D = C/H, F = d_ff, keys = attended keys):
//   projections  q, o: C·C each; k, v: C·Hkv·D each                      2·C·C + 2·C·Hkv·D
//   attention    q·k and p·v for every attended key and head             2·H·D·keys
//   mlp          gate, up: C·F each; down: F·C                            3·C·F
//   router       (SRA layers) C·hidden + hidden·1                         C·hid + hid
// plus the lm_head C·V per token whose logits are computed. Elementwise work (norms, RoPE, softmax
// exponentials, SiLU, biases, residual adds) is not counted.
// Attended keys of query t (0-based): dense t + 1; SRA (docs/sra.md)
//   min(t + 1, n_sinks) + #{j : max(t − w + 1, n_sinks) ≤ j ≤ t} + #{critical j : n_sinks ≤ j ≤ t − w}.
#pragma once
#include <cstdint>
#include <vector>

namespace sra {

struct TransformerConfig;

struct MacCount {
  int64_t projections = 0, attention = 0, mlp = 0, router = 0, lm_head = 0;
  int64_t total() const { return projections + attention + mlp + router + lm_head; }
  MacCount& operator+=(const MacCount& o);
};
MacCount operator+(MacCount a, const MacCount& b);
bool operator==(const MacCount& a, const MacCount& b);

int64_t dense_attended_keys(int64_t t);
// n_critical_before: critical tokens j with n_sinks ≤ j ≤ t − window.
int64_t sra_attended_keys(int64_t t, int64_t window, int64_t n_sinks, int64_t n_critical_before);

// One token through layer `layer` attending to `keys` keys (router included for SRA layers).
MacCount layer_token_macs(const TransformerConfig& c, int64_t layer, int64_t keys);
// One token through the whole model; keys_per_layer has n_layers entries.
MacCount token_macs(const TransformerConfig& c, const std::vector<int64_t>& keys_per_layer,
                    bool with_lm_head);

// A whole sequence of n tokens (a full forward or a prefill). selected: one (n) 0/1 vector per SRA layer,
// in layer order (empty for a dense model). lm_head on every position when all_logits, else only on the
// last one.
MacCount sequence_macs(const TransformerConfig& c, int64_t n,
                       const std::vector<std::vector<uint8_t>>& selected, bool all_logits);
// The same model with every layer dense (the baseline an SRA model is compared with; no router).
MacCount dense_sequence_macs(const TransformerConfig& c, int64_t n, bool all_logits);

}  // namespace sra
