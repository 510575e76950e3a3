// Generation with a KV cache: incremental decoding equals one full forward pass (dense and SRA), the SRA
// cache holds only sinks + window + critical tokens, sampling and stopping rules, batches, MAC counts.
// On a GPU (skipped, reported as skipped, without one): generation there equals the CPU's (the same
// tokens, router decisions, cache sizes and multiply-adds; logits within 1e-5 relative in f32), one host
// read per decode step, and a KV cache holding the CPU cache's bytes.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "compare_util.h"
#include "core/cuda_runtime.h"
#include "model/flops.h"
#include "model/generate.h"

using namespace sra;
using sra::test::no_gpu;

namespace {

TransformerConfig gen_config(const std::string& attention, DType dtype) {
  TransformerConfig c;
  c.vocab_size = 24;
  c.d_model = 32;
  c.n_layers = 3;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.d_ff = 48;
  c.max_seq_len = 64;
  c.attention = attention;
  c.dense_layers = {0};  // SRA models: layer 0 dense, layers 1 and 2 sparse
  c.window = 4;
  c.sinks = 2;
  c.init_std = 0.2;
  c.seed = 11;
  c.dtype = dtype;
  c.router.hidden = 16;
  return c;
}

std::vector<int64_t> random_tokens(int64_t n, int64_t vocab, uint64_t seed) {
  Generator g(seed);
  std::vector<int64_t> v(static_cast<size_t>(n));
  for (auto& x : v) x = int64_t(g.next_below(uint64_t(vocab)));
  return v;
}

// An SRA config whose eval-mode threshold sits near the median router score of `ids` over all SRA layers,
// so that about half the tokens are critical (or at another quantile): in the middle of the first gap of at
// least 1e-3 between sorted scores at or above the quantile (repeated tokens give equal scores in a shared
// router's first layer, and a threshold equal to a score would make the comparison depend on rounding).
TransformerConfig median_threshold_config(TransformerConfig c, const std::vector<int64_t>& ids,
                                          double quantile = 0.5) {
  c.router.init_threshold = 0.0;
  Transformer m(c);
  m.eval();
  NoGradGuard g;
  ForwardOutput out = m.run(Tensor::from_vector(ids, {1, int64_t(ids.size())}));
  std::vector<double> s;
  for (const Selection& sel : out.selections)
    for (double x : sel.scores.to_vector<double>()) s.push_back(x);
  std::sort(s.begin(), s.end());
  size_t i = size_t(double(s.size()) * quantile);
  while (i + 1 < s.size() && s[i + 1] - s[i] < 1e-3) ++i;
  REQUIRE(i + 1 < s.size());
  c.router.init_threshold = 0.5 * (s[i] + s[i + 1]);
  return c;
}

// Feeds ids one by one and compares every position's logits and selections with one full forward pass.
void check_incremental_equals_full(const TransformerConfig& c, const std::vector<int64_t>& ids, double tol) {
  Transformer m(c);
  m.eval();
  const int64_t N = int64_t(ids.size()), V = c.vocab_size;
  ForwardOutput full;
  {
    NoGradGuard g;
    full = m.run(Tensor::from_vector(ids, {1, N}));
  }
  std::vector<double> ref = full.logits.to_vector<double>();
  KVCache cache(c);
  double worst = 0;
  int64_t n_selected = 0, n_sra_flags = 0;
  MacCount macs;
  bool sparser = false;
  for (int64_t t = 0; t < N; ++t) {
    StepResult r = decode_step(m, cache, ids[size_t(t)]);
    REQUIRE(int64_t(r.logits.size()) == V);
    for (int64_t v = 0; v < V; ++v)
      worst = std::max(worst, std::fabs(r.logits[size_t(v)] - ref[size_t(t * V + v)]));
    REQUIRE(r.audit.critical.size() == full.selections.size());
    for (size_t k = 0; k < full.selections.size(); ++k) {
      std::vector<uint8_t> z = full.selections[k].selected.to_vector<uint8_t>();
      std::vector<double> s = full.selections[k].scores.to_vector<double>();
      CHECK(r.audit.critical[k] == z[size_t(t)]);
      INFO("t " << t << " sra layer " << k);
      CHECK(std::fabs(r.audit.scores[k] - s[size_t(t)]) < tol);
      n_selected += r.audit.critical[k];
      ++n_sra_flags;
    }
    for (size_t l = 0; l < cache.n_layers(); ++l)
      if (cache.layer(l).is_sra() && cache.layer(l).size() < t + 1) sparser = true;
    macs += r.macs;
  }
  INFO("max |logit diff| " << worst);
  CHECK(worst < tol);
  CHECK(cache.length() == N);
  std::vector<std::vector<uint8_t>> sel;
  for (const Selection& s : full.selections) sel.push_back(s.selected.to_vector<uint8_t>());
  CHECK(macs == sequence_macs(c, N, sel, /*all_logits=*/true));
  if (c.attention == "sra") {
    INFO("selected " << n_selected << " of " << n_sra_flags);
    CHECK(n_selected > n_sra_flags / 5);      // a real fraction is critical ...
    CHECK(n_selected < n_sra_flags * 4 / 5);  // ... but not all
    CHECK(sparser);                           // and the SRA layers really attend to fewer keys
  }
}

}  // namespace

