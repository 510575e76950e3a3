// Generation with a KV cache (see generate.h): full-forward prefill, batched decode steps, sampling,
// stopping.
#include "model/generate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

#include "autograd/sparse_attention.h"

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

std::vector<StepResult> decode_batch(Transformer& m, const std::vector<KVCache*>& caches,
                                     const std::vector<int64_t>& tokens, bool want_logits,
                                     const SelectionFn* select, const std::vector<size_t>* sequences) {
  SRA_CHECK(!m.is_training(), "[generate] the model must be in eval mode (call eval())");
  const TransformerConfig& c = m.config();
  const int64_t B = int64_t(tokens.size());
  SRA_CHECK(B >= 1 && caches.size() == tokens.size(), "[generate] decode_batch: ", caches.size(),
            " caches for ", tokens.size(), " tokens");
  SRA_CHECK(!sequences || sequences->size() == tokens.size(), "[generate] decode_batch: ", sequences->size(),
            " sequence indices for ", tokens.size(), " tokens");
  std::vector<int64_t> positions(size_t(B), 0);
  for (int64_t b = 0; b < B; ++b) {
    const int64_t token = tokens[size_t(b)];
    SRA_CHECK(token >= 0 && token < c.vocab_size, "[generate] token ", token, " out of range for vocab ",
              c.vocab_size);
    KVCache* cache = caches[size_t(b)];
    SRA_CHECK(cache != nullptr, "[generate] decode_batch: null cache");
    SRA_CHECK(cache->n_layers() == m.model->layers.size(), "[generate] the cache has ", cache->n_layers(),
              " layers, the model ", m.model->layers.size());
    for (int64_t o = 0; o < b; ++o)
      SRA_CHECK(caches[size_t(o)] != cache, "[generate] decode_batch: the same cache is given twice");
    positions[size_t(b)] = cache->length();
  }
  NoGradGuard ng;
  const int64_t H = c.n_heads, Hkv = c.n_kv_heads, D = c.head_dim(), C = c.d_model;
  std::vector<StepResult> r(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) {
    r[size_t(b)].audit.position = positions[size_t(b)];
    r[size_t(b)].audit.token = tokens[size_t(b)];
  }
  Tensor pos = Tensor::from_vector(positions, {B, 1});
  Tensor h = m.model->embed_tokens->forward(Tensor::from_vector(tokens, {B, 1}));  // (B, 1, C)
  std::vector<std::vector<int64_t>> keys(static_cast<size_t>(B),
                                         std::vector<int64_t>(m.model->layers.size()));
  std::vector<uint8_t> critical(static_cast<size_t>(B), 0);
  size_t sra_index = 0;
  for (size_t i = 0; i < m.model->layers.size(); ++i) {
    const DecoderLayer& layer = *m.model->layers[i];
    std::fill(critical.begin(), critical.end(), uint8_t(0));
    if (Router* router = router_of(m, i)) {
      std::vector<double> s = router->scores(h).to_vector<double>();  // (B, 1)
      for (int64_t b = 0; b < B; ++b) {
        bool z;
        if (select && *select) {
          SelectionContext ctx;
          ctx.sequence = sequences ? (*sequences)[size_t(b)] : size_t(b);
          ctx.sra_layer = sra_index;
          ctx.position = positions[size_t(b)];
          ctx.score = s[size_t(b)];
          ctx.threshold = router->threshold();
          ctx.temperature = router->config().temperature;
          z = (*select)(ctx);
        } else {
          z = s[size_t(b)] > router->threshold();
        }
        critical[size_t(b)] = z ? 1 : 0;
        r[size_t(b)].audit.scores.push_back(s[size_t(b)]);
        r[size_t(b)].audit.critical.push_back(critical[size_t(b)]);
      }
      ++sra_index;
    }
    const SelfAttention& at = *layer.self_attn;
    Tensor x = layer.input_layernorm->forward(h);
    Tensor q = rope(at.q_proj->forward(x).reshape({B, 1, H, D}).transpose(1, 2), pos, c.rope_theta);
    Tensor k = rope(at.k_proj->forward(x).reshape({B, 1, Hkv, D}).transpose(1, 2), pos, c.rope_theta);
    Tensor v = at.v_proj->forward(x).reshape({B, 1, Hkv, D}).transpose(1, 2);
    std::vector<Tensor> outs;
    outs.reserve(size_t(B));
    for (int64_t b = 0; b < B; ++b) {
      LayerKVCache& lc = caches[size_t(b)]->layer(i);
      lc.append(positions[size_t(b)], k.narrow(0, b, 1), v.narrow(0, b, 1), critical[size_t(b)] != 0);
      keys[size_t(b)][i] = lc.size();
      auto [K, V] = lc.keys_values();
      // (1, H, 1, D): every cached key is attended
      outs.push_back(attention(q.narrow(0, b, 1), K, V, /*causal=*/false));
    }
    Tensor o = B == 1 ? outs[0] : concat(outs, 0);  // (B, H, 1, D)
    Tensor a = add(h, at.o_proj->forward(o.transpose(1, 2).reshape({B, 1, C})));
    h = add(a, layer.mlp->forward(layer.post_attention_layernorm->forward(a)));
  }
  for (int64_t b = 0; b < B; ++b) {
    caches[size_t(b)]->advance();
    r[size_t(b)].macs = token_macs(c, keys[size_t(b)], want_logits);
  }
  if (want_logits) {
    Tensor hn = m.model->norm->forward(h);
    Tensor logits = m.lm_head ? m.lm_head->forward(hn) : linear(hn, m.model->embed_tokens->weight);
    std::vector<double> all = logits.to_vector<double>();  // (B, 1, V)
    const size_t V = size_t(c.vocab_size);
    for (size_t b = 0; b < size_t(B); ++b)
      r[b].logits.assign(all.begin() + int64_t(b * V), all.begin() + int64_t((b + 1) * V));
  }
  return r;
}

