// Generation with a KV cache (see generate.h): one decode step per token, sampling, stopping rules.
#include "model/generate.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace sra {

namespace {

Router* router_of(Transformer& m, size_t layer) {
  const auto& l = m.model->layers[layer];
  if (!l->is_sra()) return nullptr;
  return l->router ? l->router.get() : m.model->router.get();
}

// Restores the training mode on scope exit.
struct EvalScope {
  Transformer& m;
  bool was_training;
  explicit EvalScope(Transformer& mm) : m(mm), was_training(mm.is_training()) { m.eval(); }
  ~EvalScope() { m.train(was_training); }
};

bool ends_with(const std::vector<int64_t>& ids, const std::vector<int64_t>& tail) {
  if (tail.empty() || tail.size() > ids.size()) return false;
  return std::equal(tail.begin(), tail.end(), ids.end() - int64_t(tail.size()));
}

}  // namespace

StepResult decode_step(Transformer& m, KVCache& cache, int64_t token, bool want_logits) {
  SRA_CHECK(!m.is_training(), "[generate] the model must be in eval mode (call eval())");
  const TransformerConfig& c = m.config();
  SRA_CHECK(token >= 0 && token < c.vocab_size, "[generate] token ", token, " out of range for vocab ",
            c.vocab_size);
  SRA_CHECK(cache.n_layers() == m.model->layers.size(), "[generate] the cache has ", cache.n_layers(),
            " layers, the model ", m.model->layers.size());
  NoGradGuard ng;
  const int64_t t = cache.length(), H = c.n_heads, Hkv = c.n_kv_heads, D = c.head_dim(), C = c.d_model;
  StepResult r;
  r.audit.position = t;
  r.audit.token = token;
  Tensor pos = Tensor::from_vector(std::vector<int64_t>{t}, {1});
  Tensor h = m.model->embed_tokens->forward(Tensor::from_vector(std::vector<int64_t>{token}, {1, 1}));
  std::vector<int64_t> keys(m.model->layers.size());
  for (size_t i = 0; i < m.model->layers.size(); ++i) {
    const DecoderLayer& layer = *m.model->layers[i];
    bool critical = false;
    if (Router* router = router_of(m, i)) {
      double s = router->scores(h).item();
      critical = s > router->threshold();
      r.audit.scores.push_back(s);
      r.audit.critical.push_back(critical ? 1 : 0);
    }
    const SelfAttention& at = *layer.self_attn;
    Tensor x = layer.input_layernorm->forward(h);
    Tensor q = rope(at.q_proj->forward(x).reshape({1, 1, H, D}).transpose(1, 2), pos, c.rope_theta);
    Tensor k = rope(at.k_proj->forward(x).reshape({1, 1, Hkv, D}).transpose(1, 2), pos, c.rope_theta);
    Tensor v = at.v_proj->forward(x).reshape({1, 1, Hkv, D}).transpose(1, 2);
    LayerKVCache& lc = cache.layer(i);
    lc.append(t, k, v, critical);
    keys[i] = lc.size();
    auto [K, V] = lc.keys_values();
    Tensor o = attention(q, K, V, /*causal=*/false);  // (1, H, 1, D): every cached key is attended
    Tensor a = add(h, at.o_proj->forward(o.transpose(1, 2).reshape({1, 1, C})));
    h = add(a, layer.mlp->forward(layer.post_attention_layernorm->forward(a)));
  }
  cache.advance();
  r.macs = token_macs(c, keys, want_logits);
  if (want_logits) {
    Tensor hn = m.model->norm->forward(h);
    Tensor logits = m.lm_head ? m.lm_head->forward(hn) : linear(hn, m.model->embed_tokens->weight);
    r.logits = logits.to_vector<double>();
  }
  return r;
}

StepResult prefill(Transformer& m, KVCache& cache, const std::vector<int64_t>& prompt,
                   std::vector<TokenAudit>* audit, MacCount* macs) {
  SRA_CHECK(!prompt.empty(), "[generate] empty prompt");
  StepResult last;
  for (size_t i = 0; i < prompt.size(); ++i) {
    last = decode_step(m, cache, prompt[i], i + 1 == prompt.size());
    if (audit) audit->push_back(last.audit);
    if (macs) *macs += last.macs;
  }
  return last;
}