TEST_CASE("generate: KV-cache decoding equals the full forward at every position (dense)") {
  std::vector<int64_t> ids = random_tokens(40, 24, 1);
  check_incremental_equals_full(gen_config("dense", DType::f32), ids, 1e-4);
  check_incremental_equals_full(gen_config("dense", DType::f64), ids, 1e-9);
}

TEST_CASE("generate: KV-cache decoding equals the full forward at every position (SRA, same selections)") {
  std::vector<int64_t> ids = random_tokens(48, 24, 2);
  check_incremental_equals_full(median_threshold_config(gen_config("sra", DType::f32), ids), ids, 1e-4);
  check_incremental_equals_full(median_threshold_config(gen_config("sra", DType::f64), ids), ids, 1e-9);
  TransformerConfig shared = gen_config("sra", DType::f64);
  shared.shared_router = true;
  shared.dense_layers = {};
  shared.sinks = 0;
  check_incremental_equals_full(median_threshold_config(shared, ids), ids, 1e-9);
}

TEST_CASE("generate: the SRA layer cache attends to sinks ∪ window ∪ earlier critical tokens") {
  const int64_t w = 3, n_sinks = 2;
  std::set<int64_t> crit = {1, 3, 5, 8, 9, 12};
  LayerKVCache sparse(true, w, n_sinks), dense(false, w, n_sinks);
  for (int64_t t = 0; t < 16; ++t) {
    Tensor k = Tensor::full({1, 2, 1, 4}, double(t)), v = Tensor::full({1, 2, 1, 4}, double(-t));
    sparse.append(t, k, v, crit.count(t) > 0);
    dense.append(t, k, v, crit.count(t) > 0);
    std::vector<int64_t> expect;  // sinks, critical ascending, window ascending
    for (int64_t j = 0; j <= t && j < n_sinks; ++j) expect.push_back(j);
    for (int64_t j = n_sinks; j <= t - w; ++j)
      if (crit.count(j)) expect.push_back(j);
    for (int64_t j = std::max(t - w + 1, n_sinks); j <= t; ++j) expect.push_back(j);
    CHECK(sparse.positions() == expect);
    CHECK(sparse.size() == sra_attended_keys(t, w, n_sinks, sparse.n_critical()));
    CHECK(sparse.bytes() == int64_t(expect.size()) * 2 * 8 * 4);
    CHECK(dense.size() == t + 1);
    auto [K, V] = sparse.keys_values();
    CHECK(K.shape() == Shape{1, 2, int64_t(expect.size()), 4});
    std::vector<float> kv = K.to_vector<float>(), vv = V.to_vector<float>();
    for (size_t i = 0; i < expect.size(); ++i) {
      CHECK(kv[i * 4] == float(expect[i]));
      CHECK(vv[i * 4] == float(-expect[i]));
    }
  }
  CHECK_THROWS_WITH_AS(sparse.append(3, Tensor::zeros({1, 2, 1, 4}), Tensor::zeros({1, 2, 1, 4}), false),
                       "[kv_cache] expected position 16, got 3", Error);
}

TEST_CASE("generate: the SRA cache is O(sinks + K + w), not O(N)") {
  TransformerConfig c = gen_config("sra", DType::f32);
  c.dense_layers = {};
  c.router.init_threshold = 1e9;  // nothing critical: the cache stops growing at sinks + window
  Transformer m(c);
  GenerateConfig g;
  std::vector<int64_t> prompt = random_tokens(5, 24, 3);
  const int64_t per_token = 2 * c.n_kv_heads * c.head_dim() * 4;  // k and v, f32
  g.max_new_tokens = 30;
  int64_t short_bytes = generate(m, {prompt}, g)[0].cache_bytes;
  g.max_new_tokens = 150;  // beyond max_seq_len: RoPE positions extrapolate
  int64_t long_bytes = generate(m, {prompt}, g)[0].cache_bytes;
  CHECK(short_bytes == long_bytes);
  CHECK(long_bytes == c.n_layers * (c.sinks + c.window) * per_token);

  // With critical tokens the cache grows by exactly one entry per critical token that left the window.
  std::vector<int64_t> ids = random_tokens(40, 24, 4);
  TransformerConfig all_sra = gen_config("sra", DType::f32);
  all_sra.dense_layers = {};
  TransformerConfig s = median_threshold_config(all_sra, ids, 0.8);
  Transformer ms(s);
  g.sampling.temperature = 1.0;  // varied tokens
  g.sampling.seed = 1;
  SequenceResult r = generate(ms, {prompt}, g)[0];
  const int64_t fed = int64_t(r.audit.size());  // tokens in the cache
  int64_t expect = 0, total_crit = 0;
  for (size_t k = 0; k < size_t(s.n_layers); ++k) {
    int64_t K = 0;
    for (int64_t j = s.sinks; j <= fed - 1 - s.window; ++j) K += r.audit[size_t(j)].critical[k];
    total_crit += K;
    expect += (s.sinks + s.window + K) * per_token;
  }
  CHECK(fed == 5 + 149);
  CHECK(total_crit > 0);
  CHECK(r.cache_bytes == expect);
  INFO("critical tokens in the cache " << total_crit);
  CHECK(r.cache_bytes < s.n_layers * fed * per_token / 4);  // far below the dense cache
}

