#include "model/transformer.h"

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <string>
#include <tuple>
#include <utility>

#include "autograd/fused_ops.h"
#include "autograd/sparse_attention.h"

namespace sra {

void TransformerConfig::validate() const {
  SRA_CHECK(vocab_size > 0, "[model] vocab_size must be > 0, got ", vocab_size);
  SRA_CHECK(d_model > 0 && n_layers > 0 && n_heads > 0 && n_kv_heads > 0 && d_ff > 0 && max_seq_len > 0,
            "[model] d_model, n_layers, n_heads, n_kv_heads, d_ff and max_seq_len must be > 0");
  SRA_CHECK(d_model % n_heads == 0, "[model] d_model ", d_model, " is not a multiple of n_heads ", n_heads);
  SRA_CHECK(head_dim() % 2 == 0, "[model] head dim ", head_dim(), " must be even for rotary embeddings");
  SRA_CHECK(dtype == DType::f32 || dtype == DType::f64, "[model] dtype must be f32 or f64, got ",
            dtype_name(dtype));
  SRA_CHECK(attention == "dense" || attention == "sra", "[model] attention must be 'dense' or 'sra', got '",
            attention, "'");
  for (int64_t l : dense_layers)
    SRA_CHECK(l >= -n_layers && l < n_layers, "[model] dense_layers entry ", l, " out of range for ",
              n_layers, " layers");
  SRA_CHECK(window >= 1, "[model] window must be >= 1, got ", window);
  SRA_CHECK(sinks >= 0, "[model] sinks must be >= 0, got ", sinks);
  if (attention == "sra") router.validate();
  SRA_CHECK(rope_scaling.type == "none" || rope_scaling.type == "llama3",
            "[model] rope_scaling.type must be none or llama3, got '", rope_scaling.type, "'");
  if (rope_scaling.type == "llama3") {
    const RopeScalingConfig& r = rope_scaling;
    SRA_CHECK(r.factor > 0 && r.low_freq_factor > 0 && r.high_freq_factor > r.low_freq_factor &&
                  r.original_max_position_embeddings > 0,
              "[model] rope_scaling llama3 needs factor > 0, 0 < low_freq_factor < high_freq_factor and "
              "original_max_position_embeddings > 0");
  }
  SRA_CHECK(n_heads % n_kv_heads == 0, "[model] n_heads ", n_heads, " is not a multiple of n_kv_heads ",
            n_kv_heads);
}

kern::RopeScaling RopeScalingConfig::kernel() const {
  kern::RopeScaling k;
  k.llama3 = type == "llama3";
  k.factor = factor;
  k.low_freq_factor = low_freq_factor;
  k.high_freq_factor = high_freq_factor;
  k.original_max_position = double(original_max_position_embeddings);
  return k;
}

bool TransformerConfig::is_sra_layer(int64_t layer) const {
  if (attention != "sra") return false;
  for (int64_t l : dense_layers)
    if ((l < 0 ? l + n_layers : l) == layer) return false;
  return true;
}

SelfAttention::SelfAttention(const TransformerConfig& c, Generator& gen)
    : n_heads_(c.n_heads),
      n_kv_heads_(c.n_kv_heads),
      head_dim_(c.head_dim()),
      window_(c.window),
      sinks_(c.sinks),
      rope_theta_(c.rope_theta),
      rope_scaling_(c.rope_scaling.kernel()) {
  int64_t kv = c.n_kv_heads * c.head_dim();
  q_proj = register_module(
      "q_proj", std::make_shared<Linear>(c.d_model, c.d_model, c.qkv_bias, c.init_std, gen, c.dtype));
  k_proj = register_module("k_proj",
                           std::make_shared<Linear>(c.d_model, kv, c.qkv_bias, c.init_std, gen, c.dtype));
  v_proj = register_module("v_proj",
                           std::make_shared<Linear>(c.d_model, kv, c.qkv_bias, c.init_std, gen, c.dtype));
  double out_std = c.init_std / std::sqrt(2.0 * double(c.n_layers));
  o_proj =
      register_module("o_proj", std::make_shared<Linear>(c.d_model, c.d_model, false, out_std, gen, c.dtype));
}

namespace {

std::atomic<bool>& stacked_flag() {
  static std::atomic<bool> on = [] {
    const char* v = std::getenv("SRA_STACKED_PROJ");
    return v != nullptr && std::string(v) == "1";
  }();
  return on;
}

}  // namespace

void set_stacked_projections(bool on) {
  stacked_flag().store(on);
}

bool stacked_projections() {
  return stacked_flag().load();
}

Tensor SelfAttention::forward(const Tensor& x, const Tensor& positions, const Selection* sel) const {
  int64_t B = x.size(0), T = x.size(1);
  // one GEMM per projection, or one for the three (column blocks of one result); each head split a view
  std::vector<Tensor> qkv = stacked_projections()
                                ? linear_stacked(x, {q_proj->weight, k_proj->weight, v_proj->weight})
                                : std::vector<Tensor>{linear(x, q_proj->weight), linear(x, k_proj->weight),
                                                      linear(x, v_proj->weight)};
  const Linear* projs[3] = {q_proj.get(), k_proj.get(), v_proj.get()};
  for (size_t i = 0; i < 3; ++i)
    if (projs[i]->bias.defined()) qkv[i] = add(qkv[i], projs[i]->bias);
  Tensor q = qkv[0].reshape({B, T, n_heads_, head_dim_}).transpose(1, 2);
  Tensor k = qkv[1].reshape({B, T, n_kv_heads_, head_dim_}).transpose(1, 2);
  Tensor v = qkv[2].reshape({B, T, n_kv_heads_, head_dim_}).transpose(1, 2);
  q = rope(q, positions, rope_theta_, rope_scaling_);
  k = rope(k, positions, rope_theta_, rope_scaling_);
  Tensor o = sel ? sparse_attention(q, k, v, sel->selected, sel->gate, window_, sinks_)
                 : attention(q, k, v, /*causal=*/true);  // (B, H, T, D)
  return o_proj->forward(o.transpose(1, 2).reshape({B, T, n_heads_ * head_dim_}));
}

SwiGLU::SwiGLU(const TransformerConfig& c, Generator& gen) {
  gate_proj = register_module("gate_proj",
                              std::make_shared<Linear>(c.d_model, c.d_ff, false, c.init_std, gen, c.dtype));
  up_proj = register_module("up_proj",
                            std::make_shared<Linear>(c.d_model, c.d_ff, false, c.init_std, gen, c.dtype));
  double out_std = c.init_std / std::sqrt(2.0 * double(c.n_layers));
  down_proj =
      register_module("down_proj", std::make_shared<Linear>(c.d_ff, c.d_model, false, out_std, gen, c.dtype));
}

Tensor SwiGLU::forward(const Tensor& x) const {
  // under bf16 autocast gate and up stay bf16 from their GEMM(s) to swiglu (which keeps them for its
  // backward); stacked: one GEMM, their two halves of one matrix
  if (!stacked_projections())
    return down_proj->forward(swiglu(gate_proj->forward_bf16_out(x), up_proj->forward_bf16_out(x)));
  std::vector<Tensor> gu = linear_stacked_bf16_out(x, {gate_proj->weight, up_proj->weight});
  return down_proj->forward(swiglu(gu[0], gu[1]));
}

DecoderLayer::DecoderLayer(const TransformerConfig& c, bool sra, bool own_router, Generator& gen)
    : sra_(sra) {
  self_attn = register_module("self_attn", std::make_shared<SelfAttention>(c, gen));
  mlp = register_module("mlp", std::make_shared<SwiGLU>(c, gen));
  input_layernorm =
      register_module("input_layernorm", std::make_shared<RMSNorm>(c.d_model, c.norm_eps, c.dtype));
  post_attention_layernorm =
      register_module("post_attention_layernorm", std::make_shared<RMSNorm>(c.d_model, c.norm_eps, c.dtype));
  if (sra && own_router) {
    router = register_module(
        "router", std::make_shared<Router>(c.d_model, c.router, c.norm_eps, c.init_std, gen, c.dtype));
  }
}

Tensor DecoderLayer::forward(const Tensor& h, const Tensor& positions, const Selection* sel) const {
  auto [a, d] = forward_parts(h, input_layernorm->forward(h), positions, sel);
  return add(a, d);
}

std::pair<Tensor, Tensor> DecoderLayer::forward_parts(const Tensor& h, const Tensor& hn,
                                                      const Tensor& positions, const Selection* sel) const {
  // the attention's residual add and the post-attention norm in one kernel (autograd/fused_ops.h)
  auto [a, normed] = add_rmsnorm(h, self_attn->forward(hn, positions, sel), post_attention_layernorm->weight,
                                 post_attention_layernorm->eps());
  return {a, mlp->forward(normed)};
}

DecoderStack::DecoderStack(const TransformerConfig& c, Generator& gen) {
  embed_tokens = register_module(
      "embed_tokens", std::make_shared<Embedding>(c.vocab_size, c.d_model, c.init_std, gen, c.dtype));
  auto list = register_module("layers", std::make_shared<LayerList>());
  for (int64_t i = 0; i < c.n_layers; ++i) {
    layers.push_back(std::make_shared<DecoderLayer>(c, c.is_sra_layer(i), !c.shared_router, gen));
    list->add(layers.back());
  }
  norm = register_module("norm", std::make_shared<RMSNorm>(c.d_model, c.norm_eps, c.dtype));
  if (c.attention == "sra" && c.shared_router) {
    router = register_module(
        "router", std::make_shared<Router>(c.d_model, c.router, c.norm_eps, c.init_std, gen, c.dtype));
  }
}

Transformer::Transformer(const TransformerConfig& c) : config_(c), router_gen_(c.seed, /*stream=*/0x50e7) {
  c.validate();
  Generator gen(c.seed, /*stream=*/0x5eed);
  model = register_module("model", std::make_shared<DecoderStack>(c, gen));
  if (!c.tie_embeddings) {
    lm_head = register_module(
        "lm_head", std::make_shared<Linear>(c.d_model, c.vocab_size, false, c.init_std, gen, c.dtype));
  }
}

Router* Transformer::router_of(size_t layer) const {
  const auto& l = model->layers[layer];
  if (!l->is_sra()) return nullptr;
  return l->router ? l->router.get() : model->router.get();
}

std::vector<Router*> Transformer::sra_routers() const {
  std::vector<Router*> out;
  for (size_t i = 0; i < model->layers.size(); ++i)
    if (Router* r = router_of(i)) out.push_back(r);
  return out;
}

ForwardOutput Transformer::run(const Tensor& ids, const Tensor& positions,
                               const std::vector<Tensor>* forced) {
  ForwardOutput out = run_hidden(ids, positions, forced);
  out.logits = head(out.hidden);
  return out;
}

Tensor Transformer::head(const Tensor& hidden) const {
  return lm_head ? lm_head->forward(hidden) : linear(hidden, model->embed_tokens->weight);
}

ForwardOutput Transformer::run_hidden(const Tensor& ids, const Tensor& positions,
                                      const std::vector<Tensor>* forced) {
  SRA_CHECK(ids.dim() == 2, "[model] ids must be (B, T), got ", shape_str(ids.shape()));
  int64_t T = ids.size(1);
  SRA_CHECK(T <= config_.max_seq_len, "[model] sequence length ", T, " exceeds max_seq_len ",
            config_.max_seq_len);
  Tensor pos = positions.defined() ? positions : default_positions(T, model->embed_tokens->weight.device());
  ForwardOutput out;
  // The residual stream h and its norm hn for the next layer: each layer's output a + d is added in one
  // kernel with the norm after it (add_rmsnorm: add + rmsnorm's bits), the last with the final norm.
  const auto& layers = model->layers;
  Tensor h = model->embed_tokens->forward(ids);
  Tensor hn = layers.empty() ? model->norm->forward(h) : layers[0]->input_layernorm->forward(h);
  auto next_norm = [&](size_t i, const std::pair<Tensor, Tensor>& ad) {
    const RMSNorm& n = i + 1 < layers.size() ? *layers[i + 1]->input_layernorm : *model->norm;
    std::tie(h, hn) = add_rmsnorm(ad.first, ad.second, n.weight, n.eps());
  };
  std::vector<ThresholdStats> stats;  // per SRA layer
  size_t sra_index = 0;
  for (size_t i = 0; i < layers.size(); ++i) {
    Router* r = all_dense_ ? nullptr : router_of(i);
    if (!r) {
      next_norm(i, layers[i]->forward_parts(h, hn, pos));
      continue;
    }
    Selection sel;
    if (forced) {
      SRA_CHECK(sra_index < forced->size(), "[model] forced selections: ", forced->size(),
                " given, the model has more SRA layers");
      sel = r->forced_select(h, (*forced)[sra_index]);
    } else {
      sel = r->select(h, router_gen_);
    }
    ++sra_index;
    next_norm(i, layers[i]->forward_parts(h, hn, pos, &sel));
    Tensor b = r->budget_loss(sel);
    out.budget_loss = out.budget_loss.defined() ? add(out.budget_loss, b) : b;
    stats.push_back({sel.ratio, sel.quantile});
    out.selections.push_back(std::move(sel));
  }
  SRA_CHECK(!forced || all_dense_ || forced->size() == sra_index,
            "[model] forced selections: ", forced ? forced->size() : 0, " given for ", sra_index,
            " SRA layers");
  out.hidden = hn;  // model->norm(h)
  {
    NoGradGuard g;  // Σ ratio / L in layer order, as the host would add the doubles
    out.selected_ratio = Tensor::zeros({}, DType::f64, h.device());
    for (const ThresholdStats& st : stats)
      out.selected_ratio = add(out.selected_ratio, div(st.ratio, double(stats.size())));
  }
  if (is_training()) last_stats_ = std::move(stats);
  last_ratio_ = out.selected_ratio;
  return out;
}

const Tensor& Transformer::default_positions(int64_t T, Device device) {
  if (!positions_.defined() || positions_.size(0) != T || positions_.device() != device)
    positions_ = Tensor::arange(T).to(device);
  return positions_;
}

Tensor Transformer::loss(const Tensor& ids) {
  int64_t T = ids.size(1) - 1;
  SRA_CHECK(ids.dim() == 2 && T >= 1, "[model] loss needs (B, T+1) ids with T >= 1, got ",
            shape_str(ids.shape()));
  return loss(ids.slice(1, 0, T).contiguous(), ids.slice(1, 1, T + 1).contiguous());
}

Tensor Transformer::loss(const Tensor& inputs, const Tensor& targets, int64_t ignore_index) {
  SRA_CHECK(targets.shape() == inputs.shape(), "[model] targets ", shape_str(targets.shape()),
            " do not match inputs ", shape_str(inputs.shape()));
  ForwardOutput out = run_hidden(inputs);
  Tensor t = targets.reshape({-1});
  Tensor ce;
  if (fused_loss_ && !(lm_head && lm_head->bias.defined())) {
    const Tensor& w = lm_head ? lm_head->weight : model->embed_tokens->weight;
    ce = linear_cross_entropy(out.hidden.reshape({-1, config_.d_model}), w, t, ignore_index);
  } else {
    ce = cross_entropy(head(out.hidden).reshape({-1, config_.vocab_size}), t, ignore_index);
  }
  return out.budget_loss.defined() ? add(ce, out.budget_loss) : ce;
}

void Transformer::update_thresholds() {
  if (model->router && !last_stats_.empty()) {  // one shared router: one update with the means
    NoGradGuard g;
    const double n = double(last_stats_.size());
    const Device dev = last_stats_[0].ratio.device();
    ThresholdStats mean{Tensor::zeros({}, DType::f64, dev), Tensor()};
    if (last_stats_[0].quantile.defined()) mean.quantile = Tensor::zeros({}, DType::f64, dev);
    for (const ThresholdStats& st : last_stats_) {
      mean.ratio = add(mean.ratio, div(st.ratio, n));
      if (mean.quantile.defined()) mean.quantile = add(mean.quantile, div(st.quantile, n));
    }
    model->router->update_threshold(mean.ratio, mean.quantile);
  } else {
    size_t k = 0;
    for (size_t i = 0; i < model->layers.size() && k < last_stats_.size(); ++i) {
      if (Router* r = router_of(i)) {
        r->update_threshold(last_stats_[k].ratio, last_stats_[k].quantile);
        ++k;
      }
    }
  }
  last_stats_.clear();
}

}  // namespace sra
