// A tiny decoder config the op and autocast tests share: vocab 40, d 16, 4 heads over 2 kv heads (GQA),
// SwiGLU hidden 24, context 32, init std 0.3 (large enough that every layer moves the logits).
#pragma once
#include <cstdint>

#include "model/transformer.h"

namespace sra::test {

inline TransformerConfig tiny_decoder_config(int64_t layers, uint64_t seed) {
  TransformerConfig cfg;
  cfg.vocab_size = 40, cfg.d_model = 16, cfg.n_layers = layers, cfg.n_heads = 4, cfg.n_kv_heads = 2;
  cfg.d_ff = 24, cfg.max_seq_len = 32, cfg.init_std = 0.3, cfg.seed = seed;
  return cfg;
}

}  // namespace sra::test