TEST_CASE("generate: greedy is deterministic and agrees with the full forward's argmax") {
  for (const char* attention : {"dense", "sra"}) {
    TransformerConfig c = gen_config(attention, DType::f32);
    c.router.init_threshold = 0.0;
    Transformer m(c);
    GenerateConfig g;
    g.max_new_tokens = 20;
    std::vector<int64_t> prompt = random_tokens(6, 24, 5);
    SequenceResult a = generate(m, {prompt}, g)[0], b = generate(m, {prompt}, g)[0];
    CHECK(a.ids == b.ids);
    CHECK(a.finish_reason == "length");
    CHECK(a.ids.size() == 20);
    CHECK(a.audit.size() == 6 + 19);
    std::vector<int64_t> all = prompt;
    all.insert(all.end(), a.ids.begin(), a.ids.end() - 1);
    m.eval();
    NoGradGuard ng;
    Tensor logits = m.forward(Tensor::from_vector(all, {1, int64_t(all.size())}));
    std::vector<int64_t> am = argmax(logits, -1).to_vector<int64_t>();
    for (size_t i = 0; i < a.ids.size(); ++i) CHECK(a.ids[i] == am[prompt.size() - 1 + i]);
    std::vector<std::vector<uint8_t>> sel(a.audit[0].critical.size());
    for (const TokenAudit& t : a.audit)
      for (size_t k = 0; k < sel.size(); ++k) sel[k].push_back(t.critical[k]);
    CHECK(a.prefill_macs == sequence_macs(c, 6, sel, /*all_logits=*/false));
    // prefill + decode: a full forward of the fed tokens with logits at the last 20 positions.
    MacCount both = a.prefill_macs + a.decode_macs;
    CHECK(both.lm_head == 20 * c.d_model * c.vocab_size);
    both.lm_head = c.d_model * c.vocab_size;
    CHECK(both == sequence_macs(c, 25, sel, /*all_logits=*/false));
  }
}

TEST_CASE("generate: seeded sampling is reproducible, top-k = 1 equals greedy") {
  TransformerConfig c = gen_config("sra", DType::f32);
  c.router.init_threshold = 0.0;
  Transformer m(c);
  std::vector<int64_t> prompt = random_tokens(4, 24, 6);
  GenerateConfig g;
  g.max_new_tokens = 40;
  g.sampling.temperature = 1.0;
  g.sampling.seed = 7;
  std::vector<int64_t> a = generate(m, {prompt}, g)[0].ids, b = generate(m, {prompt}, g)[0].ids;
  CHECK(a == b);
  g.sampling.seed = 8;
  CHECK(generate(m, {prompt}, g)[0].ids != a);
  g.sampling.top_k = 1;
  g.sampling.temperature = 0.7;
  GenerateConfig greedy;
  greedy.max_new_tokens = 40;
  CHECK(generate(m, {prompt}, g)[0].ids == generate(m, {prompt}, greedy)[0].ids);
}

TEST_CASE("generate: temperature, top-k and top-p on a known distribution") {
  std::vector<double> p = {0.5, 0.3, 0.15, 0.05}, logits;
  for (double x : p) logits.push_back(std::log(x));
  auto near = [](const std::vector<double>& a, const std::vector<double>& b) {
    for (size_t i = 0; i < a.size(); ++i)
      if (std::fabs(a[i] - b[i]) > 1e-12) return false;
    return true;
  };
  SamplingConfig s;
  s.temperature = 1.0;
  CHECK(near(sampling_distribution(logits, s), p));
  s.top_p = 0.7;  // 0.5 < 0.7 ≤ 0.8: the two most likely
  CHECK(near(sampling_distribution(logits, s), {0.625, 0.375, 0, 0}));
  s.top_p = 0.85;
  CHECK(near(sampling_distribution(logits, s), {0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0}));
  s.top_p = 0.4;  // the most likely alone
  CHECK(near(sampling_distribution(logits, s), {1, 0, 0, 0}));
  s.top_p = 1.0;
  s.top_k = 3;
  CHECK(near(sampling_distribution(logits, s), {0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0}));
  s.top_k = 0;
  s.temperature = 2.0;  // p^(1/2), renormalised
  double z = 0;
  for (double x : p) z += std::sqrt(x);
  CHECK(near(sampling_distribution(logits, s),
             {std::sqrt(0.5) / z, std::sqrt(0.3) / z, std::sqrt(0.15) / z, std::sqrt(0.05) / z}));
  // Draws follow the filtered distribution.
  s.temperature = 1.0;
  s.top_p = 0.7;
  Generator gen(3);
  int64_t counts[4] = {0, 0, 0, 0};
  const int n = 20000;
  for (int i = 0; i < n; ++i) ++counts[sample_token(logits, s, gen)];
  CHECK(counts[2] == 0);
  CHECK(counts[3] == 0);
  CHECK(std::fabs(double(counts[0]) / n - 0.625) < 0.02);
  SamplingConfig greedy;
  CHECK(sample_token({0.1, 2.0, 2.0, -1.0}, greedy, gen) == 1);
  CHECK_THROWS_WITH_AS(sampling_distribution(logits, greedy),
                       "[generate] sampling needs temperature > 0, got 0", Error);
}

