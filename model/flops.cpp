// Multiply-add counts of the Transformer's matrix products (formulas in flops.h).
#include "model/flops.h"

#include <algorithm>

#include "model/transformer.h"

namespace sra {

MacCount& MacCount::operator+=(const MacCount& o) {
  projections += o.projections;
  attention += o.attention;
  mlp += o.mlp;
  router += o.router;
  lm_head += o.lm_head;
  return *this;
}

MacCount operator+(MacCount a, const MacCount& b) {
  return a += b;
}

bool operator==(const MacCount& a, const MacCount& b) {
  return a.projections == b.projections && a.attention == b.attention && a.mlp == b.mlp &&
         a.router == b.router && a.lm_head == b.lm_head;
}

int64_t dense_attended_keys(int64_t t) {
  return t + 1;
}

int64_t sra_attended_keys(int64_t t, int64_t window, int64_t n_sinks, int64_t n_critical_before) {
  int64_t sinks = std::min(t + 1, n_sinks);
  int64_t lo = std::max(t - window + 1, n_sinks);
  int64_t win = std::max<int64_t>(0, t - lo + 1);
  return sinks + win + n_critical_before;
}

MacCount layer_token_macs(const TransformerConfig& c, int64_t layer, int64_t keys) {
  const int64_t C = c.d_model, H = c.n_heads, D = c.head_dim(), kv = c.n_kv_heads * D;
  MacCount m;
  m.projections = 2 * C * C + 2 * C * kv;
  m.attention = 2 * H * D * keys;
  m.mlp = 3 * C * c.d_ff;
  if (c.is_sra_layer(layer)) m.router = C * c.router.hidden + c.router.hidden;
  return m;
}

MacCount token_macs(const TransformerConfig& c, const std::vector<int64_t>& keys_per_layer,
                    bool with_lm_head) {
  SRA_CHECK(int64_t(keys_per_layer.size()) == c.n_layers, "[flops] keys_per_layer has ",
            keys_per_layer.size(), " entries for ", c.n_layers, " layers");
  MacCount m;
  for (int64_t l = 0; l < c.n_layers; ++l) m += layer_token_macs(c, l, keys_per_layer[size_t(l)]);
  if (with_lm_head) m.lm_head = c.d_model * c.vocab_size;
  return m;
}

MacCount sequence_macs(const TransformerConfig& c, int64_t n,
                       const std::vector<std::vector<uint8_t>>& selected, bool all_logits) {
  int64_t n_sra = 0;
  for (int64_t l = 0; l < c.n_layers; ++l) n_sra += c.is_sra_layer(l);
  SRA_CHECK(int64_t(selected.size()) == n_sra, "[flops] ", selected.size(), " selections for ", n_sra,
            " SRA layers");
  for (const auto& s : selected)
    SRA_CHECK(int64_t(s.size()) >= n, "[flops] a selection has ", s.size(), " entries for ", n, " tokens");
  std::vector<int64_t> crit(selected.size(), 0);  // critical j with sinks ≤ j ≤ t − w, per SRA layer
  MacCount total;
  std::vector<int64_t> keys(size_t(c.n_layers));
  for (int64_t t = 0; t < n; ++t) {
    int64_t j = t - c.window;  // the token that just became old enough to be a critical key
    for (size_t k = 0; k < selected.size(); ++k)
      if (j >= c.sinks && selected[k][size_t(j)]) ++crit[k];
    size_t k = 0;
    for (int64_t l = 0; l < c.n_layers; ++l) {
      keys[size_t(l)] =
          c.is_sra_layer(l) ? sra_attended_keys(t, c.window, c.sinks, crit[k++]) : dense_attended_keys(t);
    }
    total += token_macs(c, keys, all_logits || t == n - 1);
  }
  return total;
}

MacCount dense_sequence_macs(const TransformerConfig& c, int64_t n, bool all_logits) {
  TransformerConfig d = c;
  d.attention = "dense";
  return sequence_macs(d, n, {}, all_logits);
}

}  // namespace sra
