// A Llama-style decoder whose attention layers are dense (causal) or SRA (sparse, docs/sra.md):
//   h = embed_tokens[ids]                                   ids (B, T) → (B, T, C)
//   per layer: h += o_proj(attn(rope(q_proj(n1(h))), rope(k_proj(n1(h))), v_proj(n1(h))))
//              (SRA layers: attn = sparse_attention with the router's selection made from h)
//              h += down_proj(silu(gate_proj(n2(h))) ⊙ up_proj(n2(h)))
//   logits = lm_head(norm(h))                               (B, T, V); lm_head tied to embed_tokens
// q: H heads of D = C/H; k, v: Hkv heads (grouped-query). Names follow Hugging Face Llama:
// model.embed_tokens.weight, model.layers.{i}.self_attn.{q,k,v,o}_proj.weight,
// model.layers.{i}.mlp.{gate,up,down}_proj.weight, model.layers.{i}.{input,post_attention}_layernorm.weight,
// model.norm.weight, lm_head.weight (untied only); with qkv_bias also
// model.layers.{i}.self_attn.{q,k,v}_proj.bias.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "model/layers.h"
#include "model/router.h"

namespace sra {

// Rotary frequency scaling (kernels/rope/rope_freq.h): none, or Llama 3's (Hugging Face rope_scaling with
// rope_type "llama3" and these four numbers).
struct RopeScalingConfig {
  std::string type = "none";  // "none" | "llama3"
  double factor = 8.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 8192;
  kern::RopeScaling kernel() const;
  bool operator==(const RopeScalingConfig&) const = default;
};

struct TransformerConfig {
  int64_t vocab_size = 256;
  int64_t d_model = 256;
  int64_t n_layers = 4;
  int64_t n_heads = 4;
  int64_t n_kv_heads = 4;
  int64_t d_ff = 688;  // SwiGLU hidden size
  int64_t max_seq_len = 256;
  double rope_theta = 10000.0;
  RopeScalingConfig rope_scaling;
  bool qkv_bias = false;  // q_proj, k_proj and v_proj with a bias (Qwen2); o_proj never has one
  double norm_eps = 1e-5;
  bool tie_embeddings = true;
  double init_std = 0.02;
  int64_t seed = 0;          // >= 0 (the Generator seed)
  DType dtype = DType::f32;  // f64 for gradchecks
  // SRA: attention "dense" or "sra"; with "sra", the layers listed in dense_layers stay dense
  // (negative indices count from the end, e.g. {0, -1}: the first and the last).
  std::string attention = "dense";
  std::vector<int64_t> dense_layers = {0, -1};
  int64_t window = 64;  // local window w (tokens up to and including the query)
  int64_t sinks = 4;    // first tokens every query attends to
  bool shared_router = false;
  RouterConfig router;
  bool is_sra_layer(int64_t layer) const;
  void validate() const;  // throws "[model] ..." naming the bad field
  int64_t head_dim() const { return d_model / n_heads; }
  bool operator==(const TransformerConfig&) const = default;
};

// The attention's q/k/v and the MLP's gate/up projections as one stacked GEMM each (linear_stacked,
// linear_stacked_bf16_out) instead of one GEMM per projection: the same products, other fp32 sum orders.
// Off by default: the 135M step on an H200 took 46.8 ms stacked against 44.6 ms per projection
// (docs/perf.md, 2026-12-02). SRA_STACKED_PROJ=1 in the environment turns it on at start-up (A/B runs);
// set_stacked_projections for tests. Process-wide.
void set_stacked_projections(bool on);
bool stacked_projections();

class SelfAttention : public Module {
 public:
  SelfAttention(const TransformerConfig& c, Generator& gen);
  // x (B, T, C). With a selection (SRA layers) attention is sparse over sinks ∪ window ∪ critical.
  Tensor forward(const Tensor& x, const Tensor& positions, const Selection* sel = nullptr) const;
  std::shared_ptr<Linear> q_proj, k_proj, v_proj, o_proj;

 private:
  int64_t n_heads_, n_kv_heads_, head_dim_, window_, sinks_;
  double rope_theta_;
  kern::RopeScaling rope_scaling_;
};

class SwiGLU : public Module {
 public:
  SwiGLU(const TransformerConfig& c, Generator& gen);
  Tensor forward(const Tensor& x) const;
  std::shared_ptr<Linear> gate_proj, up_proj, down_proj;
};

class DecoderLayer : public Module {
 public:
  DecoderLayer(const TransformerConfig& c, bool sra, bool own_router, Generator& gen);
  Tensor forward(const Tensor& h, const Tensor& positions, const Selection* sel = nullptr) const;
  // The same on h with its input norm hn = input_layernorm(h) given (the caller made both in one
  // add_rmsnorm), returning the output as its two parts (a, d), output = a + d: the residual after attention
  // and the MLP's delta, which the caller adds in one kernel with the next norm.
  std::pair<Tensor, Tensor> forward_parts(const Tensor& h, const Tensor& hn, const Tensor& positions,
                                          const Selection* sel = nullptr) const;
  bool is_sra() const { return sra_; }
  std::shared_ptr<RMSNorm> input_layernorm, post_attention_layernorm;
  std::shared_ptr<SelfAttention> self_attn;
  std::shared_ptr<SwiGLU> mlp;
  std::shared_ptr<Router> router;  // this layer's own router (null when dense or shared)