TEST_CASE("generate: EOS, stop sequences and stop strings end generation") {
  TransformerConfig c = gen_config("dense", DType::f32);
  Transformer m(c);
  std::vector<int64_t> prompt = random_tokens(5, 24, 9);
  GenerateConfig g;
  g.max_new_tokens = 12;
  std::vector<int64_t> free_run = generate(m, {prompt}, g)[0].ids;
  REQUIRE(free_run.size() == 12);
  auto first = [&](int64_t tok) {
    return size_t(std::find(free_run.begin(), free_run.end(), tok) - free_run.begin());
  };

  GenerateConfig e = g;
  e.eos_id = free_run[3];
  SequenceResult r = generate(m, {prompt}, e)[0];
  CHECK(r.finish_reason == "eos");
  CHECK(r.ids == std::vector<int64_t>(free_run.begin(), free_run.begin() + int64_t(first(e.eos_id)) + 1));

  GenerateConfig st = g;
  st.stop_sequences = {{free_run[4], free_run[5]}};
  r = generate(m, {prompt}, st)[0];
  CHECK(r.finish_reason == "stop");
  CHECK(r.ids.size() <= 6);
  CHECK(r.ids.size() >= 2);
  CHECK(r.ids[r.ids.size() - 2] == free_run[4]);
  CHECK(r.ids == std::vector<int64_t>(free_run.begin(), free_run.begin() + int64_t(r.ids.size())));

  GenerateConfig ss = g;
  ss.decode = [](const std::vector<int64_t>& ids) {
    std::string s;
    for (int64_t id : ids) s += char('a' + id);
    return s;
  };
  ss.stop_strings = {std::string(1, char('a' + free_run[6])) + char('a' + free_run[7])};
  r = generate(m, {prompt}, ss)[0];
  CHECK(r.finish_reason == "stop");
  CHECK(r.ids.size() <= 8);
  CHECK(ss.decode(r.ids).find(ss.stop_strings[0]) != std::string::npos);
  CHECK(r.ids == std::vector<int64_t>(free_run.begin(), free_run.begin() + int64_t(r.ids.size())));

  GenerateConfig bad = g;
  bad.stop_strings = {"x"};
  CHECK_THROWS_WITH_AS(generate(m, {prompt}, bad), "[generate] stop_strings need a decode function", Error);
}

TEST_CASE("generate: a batch of prompts of different lengths equals each prompt alone") {
  TransformerConfig c = median_threshold_config(gen_config("sra", DType::f32), random_tokens(40, 24, 10));
  Transformer m(c);
  std::vector<std::vector<int64_t>> prompts = {random_tokens(3, 24, 11), random_tokens(9, 24, 12),
                                               random_tokens(14, 24, 13)};
  GenerateConfig g;
  g.max_new_tokens = 15;
  std::vector<SequenceResult> batch = generate(m, prompts, g);
  REQUIRE(batch.size() == 3);
  for (size_t b = 0; b < prompts.size(); ++b) {
    SequenceResult alone = generate(m, {prompts[b]}, g)[0];
    CHECK(batch[b].ids == alone.ids);
    CHECK(batch[b].prompt_length == int64_t(prompts[b].size()));
    CHECK(batch[b].cache_bytes == alone.cache_bytes);
    CHECK(batch[b].decode_macs == alone.decode_macs);
    REQUIRE(batch[b].audit.size() == alone.audit.size());
    for (size_t i = 0; i < alone.audit.size(); ++i) {
      CHECK(batch[b].audit[i].critical == alone.audit[i].critical);
      CHECK(batch[b].audit[i].position == int64_t(i));
    }
  }
  CHECK(m.is_training());  // generate restores the mode
}