StepResult decode_step(Transformer& m, KVCache& cache, int64_t token, bool want_logits,
                       const SelectionFn* select, size_t sequence) {
  std::vector<size_t> seq = {sequence};
  return std::move(decode_batch(m, {&cache}, {token}, want_logits, select, &seq)[0]);
}

namespace {

// One full forward pass over the prompt on an empty cache (the ops of Transformer::run in eval mode),
// keeping each layer's post-RoPE k, v and selection for the cache.
StepResult prefill_forward(Transformer& m, KVCache& cache, const std::vector<int64_t>& prompt,
                           std::vector<TokenAudit>* audit, MacCount* macs, const SelectionFn* select,
                           size_t sequence) {
  const TransformerConfig& c = m.config();
  const int64_t T = int64_t(prompt.size()), H = c.n_heads, Hkv = c.n_kv_heads, D = c.head_dim(),
                C = c.d_model;
  const size_t L = m.model->layers.size();
  for (int64_t id : prompt)
    SRA_CHECK(id >= 0 && id < c.vocab_size, "[generate] token ", id, " out of range for vocab ",
              c.vocab_size);
  NoGradGuard ng;
  Tensor pos = Tensor::arange(T);
  Tensor h = m.model->embed_tokens->forward(Tensor::from_vector(prompt, {1, T}));  // (1, T, C)
  std::vector<TokenAudit> tokens(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) {
    tokens[size_t(t)].position = t;
    tokens[size_t(t)].token = prompt[size_t(t)];
  }
  std::vector<std::vector<int64_t>> keys(static_cast<size_t>(T), std::vector<int64_t>(L));
  size_t sra_index = 0;
  for (size_t i = 0; i < L; ++i) {
    const DecoderLayer& layer = *m.model->layers[i];
    const SelfAttention& at = *layer.self_attn;
    Router* router = router_of(m, i);
    Tensor z;
    std::vector<uint8_t> zv(static_cast<size_t>(T), 0);
    if (router) {
      Tensor s = router->scores(h);  // (1, T)
      std::vector<double> sv = s.to_vector<double>();
      if (select && *select) {
        SelectionContext ctx;
        ctx.sequence = sequence;
        ctx.sra_layer = sra_index;
        ctx.threshold = router->threshold();
        ctx.temperature = router->config().temperature;
        for (int64_t t = 0; t < T; ++t) {
          ctx.position = t;
          ctx.score = sv[size_t(t)];
          zv[size_t(t)] = (*select)(ctx) ? 1 : 0;
        }
        z = Tensor::from_vector(zv, {1, T});
      } else {
        z = gt(s, router->threshold());
        zv = z.to_vector<uint8_t>();
      }
      for (int64_t t = 0; t < T; ++t) {
        tokens[size_t(t)].scores.push_back(sv[size_t(t)]);
        tokens[size_t(t)].critical.push_back(zv[size_t(t)] ? 1 : 0);
      }
      ++sra_index;
    }
    Tensor x = layer.input_layernorm->forward(h);
    Tensor q = rope(at.q_proj->forward(x).reshape({1, T, H, D}).transpose(1, 2), pos, c.rope_theta);
    Tensor k = rope(at.k_proj->forward(x).reshape({1, T, Hkv, D}).transpose(1, 2), pos, c.rope_theta);
    Tensor v = at.v_proj->forward(x).reshape({1, T, Hkv, D}).transpose(1, 2);
    Tensor o = router ? sparse_attention(q, k, v, z, cast(z, q.dtype()), c.window, c.sinks)
                      : attention(q, k, v, /*causal=*/true);  // (1, H, T, D)
    LayerKVCache& lc = cache.layer(i);
    for (int64_t t = 0; t < T; ++t) {
      lc.append(t, k.narrow(2, t, 1), v.narrow(2, t, 1), zv[size_t(t)] != 0);
      keys[size_t(t)][i] = lc.size();
    }
    Tensor a = add(h, at.o_proj->forward(o.transpose(1, 2).reshape({1, T, C})));
    h = add(a, layer.mlp->forward(layer.post_attention_layernorm->forward(a)));
  }
  StepResult last;
  for (int64_t t = 0; t < T; ++t) {
    cache.advance();
    MacCount mc = token_macs(c, keys[size_t(t)], t + 1 == T);
    if (macs) *macs += mc;
    if (t + 1 == T) last.macs = mc;
  }
  Tensor hn = m.model->norm->forward(h.narrow(1, T - 1, 1));
  Tensor logits = m.lm_head ? m.lm_head->forward(hn) : linear(hn, m.model->embed_tokens->weight);
  last.logits = logits.to_vector<double>();
  last.audit = tokens.back();
  if (audit)
    audit->insert(audit->end(), std::make_move_iterator(tokens.begin()),
                  std::make_move_iterator(tokens.end()));
  return last;
}

}  // namespace