 private:
  bool sra_;
};

class DecoderStack : public Module {  // Hugging Face's "model." prefix
 public:
  DecoderStack(const TransformerConfig& c, Generator& gen);
  std::shared_ptr<Embedding> embed_tokens;
  std::vector<std::shared_ptr<DecoderLayer>> layers;
  std::shared_ptr<RMSNorm> norm;
  std::shared_ptr<Router> router;  // the shared router (shared_router only)
};

class LayerList : public Module {
 public:
  void add(std::shared_ptr<Module> m) { register_module(std::to_string(count_++), std::move(m)); }

 private:
  int64_t count_ = 0;
};

struct ForwardOutput {
  Tensor logits;                      // (B, T, V) (undefined from run_hidden)
  Tensor hidden;                      // (B, T, C): the final norm's output, the head's input
  std::vector<Selection> selections;  // one per SRA layer, in layer order
  Tensor budget_loss;                 // Σ of the routers' budget losses (0-d)
  Tensor selected_ratio;              // 0-d f64 on the model's device: mean over SRA layers (0 if dense)
};

class Transformer : public Module {
 public:
  explicit Transformer(const TransformerConfig& c);
  // ids (B, T) integer → logits and the SRA layers' selections. positions (T) default 0..T-1.
  // In training mode the routers sample with logistic noise from router_generator().
  // forced (optional): one (B, T) u8 decision tensor per SRA layer, in layer order, used instead of the
  // routers' own selection (Router::forced_select; the RL stage replays sampled rollouts with it).
  ForwardOutput run(const Tensor& ids, const Tensor& positions = Tensor(),
                    const std::vector<Tensor>* forced = nullptr);
  Tensor forward(const Tensor& ids, const Tensor& positions = Tensor()) { return run(ids, positions).logits; }
  // run() without the head: `hidden` set, `logits` undefined (the fused loss reads the head's weight).
  ForwardOutput run_hidden(const Tensor& ids, const Tensor& positions = Tensor(),
                           const std::vector<Tensor>* forced = nullptr);
  Tensor head(const Tensor& hidden) const;  // hidden (…, C) → logits (…, V) through lm_head (or the tied one)
  // Mean next-token cross-entropy of ids (B, T+1) (inputs ids[:, :T], targets ids[:, 1:]) plus the
  // routers' budget losses; remembers the selected ratios and quantiles for update_thresholds().
  Tensor loss(const Tensor& ids);
  // The same for inputs (B, T) and targets (B, T): targets equal to ignore_index do not count (the mean is
  // over the kept ones; 0 when none). The cross-entropy is fused with the head (autograd/fused_ops.h:
  // linear_cross_entropy, no (B·T, V) logits) unless set_fused_loss(false): then head + cross_entropy.
  Tensor loss(const Tensor& inputs, const Tensor& targets, int64_t ignore_index = -100);
  void set_fused_loss(bool fused) { fused_loss_ = fused; }
  bool fused_loss() const { return fused_loss_; }
  // After an optimizer step: moves each router's threshold (Router::update_threshold) using the ratios
  // and quantiles of the last loss()/run() in training mode.
  void update_thresholds();
  // ForwardOutput::selected_ratio of the last run() (a 0-d f64 device tensor; undefined before any).
  const Tensor& last_selected_ratio() const { return last_ratio_; }
  // The router of each SRA layer, in layer order (a shared router appears once per SRA layer).
  std::vector<Router*> sra_routers() const;
  Router* router_of(size_t layer) const;  // layer's router: its own, the shared one, or null (dense layer)
  const TransformerConfig& config() const { return config_; }
  // All layers dense while on (the routers are skipped): the pretrained model's function under an SRA
  // model, e.g. the teacher of train.distill_weight.
  void set_all_dense(bool on) { all_dense_ = on; }
  Generator& router_generator() { return router_gen_; }
  std::shared_ptr<DecoderStack> model;
  std::shared_ptr<Linear> lm_head;  // null when tied

 private:
  const Tensor& default_positions(int64_t T, Device device);  // 0..T-1 (i64), kept on the device
  TransformerConfig config_;
  Generator router_gen_;
  struct ThresholdStats {
    Tensor ratio, quantile;  // Selection::ratio, Selection::quantile (0-d f64 device tensors)
  };
  std::vector<ThresholdStats> last_stats_;  // per SRA layer, from the last training forward
  Tensor last_ratio_;
  Tensor positions_;  // the last default_positions
  bool all_dense_ = false;
  bool fused_loss_ = true;
};

}  // namespace sra