TEST_CASE("flops: multiply-adds against a hand computation") {
  TransformerConfig c;
  c.vocab_size = 10;
  c.d_model = 8;
  c.n_layers = 2;
  c.n_heads = 2;
  c.n_kv_heads = 1;
  c.d_ff = 12;
  c.attention = "sra";
  c.dense_layers = {0};
  c.window = 2;
  c.sinks = 1;
  c.router.hidden = 3;
  // Per token and layer: projections 2·8·8 + 2·8·4 = 192, mlp 3·8·12 = 288, router 8·3 + 3 = 27 (layer 1),
  // attention 2·2·4 = 16 per key; lm_head 8·10 = 80.
  MacCount l1 = layer_token_macs(c, 1, 3);
  CHECK(l1.projections == 192);
  CHECK(l1.mlp == 288);
  CHECK(l1.router == 27);
  CHECK(l1.attention == 48);
  CHECK(layer_token_macs(c, 0, 3).router == 0);
  // SRA keys for selected = [0, 1, 0, 1, 1]: t=0: {0}; 1: {0,1}; 2: {0,1,2}; 3: {0, crit 1, 2, 3};
  // 4: {0, crit 1, 3, 4} → 1 + 2 + 3 + 4 + 4 = 14; dense 1 + … + 5 = 15.
  MacCount s = sequence_macs(c, 5, {{0, 1, 0, 1, 1}}, /*all_logits=*/false);
  CHECK(s.projections == 5 * 2 * 192);
  CHECK(s.mlp == 5 * 2 * 288);
  CHECK(s.router == 5 * 27);
  CHECK(s.attention == 16 * (15 + 14));
  CHECK(s.lm_head == 80);
  CHECK(s.total() == 5479);
  CHECK(dense_sequence_macs(c, 5, false).total() == 1920 + 2880 + 16 * 30 + 80);
  CHECK(sequence_macs(c, 5, {{0, 1, 0, 1, 1}}, true).lm_head == 400);
  // sra_attended_keys against the set definition.
  for (int64_t w : {1, 2, 5})
    for (int64_t ns : {0, 1, 3})
      for (int64_t t = 0; t < 12; ++t) {
        int64_t count = 0;
        for (int64_t j = 0; j <= t; ++j) count += (j < ns) || (j > t - w);
        CHECK(sra_attended_keys(t, w, ns, 0) == count);
      }
  CHECK_THROWS_WITH_AS(sequence_macs(c, 5, {}, false), "[flops] 0 selections for 1 SRA layers", Error);
}

TEST_CASE("generate: prefill's one-pass forward equals feeding the prompt token by token") {
  std::vector<int64_t> ids = random_tokens(30, 24, 21);
  for (DType dt : {DType::f64, DType::f32}) {
    const double tol = dt == DType::f64 ? 1e-9 : 1e-4;
    for (const char* attention : {"dense", "sra"}) {
      TransformerConfig c = gen_config(attention, dt);
      if (c.attention == "sra") c = median_threshold_config(c, ids);
      Transformer m(c);
      m.eval();
      KVCache fast(c), slow(c);
      std::vector<TokenAudit> fa, sa;
      MacCount fm, sm;
      StepResult f = prefill(m, fast, ids, &fa, &fm);  // one pass
      StepResult s;
      for (size_t i = 0; i < ids.size(); ++i) {  // token by token
        s = decode_step(m, slow, ids[i], i + 1 == ids.size());
        sa.push_back(s.audit);
        sm += s.macs;
      }
      REQUIRE(f.logits.size() == s.logits.size());
      for (size_t v = 0; v < f.logits.size(); ++v) CHECK(std::fabs(f.logits[v] - s.logits[v]) < tol);
      CHECK(fm == sm);
      CHECK(f.macs == s.macs);
      CHECK(fast.length() == slow.length());
      CHECK(fast.bytes() == slow.bytes());
      REQUIRE(fa.size() == sa.size());
      int64_t n_crit = 0;
      for (size_t t = 0; t < fa.size(); ++t) {
        CHECK(fa[t].position == sa[t].position);
        CHECK(fa[t].token == sa[t].token);
        CHECK(fa[t].critical == sa[t].critical);
        for (size_t k = 0; k < fa[t].scores.size(); ++k)
          CHECK(std::fabs(fa[t].scores[k] - sa[t].scores[k]) < tol);
        for (uint8_t z : fa[t].critical) n_crit += z;
      }
      if (c.attention == "sra") CHECK(n_crit > 5);
      for (size_t l = 0; l < fast.n_layers(); ++l) {
        CHECK(fast.layer(l).positions() == slow.layer(l).positions());
        auto [fk, fv] = fast.layer(l).keys_values();
        auto [sk, sv] = slow.layer(l).keys_values();
        std::vector<double> a = fk.to_vector<double>(), b = sk.to_vector<double>();
        double worst = 0;
        for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::fabs(a[i] - b[i]));
        CHECK(worst < tol);
      }
      // the caches continue alike
      StepResult fn = decode_step(m, fast, 5), sn = decode_step(m, slow, 5);
      for (size_t v = 0; v < fn.logits.size(); ++v) CHECK(std::fabs(fn.logits[v] - sn.logits[v]) < tol);
    }
  }
}