StepResult prefill(Transformer& m, KVCache& cache, const std::vector<int64_t>& prompt,
                   std::vector<TokenAudit>* audit, MacCount* macs, const SelectionFn* select,
                   size_t sequence) {
  SRA_CHECK(!prompt.empty(), "[generate] empty prompt");
  SRA_CHECK(!m.is_training(), "[generate] the model must be in eval mode (call eval())");
  SRA_CHECK(cache.n_layers() == m.model->layers.size(), "[generate] the cache has ", cache.n_layers(),
            " layers, the model ", m.model->layers.size());
  if (!(select && *select) && cache.length() == 0)
    return prefill_forward(m, cache, prompt, audit, macs, nullptr, sequence);
  StepResult last;
  for (size_t i = 0; i < prompt.size(); ++i) {
    last = decode_step(m, cache, prompt[i], i + 1 == prompt.size(), select, sequence);
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

namespace {

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// One generated token for sequence r: true when it ends the sequence (eos, stop, or the token limit).
bool accept_token(SequenceResult& r, size_t sequence, int64_t tok, const GenerateConfig& cfg) {
  r.ids.push_back(tok);
  if (cfg.on_token) cfg.on_token(sequence, tok);
  if (cfg.eos_id >= 0 && tok == cfg.eos_id) {
    r.finish_reason = "eos";
    return true;
  }
  bool stop = false;
  for (const auto& seq : cfg.stop_sequences) stop = stop || ends_with(r.ids, seq);
  if (!stop && !cfg.stop_strings.empty()) {
    std::string text = cfg.decode(r.ids);
    for (const auto& s : cfg.stop_strings) stop = stop || (!s.empty() && text.find(s) != std::string::npos);
  }
  if (stop) {
    r.finish_reason = "stop";
    return true;
  }
  return int64_t(r.ids.size()) >= cfg.max_new_tokens;
}

// The prompts first .. first + n - 1: each prefilled alone, then decoded together (or, with a
// SelectionFn, each generated alone, token by token).
void generate_group(Transformer& m, const std::vector<std::vector<int64_t>>& prompts, size_t first, size_t n,
                    const GenerateConfig& cfg, std::vector<SequenceResult>& out) {
  using clock = std::chrono::steady_clock;
  const SelectionFn* select = cfg.select ? &cfg.select : nullptr;
  std::vector<KVCache> caches;
  caches.reserve(n);
  std::vector<Generator> gens;
  std::vector<StepResult> steps(n);
  std::vector<size_t> active;
  for (size_t j = 0; j < n; ++j) {
    const size_t b = first + j;
    SequenceResult& r = out[b];
    r.prompt_length = int64_t(prompts[b].size());
    r.finish_reason = "length";
    caches.emplace_back(m.config());
    gens.emplace_back(cfg.sampling.seed, /*stream=*/b);
    auto t0 = clock::now();
    if (select && cfg.select_stateless) {
      SRA_CHECK(!prompts[b].empty(), "[generate] empty prompt");
      SRA_CHECK(!m.is_training(), "[generate] the model must be in eval mode (call eval())");
      steps[j] = prefill_forward(m, caches[j], prompts[b], &r.audit, &r.prefill_macs, select, b);
    } else {
      steps[j] = prefill(m, caches[j], prompts[b], &r.audit, &r.prefill_macs, select, b);
    }
    r.prefill_ms = ms_since(t0);
    if (cfg.max_new_tokens == 0) continue;
    if (!accept_token(r, b, sample_token(steps[j].logits, cfg.sampling, gens[j]), cfg)) active.push_back(j);
  }
  while (!active.empty()) {
    std::vector<KVCache*> cs;
    std::vector<int64_t> toks;
    std::vector<size_t> seqs;
    for (size_t j : active) {
      cs.push_back(&caches[j]);
      toks.push_back(out[first + j].ids.back());
      seqs.push_back(first + j);
    }
    auto t0 = clock::now();
    std::vector<StepResult> res = decode_batch(m, cs, toks, true, select, &seqs);
    double dt = ms_since(t0);
    std::vector<size_t> still;
    for (size_t a = 0; a < active.size(); ++a) {
      const size_t j = active[a];
      SequenceResult& r = out[first + j];
      r.decode_ms += dt;
      r.audit.push_back(res[a].audit);
      r.decode_macs += res[a].macs;
      if (!accept_token(r, first + j, sample_token(res[a].logits, cfg.sampling, gens[j]), cfg))
        still.push_back(j);
    }
    active.swap(still);
  }
  for (size_t j = 0; j < n; ++j) out[first + j].cache_bytes = caches[j].bytes();
}

}  // namespace

std::vector<SequenceResult> generate(Transformer& m, const std::vector<std::vector<int64_t>>& prompts,
                                     const GenerateConfig& cfg) {
  SRA_CHECK(cfg.max_new_tokens >= 0, "[generate] max_new_tokens must be >= 0, got ", cfg.max_new_tokens);
  SRA_CHECK(cfg.batch >= 0, "[generate] batch must be >= 0, got ", cfg.batch);
  SRA_CHECK(cfg.stop_strings.empty() || cfg.decode, "[generate] stop_strings need a decode function");
  SRA_CHECK(cfg.sampling.temperature >= 0, "[generate] temperature must be >= 0, got ",
            cfg.sampling.temperature);
  EvalScope scope(m);
  NoGradGuard ng;
  std::vector<SequenceResult> out(prompts.size());
  // With an order-dependent SelectionFn every sequence runs alone: the hook sees them one after the other.
  const size_t group = cfg.select && !cfg.select_stateless ? 1
                       : cfg.batch == 0                    ? std::max<size_t>(1, prompts.size())
                                                           : size_t(cfg.batch);
  for (size_t first = 0; first < prompts.size(); first += group)
    generate_group(m, prompts, first, std::min(group, prompts.size() - first), cfg, out);
  return out;
}

}  // namespace sra
