// Generation with a KV cache (see generate.h): full-forward prefill, batched decode steps, sampling,
// stopping.
#include "model/generate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <tuple>

#include "autograd/fused_ops.h"
#include "autograd/sparse_attention.h"
#include "core/strided_copy.h"

namespace sra {

namespace {

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

// The model's device and each layer's router with its θ and τ, read once per call (θ is a buffer on the
// model's device).
struct Routing {
  Device device;
  std::vector<Router*> router;     // per layer; null for dense layers
  std::vector<double> theta, tau;  // per layer (0 for dense layers)
};

// read_theta false: θ is left empty, to be read back with a decode step's scores (decode_rows), so that a
// step makes one host read instead of one more per SRA layer.
Routing routing_of(Transformer& m, bool read_theta = true) {
  Routing rt;
  rt.device = model_device(m);
  for (size_t i = 0; i < m.model->layers.size(); ++i) {
    Router* r = m.router_of(i);
    rt.router.push_back(r);
    if (read_theta) rt.theta.push_back(r ? r->threshold() : 0.0);
    rt.tau.push_back(r ? r->config().temperature : 0.0);
  }
  return rt;
}

// What a step reads back after the routers' scores: nothing, the logits, or only their argmax per row.
enum class Want { nothing, logits, greedy };

// B rows of one decode step, or a prefill (B = 1).
struct Rows {
  std::vector<StepResult> steps;  // audits, multiply-adds; logits with Want::logits
  std::vector<int64_t> greedy;    // Want::greedy: the logits' argmax (lowest id on ties)
};

// Logits (B, V) of the last hidden states h (B, 1, C).
Tensor lm_logits(Transformer& m, const Tensor& h) {
  Tensor hn = m.model->norm->forward(h);
  Tensor logits = m.lm_head ? m.lm_head->forward(hn) : linear(hn, m.model->embed_tokens->weight);
  return logits.reshape({h.size(0), m.config().vocab_size});
}

// The tensor a step reads back for `want` (not nothing): the logits or their argmax.
Tensor payload(const Tensor& logits, Want want) {
  return want == Want::greedy ? argmax(logits, 1) : logits;
}

// Puts the read-back payload (B·V logits or B ids) into rows.
void take_payload(const std::vector<double>& values, Want want, Rows& rows) {
  const size_t B = rows.steps.size(), V = values.size() / B;
  for (size_t b = 0; b < B; ++b) {
    if (want == Want::greedy)
      rows.greedy.push_back(int64_t(values[b]));
    else
      rows.steps[b].logits.assign(values.begin() + int64_t(b * V), values.begin() + int64_t((b + 1) * V));
  }
}

void check_rows(Transformer& m, const std::vector<KVCache*>& caches, const std::vector<int64_t>& tokens,
                const std::vector<size_t>* sequences) {
  SRA_CHECK(!m.is_training(), "[generate] the model must be in eval mode (call eval())");
  const TransformerConfig& c = m.config();
  SRA_CHECK(!tokens.empty() && caches.size() == tokens.size(), "[generate] decode_batch: ", caches.size(),
            " caches for ", tokens.size(), " tokens");
  SRA_CHECK(!sequences || sequences->size() == tokens.size(), "[generate] decode_batch: ", sequences->size(),
            " sequence indices for ", tokens.size(), " tokens");
  for (size_t b = 0; b < tokens.size(); ++b) {
    SRA_CHECK(tokens[b] >= 0 && tokens[b] < c.vocab_size, "[generate] token ", tokens[b],
              " out of range for vocab ", c.vocab_size);
    SRA_CHECK(caches[b] != nullptr, "[generate] decode_batch: null cache");
    SRA_CHECK(caches[b]->n_layers() == m.model->layers.size(), "[generate] the cache has ",
              caches[b]->n_layers(), " layers, the model ", m.model->layers.size());
    for (size_t o = 0; o < b; ++o)
      SRA_CHECK(caches[o] != caches[b], "[generate] decode_batch: the same cache is given twice");
  }
}

// z of row b's newest token in every SRA layer, from the scores read back after the step (the newest
// token is inside its own window, so z matters from a later step on): set in the caches and the audits.
void decide_rows(const Routing& rt, const std::vector<std::vector<double>>& scores,
                 const std::vector<KVCache*>& caches, const SelectionFn* select,
                 const std::vector<size_t>* sequences, Rows& rows) {
  size_t k = 0;
  for (size_t i = 0; i < rt.router.size(); ++i) {
    if (!rt.router[i]) continue;
    const std::vector<double>& s = scores[k];
    for (size_t b = 0; b < rows.steps.size(); ++b) {
      bool z;
      if (select && *select) {
        SelectionContext ctx;
        ctx.sequence = sequences ? (*sequences)[b] : b;
        ctx.sra_layer = k;
        ctx.position = rows.steps[b].audit.position;
        ctx.score = s[b];
        ctx.threshold = rt.theta[i];
        ctx.temperature = rt.tau[i];
        z = (*select)(ctx);
      } else {
        z = s[b] > rt.theta[i];
      }
      caches[b]->layer(i).set_critical(z);
      rows.steps[b].audit.scores.push_back(s[b]);
      rows.steps[b].audit.critical.push_back(z ? 1 : 0);
    }
    ++k;
  }
}

// tokens[b] at position caches[b]->length() for every b, on the model's device; one read back at the end
// (with every router's θ when rt.theta is empty).
Rows decode_rows(Transformer& m, const Routing& rt_in, const std::vector<KVCache*>& caches,
                 const std::vector<int64_t>& tokens, Want want, const SelectionFn* select,
                 const std::vector<size_t>* sequences) {
  check_rows(m, caches, tokens, sequences);
  const TransformerConfig& c = m.config();
  const int64_t B = int64_t(tokens.size()), H = c.n_heads, Hkv = c.n_kv_heads, D = c.head_dim(),
                C = c.d_model;
  const size_t L = m.model->layers.size();
  Routing rt = rt_in;
  const bool theta_later = rt.theta.empty();
  NoGradGuard ng;
  Rows rows;
  rows.steps.resize(size_t(B));
  std::vector<int64_t> host = tokens;  // ids, then positions: one host-to-device copy
  for (int64_t b = 0; b < B; ++b) {
    rows.steps[size_t(b)].audit.position = caches[size_t(b)]->length();
    rows.steps[size_t(b)].audit.token = tokens[size_t(b)];
    host.push_back(caches[size_t(b)]->length());
  }
  const Tensor both = Tensor::from_vector(host, {2, B}).to(rt.device);
  const Tensor pos = both.narrow(0, 1, 1).reshape({B, 1});
  Tensor h = m.model->embed_tokens->forward(both.narrow(0, 0, 1).reshape({B, 1}));  // (B, 1, C)
  Tensor x = m.model->layers[0]->input_layernorm->forward(h);  // each layer's normed input, h its residual
  std::vector<std::vector<int64_t>> keys(static_cast<size_t>(B), std::vector<int64_t>(L));
  std::vector<Tensor> reads;  // every SRA layer's scores (B, 1), then the payload
  for (size_t i = 0; i < L; ++i) {
    const DecoderLayer& layer = *m.model->layers[i];
    if (rt.router[i]) reads.push_back(rt.router[i]->decode_scores(h));
    const SelfAttention& at = *layer.self_attn;
    Tensor q = rope(at.q_proj->forward(x).reshape({B, 1, H, D}).transpose(1, 2), pos, c.rope_theta,
                    c.rope_scaling.kernel());
    Tensor k = rope(at.k_proj->forward(x).reshape({B, 1, Hkv, D}).transpose(1, 2), pos, c.rope_theta,
                    c.rope_scaling.kernel());
    Tensor v = at.v_proj->forward(x).reshape({B, 1, Hkv, D}).transpose(1, 2);
    std::vector<std::array<KVPart, 2>> parts(static_cast<size_t>(B));
    std::vector<Tensor> dst, src;                  // every row's k and v into its cache: one batched copy
    std::vector<std::pair<Tensor, Tensor>> moves;  // critical tokens leaving the window, copied before
    for (int64_t b = 0; b < B; ++b) {
      LayerKVCache& lc = caches[size_t(b)]->layer(i);
      const Tensor kb = k.narrow(0, b, 1), vb = v.narrow(0, b, 1);
      const std::pair<Tensor, Tensor> slot =
          lc.reserve_entry(rows.steps[size_t(b)].audit.position, kb, vb, &moves);
      dst.insert(dst.end(), {slot.first, slot.second});
      src.insert(src.end(), {kb.squeeze(0), vb.squeeze(0)});
      keys[size_t(b)][i] = lc.size();
      parts[size_t(b)] = lc.parts();
    }
    if (!moves.empty()) {  // before the appends, which may reuse the ring slots they read
      std::vector<Tensor> mdst, msrc;
      for (const auto& [d, s] : moves) {
        mdst.push_back(d);
        msrc.push_back(s);
      }
      copy_many(mdst, msrc);
    }
    copy_many(dst, src);
    // every cached key of each sequence is attended, one launch for the batch: (B, H, D)
    Tensor o = decode_attention(q.reshape({B, H, D}), parts);
    // the residual adds fused with the norms after them (add_rmsnorm: add + rmsnorm's bits, one launch):
    // the attention's with the post-attention norm, the MLP's with the next layer's input norm
    const RMSNorm& post = *layer.post_attention_layernorm;
    auto [a, normed] = add_rmsnorm(h, at.o_proj->forward(o.reshape({B, 1, C})), post.weight, post.eps());
    Tensor mlp = layer.mlp->forward(normed);
    if (i + 1 == L) {
      h = add(a, mlp);
    } else {
      const RMSNorm& next = *m.model->layers[i + 1]->input_layernorm;
      std::tie(h, x) = add_rmsnorm(a, mlp, next.weight, next.eps());
    }
  }
  for (int64_t b = 0; b < B; ++b) {
    caches[size_t(b)]->advance();
    rows.steps[size_t(b)].macs = token_macs(c, keys[size_t(b)], want != Want::nothing);
  }
  const size_t n_scores = reads.size();  // then θ of every layer (theta_later), then the payload
  if (theta_later)
    for (Router* r : rt.router)
      if (r) reads.push_back(r->threshold_tensor());
  if (want != Want::nothing) reads.push_back(payload(lm_logits(m, h), want));
  std::vector<std::vector<double>> back = read_back(reads);
  if (theta_later) {
    size_t k = n_scores;
    for (Router* r : rt.router) rt.theta.push_back(r ? back[k++][0] : 0.0);
  }
  decide_rows(rt, back, caches, select, sequences, rows);
  if (want != Want::nothing) take_payload(back.back(), want, rows);
  return rows;
}

// One full forward pass over the prompt on an empty cache (the ops of Transformer::run in eval mode),
// then the cache filled from each layer's post-RoPE k, v and selection. Without a SelectionFn z = 1[s > θ]
// is decided on the device and read back once at the end with the logits; with one, each SRA layer's
// scores are read back for it before the layer's attention.
Rows prefill_forward(Transformer& m, const Routing& rt, KVCache& cache, const std::vector<int64_t>& prompt,
                     std::vector<TokenAudit>* audit, MacCount* macs, const SelectionFn* select,
                     size_t sequence, Want want) {
  const TransformerConfig& c = m.config();
  const int64_t T = int64_t(prompt.size()), H = c.n_heads, Hkv = c.n_kv_heads, D = c.head_dim(),
                C = c.d_model;
  const size_t L = m.model->layers.size();
  for (int64_t id : prompt)
    SRA_CHECK(id >= 0 && id < c.vocab_size, "[generate] token ", id, " out of range for vocab ",
              c.vocab_size);
  const bool hook = select && *select;
  NoGradGuard ng;
  Tensor pos = Tensor::arange(T).to(rt.device);
  Tensor h = m.model->embed_tokens->forward(Tensor::from_vector(prompt, {1, T}).to(rt.device));  // (1, T, C)
  std::vector<Tensor> ks(L), vs(L), reads;  // reads: scores and z of the layers decided on the device
  std::vector<std::vector<double>> sv(L);   // per SRA layer: the scores (1, T)
  std::vector<std::vector<uint8_t>> zv(L, std::vector<uint8_t>(size_t(T), 0));
  size_t sra_index = 0;
  for (size_t i = 0; i < L; ++i) {
    const DecoderLayer& layer = *m.model->layers[i];
    const SelfAttention& at = *layer.self_attn;
    Router* router = rt.router[i];
    Tensor z;
    if (router) {
      Tensor s = router->scores(h);  // (1, T)
      if (hook) {
        sv[i] = s.to_vector<double>();
        SelectionContext ctx;
        ctx.sequence = sequence;
        ctx.sra_layer = sra_index;
        ctx.threshold = rt.theta[i];
        ctx.temperature = rt.tau[i];
        for (int64_t t = 0; t < T; ++t) {
          ctx.position = t;
          ctx.score = sv[i][size_t(t)];
          zv[i][size_t(t)] = (*select)(ctx) ? 1 : 0;
        }
        z = Tensor::from_vector(zv[i], {1, T}).to(rt.device);
      } else {
        z = gt(s, rt.theta[i]);
        reads.push_back(s);
        reads.push_back(z);
      }
      ++sra_index;
    }
    Tensor x = layer.input_layernorm->forward(h);
    Tensor q = rope(at.q_proj->forward(x).reshape({1, T, H, D}).transpose(1, 2), pos, c.rope_theta,
                    c.rope_scaling.kernel());
    ks[i] = rope(at.k_proj->forward(x).reshape({1, T, Hkv, D}).transpose(1, 2), pos, c.rope_theta,
                 c.rope_scaling.kernel());
    vs[i] = at.v_proj->forward(x).reshape({1, T, Hkv, D}).transpose(1, 2);
    Tensor o = router ? sparse_attention(q, ks[i], vs[i], z, cast(z, q.dtype()), c.window, c.sinks)
                      : attention(q, ks[i], vs[i], /*causal=*/true);  // (1, H, T, D)
    Tensor a = add(h, at.o_proj->forward(o.transpose(1, 2).reshape({1, T, C})));
    h = add(a, layer.mlp->forward(layer.post_attention_layernorm->forward(a)));
  }
  reads.push_back(payload(lm_logits(m, h.narrow(1, T - 1, 1)), want));
  const std::vector<std::vector<double>> back = read_back(reads);
  Rows rows;
  rows.steps.resize(1);
  take_payload(back.back(), want, rows);
  std::vector<TokenAudit> tokens(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) {
    tokens[size_t(t)].position = t;
    tokens[size_t(t)].token = prompt[size_t(t)];
  }
  std::vector<std::vector<int64_t>> keys(static_cast<size_t>(T), std::vector<int64_t>(L));
  size_t next = 0;  // the next entry of `back`
  for (size_t i = 0; i < L; ++i) {
    if (rt.router[i] && !hook) {
      sv[i] = back[next];
      for (int64_t t = 0; t < T; ++t) zv[i][size_t(t)] = back[next + 1][size_t(t)] != 0 ? 1 : 0;
      next += 2;
    }
    const std::vector<int64_t> sizes = cache.layer(i).append_prompt(ks[i], vs[i], zv[i]);
    for (int64_t t = 0; t < T; ++t) {
      keys[size_t(t)][i] = sizes[size_t(t)];
      if (!rt.router[i]) continue;
      tokens[size_t(t)].scores.push_back(sv[i][size_t(t)]);
      tokens[size_t(t)].critical.push_back(zv[i][size_t(t)]);
    }
  }
  StepResult& last = rows.steps[0];
  for (int64_t t = 0; t < T; ++t) {
    cache.advance();
    MacCount mc = token_macs(c, keys[size_t(t)], t + 1 == T);
    if (macs) *macs += mc;
    if (t + 1 == T) last.macs = mc;
  }
  last.audit = tokens.back();
  if (audit)
    audit->insert(audit->end(), std::make_move_iterator(tokens.begin()),
                  std::make_move_iterator(tokens.end()));
  return rows;
}

// Feeds the prompt and returns its last token's step (`want` not nothing): in one pass when `one_pass`
// (an empty cache), else token by token through decode_rows.
Rows feed_prompt(Transformer& m, const Routing& rt, KVCache& cache, const std::vector<int64_t>& prompt,
                 std::vector<TokenAudit>* audit, MacCount* macs, const SelectionFn* select, size_t sequence,
                 Want want, bool one_pass) {
  SRA_CHECK(!prompt.empty(), "[generate] empty prompt");
  SRA_CHECK(!m.is_training(), "[generate] the model must be in eval mode (call eval())");
  SRA_CHECK(cache.n_layers() == m.model->layers.size(), "[generate] the cache has ", cache.n_layers(),
            " layers, the model ", m.model->layers.size());
  if (one_pass) return prefill_forward(m, rt, cache, prompt, audit, macs, select, sequence, want);
  const std::vector<size_t> seq = {sequence};
  Rows last;
  for (size_t i = 0; i < prompt.size(); ++i) {
    last = decode_rows(m, rt, {&cache}, {prompt[i]}, i + 1 == prompt.size() ? want : Want::nothing, select,
                       &seq);
    if (audit) audit->push_back(last.steps[0].audit);
    if (macs) *macs += last.steps[0].macs;
  }
  return last;
}

}  // namespace

Device model_device(const Transformer& m) {
  return m.model->embed_tokens->weight.device();
}

std::vector<StepResult> decode_batch(Transformer& m, const std::vector<KVCache*>& caches,
                                     const std::vector<int64_t>& tokens, bool want_logits,
                                     const SelectionFn* select, const std::vector<size_t>* sequences) {
  const Want want = want_logits ? Want::logits : Want::nothing;
  return decode_rows(m, routing_of(m, false), caches, tokens, want, select, sequences).steps;
}

std::vector<int64_t> decode_batch_greedy(Transformer& m, const std::vector<KVCache*>& caches,
                                         const std::vector<int64_t>& tokens) {
  return decode_rows(m, routing_of(m, false), caches, tokens, Want::greedy, nullptr, nullptr).greedy;
}

StepResult decode_step(Transformer& m, KVCache& cache, int64_t token, bool want_logits,
                       const SelectionFn* select, size_t sequence) {
  std::vector<size_t> seq = {sequence};
  return std::move(decode_batch(m, {&cache}, {token}, want_logits, select, &seq)[0]);
}

StepResult prefill(Transformer& m, KVCache& cache, const std::vector<int64_t>& prompt,
                   std::vector<TokenAudit>* audit, MacCount* macs, const SelectionFn* select,
                   size_t sequence) {
  const bool one_pass = !(select && *select) && cache.length() == 0;
  return std::move(
      feed_prompt(m, routing_of(m), cache, prompt, audit, macs, select, sequence, Want::logits, one_pass)
          .steps[0]);
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
void generate_group(Transformer& m, const Routing& rt, const std::vector<std::vector<int64_t>>& prompts,
                    size_t first, size_t n, const GenerateConfig& cfg, std::vector<SequenceResult>& out) {
  using clock = std::chrono::steady_clock;
  const SelectionFn* select = cfg.select ? &cfg.select : nullptr;
  // one-pass prefill unless an order-dependent hook must see the prompt token by token
  const bool one_pass = !select || cfg.select_stateless;
  // greedy: only the argmax of each row's logits comes back to the host
  const Want want = cfg.sampling.temperature == 0 ? Want::greedy : Want::logits;
  std::vector<KVCache> caches;
  caches.reserve(n);
  std::vector<Generator> gens;
  std::vector<size_t> active;
  auto choose = [&](const Rows& rows, size_t row, size_t j) {
    return want == Want::greedy ? rows.greedy[row]
                                : sample_token(rows.steps[row].logits, cfg.sampling, gens[j]);
  };
  for (size_t j = 0; j < n; ++j) {
    const size_t b = first + j;
    SequenceResult& r = out[b];
    r.prompt_length = int64_t(prompts[b].size());
    r.finish_reason = "length";
    caches.emplace_back(m.config());
    gens.emplace_back(cfg.sampling.seed, /*stream=*/b);
    auto t0 = clock::now();
    const Rows rows =
        feed_prompt(m, rt, caches[j], prompts[b], &r.audit, &r.prefill_macs, select, b, want, one_pass);
    r.prefill_ms = ms_since(t0);
    if (cfg.max_new_tokens == 0) continue;
    if (!accept_token(r, b, choose(rows, 0, j), cfg)) active.push_back(j);
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
    const Rows rows = decode_rows(m, rt, cs, toks, want, select, &seqs);
    double dt = ms_since(t0);
    std::vector<size_t> still;
    for (size_t a = 0; a < active.size(); ++a) {
      const size_t j = active[a];
      SequenceResult& r = out[first + j];
      r.decode_ms += dt;
      r.audit.push_back(rows.steps[a].audit);
      r.decode_macs += rows.steps[a].macs;
      if (!accept_token(r, first + j, choose(rows, a, j), cfg)) still.push_back(j);
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
  const Routing rt = routing_of(m);
  for (size_t first = 0; first < prompts.size(); first += group)
    generate_group(m, rt, prompts, first, std::min(group, prompts.size() - first), cfg, out);
  return out;
}

}  // namespace sra