TEST_CASE("generate: decode_batch runs several sequences at their own positions like decode_step") {
  TransformerConfig c = median_threshold_config(gen_config("sra", DType::f64), random_tokens(40, 24, 22));
  Transformer m(c);
  m.eval();
  std::vector<std::vector<int64_t>> prompts = {random_tokens(3, 24, 23), random_tokens(11, 24, 24),
                                               random_tokens(7, 24, 25)};
  std::vector<KVCache> batch, alone;
  for (const auto& p : prompts) {
    batch.emplace_back(c);
    alone.emplace_back(c);
    prefill(m, batch.back(), p);
    prefill(m, alone.back(), p);
  }
  std::vector<KVCache*> ptrs = {&batch[0], &batch[1], &batch[2]};
  for (int step = 0; step < 12; ++step) {
    std::vector<int64_t> toks = {int64_t(step % 24), int64_t((3 * step + 1) % 24),
                                 int64_t((5 * step + 2) % 24)};
    std::vector<StepResult> rb = decode_batch(m, ptrs, toks);
    REQUIRE(rb.size() == 3);
    for (size_t b = 0; b < 3; ++b) {
      StepResult ra = decode_step(m, alone[b], toks[b]);
      CHECK(rb[b].audit.position == ra.audit.position);
      CHECK(rb[b].audit.critical == ra.audit.critical);
      CHECK(rb[b].macs == ra.macs);
      double worst = 0;
      for (size_t v = 0; v < ra.logits.size(); ++v)
        worst = std::max(worst, std::fabs(rb[b].logits[v] - ra.logits[v]));
      CHECK(worst < 1e-9);
    }
  }
  for (size_t b = 0; b < 3; ++b) CHECK(batch[b].layer(1).positions() == alone[b].layer(1).positions());
  CHECK_THROWS_WITH_AS(decode_batch(m, {&batch[0], &batch[0]}, {1, 2}),
                       "[generate] decode_batch: the same cache is given twice", Error);
}

TEST_CASE("generate: a SelectionFn decides z; it is called in order unless declared stateless") {
  TransformerConfig c = gen_config("sra", DType::f32);
  Transformer m(c);
  std::vector<std::vector<int64_t>> prompts = {random_tokens(5, 24, 31), random_tokens(8, 24, 32)};
  std::vector<SelectionContext> calls;
  GenerateConfig g;
  g.max_new_tokens = 6;
  g.select = [&calls](const SelectionContext& ctx) {
    calls.push_back(ctx);
    return (ctx.position + int64_t(ctx.sra_layer) + int64_t(ctx.sequence)) % 3 == 0;  // a function of ctx
  };
  std::vector<SequenceResult> ordered = generate(m, prompts, g);
  // in order: sequence 0 then 1; per sequence positions ascending, SRA layers in order within a token
  REQUIRE(calls.size() == 2 * (ordered[0].audit.size() + ordered[1].audit.size()));
  size_t i = 0;
  for (size_t b = 0; b < 2; ++b)
    for (int64_t t = 0; t < int64_t(ordered[b].audit.size()); ++t)
      for (size_t k = 0; k < 2; ++k, ++i) {
        CHECK(calls[i].sequence == b);
        CHECK(calls[i].position == t);
        CHECK(calls[i].sra_layer == k);
        CHECK(ordered[b].audit[size_t(t)].critical[k] == ((t + int64_t(k) + int64_t(b)) % 3 == 0 ? 1 : 0));
      }
  // stateless: other call order (one-pass prefill, batched decode), the same decisions and text
  calls.clear();
  g.select_stateless = true;
  std::vector<SequenceResult> fast = generate(m, prompts, g);
  CHECK(calls.size() == 2 * (fast[0].audit.size() + fast[1].audit.size()));
  CHECK(calls[1].position == 1);  // the first layer's decisions for the whole prompt come first
  for (size_t b = 0; b < 2; ++b) {
    CHECK(fast[b].ids == ordered[b].ids);
    REQUIRE(fast[b].audit.size() == ordered[b].audit.size());
    for (size_t t = 0; t < fast[b].audit.size(); ++t)
      CHECK(fast[b].audit[t].critical == ordered[b].audit[t].critical);
  }
}

TEST_CASE("generate: append_prompt fills a layer cache like appending the tokens one by one") {
  const int64_t w = 3, n_sinks = 2, T = 16;
  std::set<int64_t> crit = {1, 3, 5, 8, 9, 12};
  std::vector<uint8_t> z(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) z[size_t(t)] = crit.count(t) ? 1 : 0;
  Generator g(5);
  // (1, Hkv, T, D) views with the strides of a projection's transpose, as prefill has them
  Tensor k = randn({1, T, 2, 4}, g).transpose(1, 2), v = randn({1, T, 2, 4}, g).transpose(1, 2);
  for (bool sra : {true, false}) {
    INFO("sra " << sra);
    LayerKVCache one(sra, w, n_sinks), all(sra, w, n_sinks);
    std::vector<int64_t> sizes = all.append_prompt(k, v, z);
    REQUIRE(sizes.size() == size_t(T));
    for (int64_t t = 0; t < T; ++t) {
      one.append(t, k.narrow(2, t, 1), v.narrow(2, t, 1), z[size_t(t)] != 0);
      CHECK(sizes[size_t(t)] == one.size());
    }
    CHECK(all.positions() == one.positions());
    CHECK(all.n_critical() == one.n_critical());
    CHECK(all.bytes() == one.bytes());
    for (int step = 0; step < 2; ++step) {  // equal now, and after one more token
      auto [ak, av] = all.keys_values();
      auto [ok, ov] = one.keys_values();
      CHECK(ak.to_vector<float>() == ok.to_vector<float>());
      CHECK(av.to_vector<float>() == ov.to_vector<float>());
      Tensor e = Tensor::full({1, 2, 1, 4}, 7.0);
      all.append(T + step, e, e, false);
      one.append(T + step, e, e, false);
    }
    CHECK_THROWS_WITH_AS(all.append_prompt(k, v, z),
                         "[kv_cache] append_prompt needs an empty cache, this one has 18 tokens", Error);
  }
  // z of the newest token may come after its k, v; it must come before the next append
  LayerKVCache c(true, w, n_sinks);
  Tensor e = Tensor::zeros({1, 2, 1, 4});
  CHECK_THROWS_WITH_AS(c.set_critical(true), "[kv_cache] set_critical without a pending append_entry", Error);
  c.append_entry(0, e, e);
  CHECK_THROWS_WITH_AS(c.append(1, e, e, false),
                       "[kv_cache] set_critical must follow append_entry before the next append", Error);
  c.set_critical(true);
  c.append(1, e, e, false);
  CHECK(c.positions() == std::vector<int64_t>{0, 1});
}