std::vector<double> sampling_distribution(const std::vector<double>& logits, const SamplingConfig& s) {
  SRA_CHECK(s.temperature > 0, "[generate] sampling needs temperature > 0, got ", s.temperature);
  SRA_CHECK(s.top_k >= 0, "[generate] top_k must be >= 0, got ", s.top_k);
  SRA_CHECK(s.top_p > 0 && s.top_p <= 1, "[generate] top_p must be in (0, 1], got ", s.top_p);
  SRA_CHECK(!logits.empty(), "[generate] empty logits");
  const size_t n = logits.size();
  double mx = *std::max_element(logits.begin(), logits.end());
  std::vector<double> p(n);
  double z = 0;
  for (size_t i = 0; i < n; ++i) z += p[i] = std::exp((logits[i] - mx) / s.temperature);
  for (double& x : p) x /= z;
  // Most likely first; ties: lower id first.
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t(0));
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return p[a] > p[b]; });
  size_t keep = n;
  if (s.top_k > 0) keep = std::min(keep, size_t(s.top_k));
  if (s.top_p < 1) {
    double mass = 0;
    for (size_t i = 0; i < keep; ++i) mass += p[order[i]];
    double cum = 0;
    for (size_t i = 0; i < keep; ++i) {
      cum += p[order[i]];
      if (cum >= s.top_p * mass) {  // top-p of the top-k renormalised distribution
        keep = i + 1;
        break;
      }
    }
  }
  std::vector<double> q(n, 0.0);
  double kept = 0;
  for (size_t i = 0; i < keep; ++i) kept += p[order[i]];
  for (size_t i = 0; i < keep; ++i) q[order[i]] = p[order[i]] / kept;
  return q;
}

int64_t sample_token(const std::vector<double>& logits, const SamplingConfig& s, Generator& gen) {
  if (s.temperature == 0) {
    SRA_CHECK(!logits.empty(), "[generate] empty logits");
    return int64_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
  }
  std::vector<double> q = sampling_distribution(logits, s);
  double u = gen.next_uniform(), cum = 0;
  int64_t last = 0;
  for (size_t i = 0; i < q.size(); ++i) {
    if (q[i] <= 0) continue;
    last = int64_t(i);
    cum += q[i];
    if (u < cum) return int64_t(i);
  }
  return last;  // rounding: u above the accumulated mass
}

std::vector<SequenceResult> generate(Transformer& m, const std::vector<std::vector<int64_t>>& prompts,
                                     const GenerateConfig& cfg) {
  SRA_CHECK(cfg.max_new_tokens >= 0, "[generate] max_new_tokens must be >= 0, got ", cfg.max_new_tokens);
  SRA_CHECK(cfg.stop_strings.empty() || cfg.decode, "[generate] stop_strings need a decode function");
  SRA_CHECK(cfg.sampling.temperature >= 0, "[generate] temperature must be >= 0, got ",
            cfg.sampling.temperature);
  EvalScope scope(m);
  NoGradGuard ng;
  std::vector<SequenceResult> out;
  for (size_t b = 0; b < prompts.size(); ++b) {
    SequenceResult r;
    r.prompt_length = int64_t(prompts[b].size());
    KVCache cache(m.config());
    Generator gen(cfg.sampling.seed, /*stream=*/b);
    StepResult step = prefill(m, cache, prompts[b], &r.audit, &r.prefill_macs);
    r.finish_reason = "length";
    for (int64_t n = 0; n < cfg.max_new_tokens; ++n) {
      int64_t tok = sample_token(step.logits, cfg.sampling, gen);
      r.ids.push_back(tok);
      if (cfg.eos_id >= 0 && tok == cfg.eos_id) {
        r.finish_reason = "eos";
        break;
      }
      bool stop = false;
      for (const auto& seq : cfg.stop_sequences) stop = stop || ends_with(r.ids, seq);
      if (!stop && !cfg.stop_strings.empty()) {
        std::string text = cfg.decode(r.ids);
        for (const auto& s : cfg.stop_strings)
          stop = stop || (!s.empty() && text.find(s) != std::string::npos);
      }
      if (stop) {
        r.finish_reason = "stop";
        break;
      }
      if (n + 1 == cfg.max_new_tokens) break;
      step = decode_step(m, cache, tok);
      r.audit.push_back(step.audit);
      r.decode_macs += step.macs;
    }
    r.cache_bytes = cache.bytes();
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace sra
