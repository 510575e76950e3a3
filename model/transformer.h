// A Llama-style decoder (dense causal attention for now; the SRA router and sparse attention join in
// model/ with the model issue):
//   h = embed_tokens[ids]                                   ids (B, T) → (B, T, C)
//   per layer: h += o_proj(attn(rope(q_proj(n1(h))), rope(k_proj(n1(h))), v_proj(n1(h))))
//              h += down_proj(silu(gate_proj(n2(h))) ⊙ up_proj(n2(h)))
//   logits = lm_head(norm(h))                               (B, T, V); lm_head tied to embed_tokens
// q: H heads of D = C/H; k, v: Hkv heads (grouped-query). Names follow Hugging Face Llama:
// model.embed_tokens.weight, model.layers.{i}.self_attn.{q,k,v,o}_proj.weight,
// model.layers.{i}.mlp.{gate,up,down}_proj.weight, model.layers.{i}.{input,post_attention}_layernorm.weight,
// model.norm.weight, lm_head.weight (untied only).
#pragma once
#include <memory>
#include <vector>

#include "model/layers.h"

namespace sra {

struct TransformerConfig {
  int64_t vocab_size = 256;
  int64_t d_model = 256;
  int64_t n_layers = 4;
  int64_t n_heads = 4;
  int64_t n_kv_heads = 4;
  int64_t d_ff = 688;  // SwiGLU hidden size
  int64_t max_seq_len = 256;
  double rope_theta = 10000.0;
  double norm_eps = 1e-5;
  bool tie_embeddings = true;
  double init_std = 0.02;
  uint64_t seed = 0;
  DType dtype = DType::f32;  // f64 for gradchecks
  void validate() const;  // throws "[model] ..." naming the bad field
  int64_t head_dim() const { return d_model / n_heads; }
};

class SelfAttention : public Module {
 public:
  SelfAttention(const TransformerConfig& c, Generator& gen);
  Tensor forward(const Tensor& x, const Tensor& positions) const;  // x (B, T, C)
  std::shared_ptr<Linear> q_proj, k_proj, v_proj, o_proj;

 private:
  int64_t n_heads_, n_kv_heads_, head_dim_;
  double rope_theta_;
};

class SwiGLU : public Module {
 public:
  SwiGLU(const TransformerConfig& c, Generator& gen);
  Tensor forward(const Tensor& x) const;
  std::shared_ptr<Linear> gate_proj, up_proj, down_proj;
};

class DecoderLayer : public Module {
 public:
  DecoderLayer(const TransformerConfig& c, Generator& gen);
  Tensor forward(const Tensor& h, const Tensor& positions) const;
  std::shared_ptr<RMSNorm> input_layernorm, post_attention_layernorm;
  std::shared_ptr<SelfAttention> self_attn;
  std::shared_ptr<SwiGLU> mlp;
};

class DecoderStack : public Module {  // Hugging Face's "model." prefix
 public:
  DecoderStack(const TransformerConfig& c, Generator& gen);
  std::shared_ptr<Embedding> embed_tokens;
  std::vector<std::shared_ptr<DecoderLayer>> layers;
  std::shared_ptr<RMSNorm> norm;
};

class LayerList : public Module {
 public:
  void add(std::shared_ptr<Module> m) { register_module(std::to_string(count_++), std::move(m)); }

 private:
  int64_t count_ = 0;
};

class Transformer : public Module {
 public:
  explicit Transformer(const TransformerConfig& c);
  // ids (B, T) integer → logits (B, T, V). positions (T) default 0..T-1.
  Tensor forward(const Tensor& ids, const Tensor& positions = Tensor()) const;
  // Mean next-token cross-entropy of ids (B, T+1): inputs ids[:, :T], targets ids[:, 1:].
  Tensor loss(const Tensor& ids) const;
  const TransformerConfig& config() const { return config_; }
  std::shared_ptr<DecoderStack> model;
  std::shared_ptr<Linear> lm_head;  // null when tied

 private:
  TransformerConfig config_;
};

}  // namespace sra