namespace {

// ‖a − b‖ / ‖a‖
double rel_diff(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double d = 0, n = 0;
  for (size_t i = 0; i < a.size(); ++i) d += (a[i] - b[i]) * (a[i] - b[i]), n += a[i] * a[i];
  return std::sqrt(d / std::max(n, 1e-300));
}

// A CPU model and the same model moved to the first GPU.
struct TwoDevices {
  Transformer cpu, gpu;
  explicit TwoDevices(const TransformerConfig& c) : cpu(c), gpu(c) { gpu.to(Device::cuda(0)); }
};

TransformerConfig cuda_config(const char* attention) {
  TransformerConfig c = gen_config(attention, DType::f32);
  return c.attention == "sra" ? median_threshold_config(c, random_tokens(40, 24, 44)) : c;
}

void check_same_generation(const std::vector<SequenceResult>& a, const std::vector<SequenceResult>& b) {
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    INFO("sequence " << i);
    CHECK(a[i].ids == b[i].ids);
    CHECK(a[i].finish_reason == b[i].finish_reason);
    CHECK(a[i].cache_bytes == b[i].cache_bytes);
    CHECK(a[i].prefill_macs == b[i].prefill_macs);
    CHECK(a[i].decode_macs == b[i].decode_macs);
    REQUIRE(a[i].audit.size() == b[i].audit.size());
    for (size_t t = 0; t < a[i].audit.size(); ++t) {
      CHECK(a[i].audit[t].critical == b[i].audit[t].critical);
      for (size_t k = 0; k < a[i].audit[t].scores.size(); ++k)
        CHECK(std::fabs(a[i].audit[t].scores[k] - b[i].audit[t].scores[k]) <= 1e-5);
    }
  }
}

}  // namespace

TEST_CASE("cuda: generation on the GPU equals the CPU's (dense and SRA; greedy, sampled, with a hook)" *
          doctest::skip(no_gpu())) {
  const std::vector<std::vector<int64_t>> prompts = {random_tokens(5, 24, 41), random_tokens(12, 24, 42),
                                                     random_tokens(9, 24, 43)};
  for (const char* attention : {"dense", "sra"}) {
    INFO(attention);
    TwoDevices m(cuda_config(attention));
    GenerateConfig g;
    g.max_new_tokens = 24;
    g.batch = 2;  // a group of two, then one alone
    for (double temperature : {0.0, 1.0}) {
      INFO("temperature " << temperature);
      g.sampling.temperature = temperature;
      g.sampling.seed = 5;
      check_same_generation(generate(m.cpu, prompts, g), generate(m.gpu, prompts, g));
    }
    // a stateless hook (as sra rl's sampling policy): the scores are read back for it in the prefill too
    g.sampling.temperature = 0;
    g.select = [](const SelectionContext& ctx) { return ctx.score > ctx.threshold - 0.01; };
    g.select_stateless = true;
    check_same_generation(generate(m.cpu, prompts, g), generate(m.gpu, prompts, g));
    g.select_stateless = false;  // token by token
    check_same_generation(generate(m.cpu, prompts, g), generate(m.gpu, prompts, g));
  }
}

TEST_CASE("cuda: prefill and decode logits on the GPU equal the CPU's within 1e-5" *
          doctest::skip(no_gpu())) {
  const std::vector<int64_t> prompt = random_tokens(20, 24, 45);
  for (const char* attention : {"dense", "sra"}) {
    INFO(attention);
    const TransformerConfig c = cuda_config(attention);
    TwoDevices m(c);
    m.cpu.eval();
    m.gpu.eval();
    KVCache kc(c), kg(c);
    StepResult a = prefill(m.cpu, kc, prompt), b = prefill(m.gpu, kg, prompt);
    CHECK(rel_diff(a.logits, b.logits) < 1e-5);
    CHECK(a.audit.critical == b.audit.critical);
    for (int step = 0; step < 12; ++step) {
      const int64_t token = int64_t(std::max_element(a.logits.begin(), a.logits.end()) - a.logits.begin());
      a = decode_step(m.cpu, kc, token);
      b = decode_step(m.gpu, kg, token);
      INFO("step " << step);
      CHECK(rel_diff(a.logits, b.logits) < 1e-5);
      CHECK(a.audit.critical == b.audit.critical);
      CHECK(a.macs == b.macs);
    }
    for (size_t l = 0; l < kc.n_layers(); ++l) {
      CHECK(kc.layer(l).positions() == kg.layer(l).positions());
      CHECK(kg.layer(l).keys_values().first.device() == Device::cuda(0));
      auto [ck, cv] = kc.layer(l).keys_values();
      auto [gk, gv] = kg.layer(l).keys_values();
      CHECK(rel_diff(ck.to_vector<double>(), gk.to_vector<double>()) < 1e-5);
      CHECK(rel_diff(cv.to_vector<double>(), gv.to_vector<double>()) < 1e-5);
    }
  }
}

TEST_CASE("cuda: one host read per decode step" * doctest::skip(no_gpu())) {
  const std::vector<std::vector<int64_t>> prompts = {random_tokens(6, 24, 46), random_tokens(10, 24, 47)};
  auto syncs = [&](Transformer& m, int64_t n, double temperature) {
    GenerateConfig g;
    g.max_new_tokens = n;
    g.sampling.temperature = temperature;
    const uint64_t before = cuda::stats(0).host_syncs;
    std::vector<SequenceResult> r = generate(m, prompts, g);
    for (const SequenceResult& s : r) REQUIRE(int64_t(s.ids.size()) == n);
    return int64_t(cuda::stats(0).host_syncs - before);
  };
  for (double temperature : {0.0, 1.0}) {
    INFO("temperature " << temperature);
    // dense: one read per prompt's prefill, then one per decode step of the batch
    TwoDevices dense(cuda_config("dense"));
    CHECK(syncs(dense.gpu, 9, temperature) == 2 + 8);
    // SRA: the same per decode step (the scores of every SRA layer come back with the logits); θ may be
    // read once per call
    TwoDevices sra(cuda_config("sra"));
    const int64_t s8 = syncs(sra.gpu, 8, temperature), s16 = syncs(sra.gpu, 16, temperature);
    CHECK(s16 - s8 == 8);
    CHECK(s8 <= 2 + 7 + int64_t(sra.gpu.sra_routers().size()));
  }
  // decode_batch_greedy (sra bench decode's step): θ of every router comes back with the step's scores and
  // argmax, one read per call
  TwoDevices sra(cuda_config("sra"));
  sra.gpu.eval();
  KVCache c0(sra.gpu.config()), c1(sra.gpu.config());
  prefill(sra.gpu, c0, prompts[0]);
  prefill(sra.gpu, c1, prompts[1]);
  std::vector<int64_t> tokens = {1, 2};
  for (int step = 0; step < 5; ++step) {
    const uint64_t before = cuda::stats(0).host_syncs;
    tokens = decode_batch_greedy(sra.gpu, {&c0, &c1}, tokens);
    CHECK(cuda::stats(0).host_syncs - before == 1);
  }
}

TEST_CASE("cuda: a KV cache on the GPU holds the CPU cache's entries bit for bit" * doctest::skip(no_gpu())) {
  const int64_t w = 3, n_sinks = 2, T = 16;
  std::set<int64_t> crit = {1, 3, 5, 8, 9, 12};
  std::vector<uint8_t> z(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) z[size_t(t)] = crit.count(t) ? 1 : 0;
  Generator g(6);
  Tensor k = randn({1, T, 2, 4}, g).transpose(1, 2), v = randn({1, T, 2, 4}, g).transpose(1, 2);
  const Tensor kg = k.to(Device::cuda(0)), vg = v.to(Device::cuda(0));
  for (bool sra : {true, false}) {
    INFO("sra " << sra);
    LayerKVCache cpu(sra, w, n_sinks), one(sra, w, n_sinks), all(sra, w, n_sinks);
    all.append_prompt(kg.transpose(1, 2).contiguous().transpose(1, 2), vg, z);
    for (int64_t t = 0; t < T; ++t) {
      cpu.append(t, k.narrow(2, t, 1), v.narrow(2, t, 1), z[size_t(t)] != 0);
      one.append_entry(t, kg.narrow(2, t, 1), vg.narrow(2, t, 1));
      one.set_critical(z[size_t(t)] != 0);
      auto [ck, cv] = cpu.keys_values();
      auto [ok, ov] = one.keys_values();
      CHECK(ok.device() == Device::cuda(0));
      CHECK(ok.to_vector<float>() == ck.to_vector<float>());
      CHECK(ov.to_vector<float>() == cv.to_vector<float>());
    }
    CHECK(one.positions() == cpu.positions());
    CHECK(all.positions() == cpu.positions());
    auto [ck, cv] = cpu.keys_values();
    auto [ak, av] = all.keys_values();
    CHECK(ak.to_vector<float>() == ck.to_vector<float>());
    CHECK(av.to_vector<float>() == cv.to_vector<float>());
    CHECK_THROWS_WITH_AS(one.append(T, k.narrow(2, 0, 1), v.narrow(2, 0, 1), false),
                         doctest::Contains("on cuda:0 like the first entry, got [1, 2, 1, 4] f32 on cpu"),
                         Error);
  }
}
