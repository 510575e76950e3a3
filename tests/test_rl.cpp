// RL router tuning: the REINFORCE estimator on a two-token toy whose expected gradient and optimal policy
// are known in closed form (RLOO unbiased, group mean scaled by (G−1)/G, a few hundred steps converge to
// "keep the needed token, drop the other"); advantages, rewards and the λ schedule; the policy's log π,
// entropy and KL against a hand computation and finite differences; the replay's forced forward equals
// the rollout's decode-time scores and logits; `sra rl` end to end (routers only: LM parameters bitwise
// unchanged; checkpoints readable by load_model), exact resume, and config errors. On a GPU (skipped without
// one), `sra rl` with device cuda matches the CPU run: the same rollouts and rewards, the losses and
// gradients within float tolerance, the frozen LM bitwise unchanged.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "autograd/tape.h"
#include "child_process.h"
#include "core/cuda_runtime.h"
#include "core/json.h"
#include "data_test_util.h"
#include "model/generate.h"
#include "model/optimizer.h"
#include "rl/policy.h"
#include "rl/reinforce.h"
#include "rl/rl_data.h"
#include "rl/rl_trainer.h"
#include "run/checkpoint.h"
#include "run/config.h"
#include "run/model_io.h"

using namespace sra;
namespace fs = std::filesystem;
using sra::testing::read_metrics;
using sra::testing::slurp;

namespace {

double sigmoid_d(double x) {
  return 1.0 / (1.0 + std::exp(-x));
}

// The toy: two tokens with policy logits θ = (a, b), p = σ(θ); token 0 is needed, token 1 is not.
// r(z) = z₀ − λ·(z₀ + z₁)/2, so E[r] = p₀ − λ(p₀ + p₁)/2 and
// ∇_a E[r] = p₀(1 − p₀)(1 − λ/2), ∇_b E[r] = −(λ/2)·p₁(1 − p₁). For λ < 2 the optimum is p₀ = 1, p₁ = 0.
// With needed = false and n tokens: r(z) = 1 − λ·Σz/n (the answer right whatever is kept), so
// ∇_k E[r] = −(λ/n)·p_k(1 − p_k).
struct Toy {
  double lambda = 0.5;
  size_t n = 2;
  bool needed = true;
  double accuracy(const std::vector<uint8_t>& z) const { return needed ? double(z[0]) : 1.0; }
  double reward(const std::vector<uint8_t>& z) const {
    double kept = 0;
    for (uint8_t v : z) kept += v;
    return accuracy(z) - lambda * kept / double(n);
  }
};

// The penalty's gradient: through the advantages (rl.penalty_gradient reinforce) or exactly (expected).
enum class Penalty { kReinforce, kExpected };

// One REINFORCE step's gradient of the loss (= −estimate of ∇E[r]) over `groups` groups of G, accumulated
// into theta.grad by the library's advantage and loss functions.
void toy_backward(const Toy& toy, const Tensor& theta, int64_t groups, int64_t G, rl::Baseline b,
                  Generator& gen, Penalty penalty = Penalty::kReinforce) {
  const bool expected = penalty == Penalty::kExpected;
  const std::vector<double> th = theta.to_vector<double>();
  REQUIRE(th.size() == toy.n);
  std::vector<std::vector<uint8_t>> zs;
  std::vector<double> rewards;
  for (int64_t i = 0; i < groups * G; ++i) {
    std::vector<uint8_t> z(toy.n);
    for (size_t k = 0; k < toy.n; ++k) z[k] = gen.next_uniform() < sigmoid_d(th[k]) ? 1 : 0;
    // expected: the advantage sees the reward without the penalty
    rewards.push_back(expected ? toy.accuracy(z) : toy.reward(z));
    zs.push_back(z);
  }
  std::vector<double> adv = rl::group_advantages(rewards, G, b);
  for (size_t i = 0; i < zs.size(); ++i) {
    Tensor lp = rl::bernoulli_log_prob(theta, Tensor::from_vector(zs[i], {int64_t(toy.n)}));
    Tensor loss = rl::rollout_loss(lp, adv[i], Tensor(), 0, Tensor(), 0, rl::bernoulli_expected_count(theta),
                                   expected ? toy.lambda / double(toy.n) : 0.0, 1.0 / double(zs.size()));
    if (loss.defined()) {
      backward(loss);
    } else {
      tape_clear();
    }
  }
}

TransformerConfig tiny_sra(DType dtype) {
  TransformerConfig c;
  c.vocab_size = 24;
  c.d_model = 32;
  c.n_layers = 3;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.d_ff = 48;
  c.max_seq_len = 64;
  c.attention = "sra";
  c.dense_layers = {0};  // layers 1 and 2 sparse
  c.window = 4;
  c.sinks = 2;
  c.init_std = 0.2;
  c.seed = 11;
  c.dtype = dtype;
  c.router.hidden = 16;
  c.router.init_threshold = 0.0;
  return c;
}

std::vector<int64_t> prompt_tokens(int64_t n, uint64_t seed) {
  Generator g(seed);
  std::vector<int64_t> v(static_cast<size_t>(n));
  for (auto& x : v) x = int64_t(g.next_below(24));
  return v;
}

// A sampled rollout of one prompt (sequence 0), greedy answer of up to 10 tokens, τ = 0.7.
SequenceResult sampled_rollout(Transformer& m, const std::vector<int64_t>& prompt, uint64_t key) {
  rl::set_router_temperature(m, 0.7);
  GenerateConfig gc;
  gc.max_new_tokens = 10;
  gc.select = rl::sampling_policy(key, m.sra_routers().size());
  gc.select_stateless = true;  // as sra rl generates: one-pass prefill, batched decode
  return generate(m, {prompt}, gc)[0];
}

struct RlTempDir {
  fs::path path;
  RlTempDir() {
    static int counter = 0;
    path = fs::temp_directory_path() /
           ("sra_rl_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~RlTempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(file(name)) << text;
    return file(name);
  }
};

// A byte-level SRA model on short synthetic problems (prompts of ~100–250 bytes), untrained.
const char* kSupervised = R"(model:
  vocab_size: 256
  d_model: 32
  n_layers: 2
  n_heads: 2
  n_kv_heads: 2
  d_ff: 64
  max_seq_len: 320
  attention: sra
  dense_layers: [0]
  window: 8
  sinks: 2
router:
  hidden: 16
  temperature: 1.0
  temperature_final: 0.5
  init_threshold: 0.0
data:
  dataset: synthetic
  seq_len: 64
  synthetic:
    min_hops: 1
    max_hops: 2
    min_distractors: 0
    max_distractors: 1
    unused_variables: 1
)";

const char* kRl = R"(rl:
  steps: 4
  prompts_per_step: 2
  group_size: 3
  lambda: 1.0
  lambda_final: 2.0
  max_new_tokens: 6
  eval_every: 2
  eval_problems: 2
  checkpoint_every: 2
  keep_last: 0
optimizer:
  lr: 0.01
  weight_decay: 0.0
logging:
  log_every: 1
)";

// Writes an untrained supervised checkpoint (what sra train leaves, minus optimizer state).
std::string init_checkpoint(const RlTempDir& d, const std::vector<std::string>& overrides = {}) {
  RunConfig cfg = load_config(d.write("sup.yaml", kSupervised), overrides);
  LoadedModel lm = model_from_config(cfg);
  std::string path = d.file("init.h5");
  save_checkpoint(model_checkpoint(cfg, *lm.model, 0), path);
  return path;
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         std::memcmp(a.raw(), b.raw(), size_t(a.numel()) * dtype_size(a.dtype())) == 0;
}

}  // namespace

TEST_CASE("rl: advantages, rewards and the lambda schedule") {
  std::vector<double> r = {1, 0, 0, 1, 0.5, 0.5, 0.5, 0.5};
  std::vector<double> loo = rl::group_advantages(r, 4, rl::Baseline::kRloo);
  CHECK(loo[0] == doctest::Approx(1 - 1.0 / 3));
  CHECK(loo[1] == doctest::Approx(0 - 2.0 / 3));
  for (size_t i = 4; i < 8; ++i) CHECK(loo[i] == 0);  // a group of equal rewards teaches nothing
  std::vector<double> mean = rl::group_advantages(r, 4, rl::Baseline::kMean);
  CHECK(mean[0] == doctest::Approx(0.5));
  CHECK(mean[0] == doctest::Approx(loo[0] * 3 / 4));
  std::vector<double> clipped = rl::group_advantages(r, 4, rl::Baseline::kRloo, 0.5);
  CHECK(clipped[0] == 0.5);
  CHECK(clipped[1] == -0.5);
  CHECK_THROWS_WITH_AS(rl::group_advantages(r, 3, rl::Baseline::kRloo), doctest::Contains("whole groups"),
                       Error);
  CHECK_THROWS_AS(rl::baseline_from_name("grpo"), Error);

  CHECK(rl::lambda_at(0, 11, 1.0, 2.0) == 1.0);
  CHECK(rl::lambda_at(5, 11, 1.0, 2.0) == doctest::Approx(1.5));
  CHECK(rl::lambda_at(10, 11, 1.0, 2.0) == 2.0);
  CHECK(rl::lambda_at(7, 11, 0.3, -1.0) == 0.3);

  rl::RewardParts ok =
      rl::score_rollout("synthetic", " x = 3. y = x + 1 = 4. #### 4", "4", 10, 100, 2.0, 0.1);
  CHECK(ok.correct);
  CHECK(ok.formatted);
  CHECK(ok.selected_ratio == doctest::Approx(0.1));
  CHECK(ok.reward == doctest::Approx(1 - 0.2 + 0.1));
  rl::RewardParts bad = rl::score_rollout("synthetic", " the answer is 4", "4", 0, 100, 2.0, 0.1);
  CHECK_FALSE(bad.correct);  // strict extraction wants "#### 4"
  CHECK(bad.reward == 0.0);
  CHECK_FALSE(rl::score_rollout("gsm8k", " #### 5", "4", 0, 10, 0, 0).correct);
}

TEST_CASE("rl: the estimator on a two-token toy matches the analytic expected gradient") {
  const Toy toy;
  const double a = 0.3, b = -0.2;
  const double p0 = sigmoid_d(a), p1 = sigmoid_d(b);
  const double ga = p0 * (1 - p0) * (1 - toy.lambda / 2), gb = -(toy.lambda / 2) * p1 * (1 - p1);
  const int64_t G = 4, groups = 6000;
  for (rl::Baseline base : {rl::Baseline::kRloo, rl::Baseline::kMean}) {
    Tensor theta = Tensor::from_vector(std::vector<double>{a, b}, {2});
    theta.set_requires_grad(true);
    Generator gen(7, base == rl::Baseline::kRloo ? 1 : 2);
    toy_backward(toy, theta, groups, G, base, gen);
    std::vector<double> est = theta.grad().to_vector<double>();  // −(1/R) Σ A ∇log π
    // RLOO is unbiased; the group mean (Dr. GRPO) is the RLOO advantage times (G − 1)/G.
    const double f = base == rl::Baseline::kRloo ? 1.0 : double(G - 1) / double(G);
    INFO("baseline " << (base == rl::Baseline::kRloo ? "rloo" : "mean") << ": estimate " << -est[0] << ", "
                     << -est[1] << " vs " << f * ga << ", " << f * gb);
    // Monte-Carlo standard error ≈ 0.002; the two baselines' expected a-components differ by 0.046.
    CHECK(std::fabs(-est[0] - f * ga) < 0.012);
    CHECK(std::fabs(-est[1] - f * gb) < 0.012);
  }
}

TEST_CASE("rl: the expected penalty gradient: same expected gradient, no sampling noise from the penalty") {
  {  // the two-token toy: the estimate's mean matches the closed form, as with the penalty in the reward
    const Toy toy;
    const double a = 0.3, b = -0.2;
    const double p0 = sigmoid_d(a), p1 = sigmoid_d(b);
    const double ga = p0 * (1 - p0) * (1 - toy.lambda / 2), gb = -(toy.lambda / 2) * p1 * (1 - p1);
    Tensor theta = Tensor::from_vector(std::vector<double>{a, b}, {2});
    theta.set_requires_grad(true);
    Generator gen(7, 3);
    toy_backward(toy, theta, 6000, 4, rl::Baseline::kRloo, gen, Penalty::kExpected);
    std::vector<double> est = theta.grad().to_vector<double>();
    INFO("estimate " << -est[0] << ", " << -est[1] << " vs " << ga << ", " << gb);
    CHECK(std::fabs(-est[0] - ga) < 0.012);
    CHECK(std::fabs(-est[1] - gb) < 0.012);
  }
  // Every answer right, 8 tokens: the only signal is the penalty. One 2-group estimate is the exact
  // gradient with "expected"; with "reinforce" single estimates scatter around it (their mean matches).
  Toy toy;
  toy.needed = false;
  toy.n = 8;
  std::vector<double> th0(8);
  for (size_t k = 0; k < 8; ++k) th0[k] = -1.0 + 0.25 * double(k);
  for (Penalty pen : {Penalty::kExpected, Penalty::kReinforce}) {
    Generator gen(11);
    const int trials = pen == Penalty::kExpected ? 3 : 2000;
    std::vector<double> mean(8, 0.0);
    double worst_single = 0;
    for (int t = 0; t < trials; ++t) {
      Tensor theta = Tensor::from_vector(th0, {8});
      theta.set_requires_grad(true);
      toy_backward(toy, theta, 2, 4, rl::Baseline::kRloo, gen, pen);
      std::vector<double> g = theta.grad().to_vector<double>();
      for (size_t k = 0; k < 8; ++k) {
        const double pk = sigmoid_d(th0[k]), exact = -(toy.lambda / 8.0) * pk * (1 - pk);
        mean[k] += -g[k] / double(trials);
        worst_single = std::max(worst_single, std::fabs(-g[k] - exact));
      }
    }
    double worst_mean = 0;
    for (size_t k = 0; k < 8; ++k) {
      const double pk = sigmoid_d(th0[k]);
      worst_mean = std::max(worst_mean, std::fabs(mean[k] + (toy.lambda / 8.0) * pk * (1 - pk)));
    }
    INFO((pen == Penalty::kExpected ? "expected" : "reinforce")
         << ": worst single-estimate error " << worst_single << ", of the mean " << worst_mean);
    if (pen == Penalty::kExpected) {
      CHECK(worst_single < 1e-12);
    } else {
      CHECK(worst_single > 0.01);  // exact gradients are at most λ/8 · 1/4 ≈ 0.016
      CHECK(worst_mean < 0.003);   // standard error ≈ 0.0006
    }
  }
}

TEST_CASE("rl: a few hundred REINFORCE steps on the toy keep the needed token and drop the other") {
  const Toy toy;
  const std::vector<std::pair<rl::Baseline, Penalty>> runs = {{rl::Baseline::kRloo, Penalty::kReinforce},
                                                              {rl::Baseline::kMean, Penalty::kReinforce},
                                                              {rl::Baseline::kRloo, Penalty::kExpected}};
  for (auto [base, pen] : runs) {
    Tensor theta = Tensor::zeros({2}, DType::f64);
    theta.set_requires_grad(true);
    AdamW opt({{"theta", theta}}, AdamWConfig{0.1, 0.9, 0.99, 1e-8, 0.0});
    Generator gen(3);
    for (int step = 0; step < 300; ++step) {
      toy_backward(toy, theta, 2, 8, base, gen, pen);
      opt.step(0.1);
      opt.zero_grad();
    }
    std::vector<double> th = theta.to_vector<double>();
    INFO("p(keep needed) " << sigmoid_d(th[0]) << ", p(keep other) " << sigmoid_d(th[1]));
    CHECK(sigmoid_d(th[0]) > 0.95);
    CHECK(sigmoid_d(th[1]) < 0.05);
  }
}

TEST_CASE("rl: log pi, entropy and KL of a replay match a hand computation and finite differences") {
  const TransformerConfig c = tiny_sra(DType::f64);
  Transformer m(c);
  TransformerConfig cr = c;
  cr.seed = 12;  // another initialisation as the reference policy
  Transformer ref(cr);
  rl::set_router_temperature(ref, 0.7);
  const std::vector<int64_t> prompt = prompt_tokens(30, 5);
  SequenceResult r = sampled_rollout(m, prompt, 99);
  rl::ReplayOptions o;
  o.tau = 0.7;
  rl::Replay rp = rl::replay_rollout(m, &ref, r, o);
  const int64_t T = int64_t(r.audit.size());
  REQUIRE(rp.scores.size() == 2);
  CHECK(rp.decisions == 2 * T);

  ForwardOutput ro;
  {
    NoGradGuard g;
    ref.eval();
    std::vector<Tensor> forced = rl::rollout_decisions(r);
    ro = ref.run(Tensor::from_vector(rl::fed_tokens(r), {1, T}), Tensor(), &forced);
  }
  std::vector<Router*> routers = m.sra_routers(), ref_routers = ref.sra_routers();
  double lp = 0, h = 0, kl = 0;
  int64_t selected = 0;
  for (size_t l = 0; l < 2; ++l) {
    std::vector<double> s = rp.scores[l].to_vector<double>(),
                        s0 = ro.selections[l].scores.to_vector<double>();
    for (int64_t t = 0; t < T; ++t) {
      const double p = sigmoid_d((s[size_t(t)] - routers[l]->threshold()) / 0.7);
      const double q = sigmoid_d((s0[size_t(t)] - ref_routers[l]->threshold()) / 0.7);
      const int z = r.audit[size_t(t)].critical[l];
      selected += z;
      lp += z ? std::log(p) : std::log(1 - p);
      h += -p * std::log(p) - (1 - p) * std::log(1 - p);
      kl += p * std::log(p / q) + (1 - p) * std::log((1 - p) / (1 - q));
    }
  }
  CHECK(selected > 0);
  CHECK(selected < 2 * T);
  CHECK(rp.log_prob.item() == doctest::Approx(lp).epsilon(1e-10));
  CHECK(rp.entropy.item() == doctest::Approx(h).epsilon(1e-10));
  CHECK(rp.kl.item() == doctest::Approx(kl).epsilon(1e-10));
  CHECK(kl > 0);

  // ∂ log π / ∂(a router weight) by central differences, decisions held fixed.
  backward(rp.log_prob);
  Tensor w = m.find("model.layers.1.router.up_proj.weight");
  Tensor lm_w = m.find("model.layers.0.mlp.up_proj.weight");
  CHECK(lm_w.grad().defined());  // the LM's parameters also get gradient: the router reads its states
  std::vector<double> grad = w.grad().to_vector<double>();
  auto log_prob_now = [&]() {
    NoGradGuard g;
    return rl::replay_rollout(m, nullptr, r, o).log_prob.item();
  };
  for (int64_t i : {0, 17, 100}) {
    double* x = w.data<double>() + i;
    const double keep = *x, eps = 1e-6;
    *x = keep + eps;
    const double up = log_prob_now();
    *x = keep - eps;
    const double down = log_prob_now();
    *x = keep;
    INFO("element " << i);
    CHECK(grad[size_t(i)] == doctest::Approx((up - down) / (2 * eps)).epsilon(1e-5));
  }
  m.zero_grad();

  // Router + LM: the answer tokens' log-probs at the sampling temperature join log π.
  rl::ReplayOptions lo = o;
  lo.answer_log_prob = true;
  lo.answer_temperature = 0.8;
  rl::Replay with_lm = rl::replay_rollout(m, nullptr, r, lo);
  const std::vector<double> logits = with_lm.logits.to_vector<double>();
  double answer = 0;
  REQUIRE(r.ids.size() >= 2);
  for (size_t k = 0; k < r.ids.size(); ++k) {
    const double* row = logits.data() + (r.prompt_length - 1 + int64_t(k)) * c.vocab_size;
    double mx = *std::max_element(row, row + c.vocab_size), z = 0;
    for (int64_t v = 0; v < c.vocab_size; ++v) z += std::exp((row[v] - mx) / 0.8);
    answer += (row[r.ids[k]] - mx) / 0.8 - std::log(z);
  }
  CHECK(with_lm.log_prob.item() == doctest::Approx(lp + answer).epsilon(1e-10));
  tape_clear();
}

TEST_CASE("rl: the replay reproduces the rollout's decode-time decisions, scores and logits") {
  for (DType dt : {DType::f32, DType::f64}) {
    const double tol = dt == DType::f64 ? 1e-9 : 2e-4;
    Transformer m(tiny_sra(dt));
    const std::vector<int64_t> prompt = prompt_tokens(40, 6);
    SequenceResult r = sampled_rollout(m, prompt, 1234);
    // Every recorded decision is the sampler's draw on the recorded score: z = 1[u < σ((s − θ)/τ)].
    const std::vector<int64_t> fed = rl::fed_tokens(r);
    REQUIRE(int64_t(fed.size()) == r.prompt_length + int64_t(r.ids.size()) - 1);
    int64_t differs_from_inference_rule = 0;
    for (size_t t = 0; t < fed.size(); ++t)
      for (size_t l = 0; l < 2; ++l) {
        SelectionContext ctx;
        ctx.position = int64_t(t);
        ctx.sra_layer = l;
        ctx.score = r.audit[t].scores[l];
        ctx.threshold = 0.0;
        ctx.temperature = 0.7;
        const bool z = rl::decision_uniform(1234, 0, int64_t(t), l, 2) < rl::decision_probability(ctx);
        CHECK(r.audit[t].critical[l] == (z ? 1 : 0));
        differs_from_inference_rule += r.audit[t].critical[l] != (ctx.score > 0.0 ? 1 : 0);
      }
    CHECK(differs_from_inference_rule > 0);  // the policy samples: not the inference-time 1[s > θ]
    // The same tokens decoded step by step with the rollout's decisions, keeping every step's logits.
    m.eval();
    KVCache cache(m.config());
    SelectionFn recorded = [&r](const SelectionContext& ctx) {
      return r.audit[size_t(ctx.position)].critical[ctx.sra_layer] != 0;
    };
    std::vector<std::vector<double>> step_logits;
    for (size_t t = 0; t < fed.size(); ++t)
      step_logits.push_back(decode_step(m, cache, fed[t], true, &recorded).logits);

    rl::ReplayOptions o;
    o.tau = 0.7;
    rl::Replay rp;
    {
      NoGradGuard g;
      rp = rl::replay_rollout(m, nullptr, r, o);
    }
    const int64_t V = 24, T = int64_t(fed.size());
    std::vector<double> logits = rp.logits.to_vector<double>();
    double worst = 0;
    for (int64_t t = 0; t < T; ++t)
      for (int64_t v = 0; v < V; ++v)
        worst = std::max(worst, std::fabs(logits[size_t(t * V + v)] - step_logits[size_t(t)][size_t(v)]));
    CHECK(worst < tol);
    for (size_t l = 0; l < 2; ++l) {
      std::vector<double> s = rp.scores[l].to_vector<double>();
      for (int64_t t = 0; t < T; ++t) CHECK(std::fabs(s[size_t(t)] - r.audit[size_t(t)].scores[l]) < tol);
    }
    // The greedy answer is the argmax of the replay's logits at positions P−1 ...
    for (size_t k = 0; k < r.ids.size(); ++k) {
      const double* row = logits.data() + (r.prompt_length - 1 + int64_t(k)) * V;
      CHECK(int64_t(std::max_element(row, row + V) - row) == r.ids[k]);
    }
    auto [n_sel, n_all] = rl::decision_counts(r);
    CHECK(n_all == 2 * T);
    CHECK(n_sel > 0);
  }
}

TEST_CASE("rl: sra rl trains the routers only, logs metrics and writes checkpoints load_model reads") {
  RlTempDir d;
  const std::string init = init_checkpoint(d);
  const std::string cfg = d.write("rl.yaml", kRl);
  std::ostringstream log;
  rl::RlOptions o{cfg, init, {}, d.file("run"), "", "", -1};
  REQUIRE(rl::run_rl(o, log) == 0);
  INFO(log.str());
  std::vector<Json> m = read_metrics(d.file("run"));
  REQUIRE(m.size() == 5);  // the step-0 evaluation, then steps 1..4
  CHECK(m[0]["step"].as_int() == 0);
  CHECK(m[0].contains("eval_accuracy"));
  for (size_t i = 1; i < 5; ++i) {
    INFO("step " << i);
    CHECK(m[i]["step"].as_int() == int64_t(i));
    for (const char* k : {"reward", "accuracy", "selected_ratio", "adv_std", "kl", "entropy", "lambda", "lr",
                          "lm_lr", "grad_norm", "rollout_s"})
      CHECK(m[i].contains(k));
    CHECK(m[i]["selected_ratio"].as_double() > 0);
    CHECK(m[i]["entropy"].as_double() > 0);
    CHECK(m[i]["kl"].as_double() >= 0);
    CHECK(m[i].contains("eval_selected_ratio") == (i % 2 == 0));
  }
  for (const char* dir : {"step-00000000", "step-00000002", "step-00000004"})
    CHECK(fs::exists(d.file("run/eval/" + std::string(dir) + "/summary.json")));
  CHECK(fs::exists(d.file("run/eval_table.md")));
  CHECK(log.str().find("| step 0 (init) |") != std::string::npos);
  CHECK(m[1]["kl"].as_double() < 1e-12);  // the first step's policy is the initial one
  CHECK(m[4]["kl"].as_double() > 0);
  CHECK(m[1]["lambda"].as_double() == 1.0);
  CHECK(m[4]["lambda"].as_double() == 2.0);

  const Checkpoint a = load_checkpoint(init), b = load_checkpoint(checkpoint_path(d.file("run"), 4));
  CHECK(b.meta.at("stage") == "rl");
  int64_t routers = 0, changed = 0;
  for (const auto& [name, t] : a.tensors) {
    const Tensor* u = b.find(name);
    REQUIRE(u != nullptr);
    INFO(name);
    if (name.find(".router.") == std::string::npos) {
      CHECK(same_bytes(t, *u));  // the LM (and the thresholds) stay bitwise unchanged
    } else if (name.find("threshold") == std::string::npos) {
      ++routers;
      changed += !same_bytes(t, *u);
      const Tensor* r0 = b.find("ref/" + name.substr(std::string("model/").size()));
      REQUIRE(r0 != nullptr);
      CHECK(same_bytes(t, *r0));  // the reference is the initial router
    }
  }
  CHECK(routers == 5);  // layer 1's router: norm weight, up_proj and down_proj weights and biases
  CHECK(changed == routers);
  LoadedModel lm = load_model(checkpoint_path(d.file("run"), 4));
  CHECK(lm.step == 4);
  CHECK(lm.config.rl.steps == 4);
}

TEST_CASE("rl: router + LM mode trains the LM too, at rl.lm_lr") {
  RlTempDir d;
  const std::string init = init_checkpoint(d);
  const std::string cfg = d.write("rl.yaml", kRl);
  auto run = [&](const std::string& name, const std::string& lm_lr) {
    std::ostringstream log;
    rl::RlOptions o{
        cfg,
        init,
        {"rl.train_lm=true", "rl.sample_answers=true", "rl.steps=1", "rl.eval_every=0", "rl.lm_lr=" + lm_lr},
        d.file(name),
        "",
        "",
        -1};
    REQUIRE(rl::run_rl(o, log) == 0);
    CHECK(read_metrics(d.file(name)).back()["lm_lr"].as_double() == std::stod(lm_lr));
    return load_checkpoint(checkpoint_path(d.file(name), 1));
  };
  const Checkpoint a = load_checkpoint(init), b = run("run", "1e-3"), frozen = run("frozen", "0");
  const std::string up = "model/model.layers.1.mlp.up_proj.weight";
  const Tensor* w0 = a.find(up);
  const Tensor* w1 = b.find(up);
  REQUIRE(w0 != nullptr);
  REQUIRE(w1 != nullptr);
  CHECK_FALSE(same_bytes(*w0, *w1));
  const Tensor* ref = b.find("ref/model.layers.1.mlp.up_proj.weight");  // the reference is the whole model
  REQUIRE(ref != nullptr);
  CHECK(same_bytes(*w0, *ref));
  CHECK(b.find("lm_optim/state/model.embed_tokens.weight.exp_avg") != nullptr);
  CHECK(b.find("optim/state/model.embed_tokens.weight.exp_avg") == nullptr);  // the routers' AdamW
  // rl.lm_lr 0: the LM stays bitwise as it was while the routers (optimizer.lr) move
  int64_t lm = 0, routers_moved = 0;
  for (const auto& [name, t] : a.tensors) {
    if (name.rfind("model/", 0) != 0 || name.find("threshold") != std::string::npos) continue;
    const Tensor* u = frozen.find(name);
    REQUIRE(u != nullptr);
    INFO(name);
    if (name.find(".router.") == std::string::npos) {
      CHECK(same_bytes(t, *u));
      ++lm;
    } else {
      routers_moved += !same_bytes(t, *u);
    }
  }
  CHECK(lm > 5);
  CHECK(routers_moved > 0);
}

TEST_CASE("rl: penalty_gradient expected changes only how the penalty reaches the routers") {
  RlTempDir d;
  const std::string init = init_checkpoint(d);
  const std::string cfg = d.write("rl.yaml", kRl);
  auto run = [&](const std::string& name, const std::string& penalty, const std::string& lambda) {
    std::ostringstream log;
    rl::RlOptions o{cfg,
                    init,
                    {"rl.penalty_gradient=" + penalty, "rl.lambda=" + lambda, "rl.lambda_final=" + lambda,
                     "rl.steps=2", "rl.eval_every=0", "rl.checkpoint_every=2"},
                    d.file(name),
                    "",
                    "",
                    -1};
    REQUIRE(rl::run_rl(o, log) == 0);
    return load_checkpoint(checkpoint_path(d.file(name), 2));
  };
  auto router_bytes_equal = [](const Checkpoint& a, const Checkpoint& b) {
    int64_t n = 0;
    for (const auto& [name, t] : a.tensors) {
      if (name.rfind("model/", 0) != 0 || name.find(".router.") == std::string::npos) continue;
      const Tensor* u = b.find(name);
      REQUIRE(u != nullptr);
      if (!same_bytes(t, *u)) return false;
      ++n;
    }
    REQUIRE(n > 0);
    return true;
  };
  // λ = 0: no penalty, so the two modes are the same computation, bit for bit
  CHECK(router_bytes_equal(run("r0", "reinforce", "0"), run("e0", "expected", "0")));
  // λ = 1: different gradients (same first-step rollouts and logged rewards)
  CHECK_FALSE(router_bytes_equal(run("r1", "reinforce", "1"), run("e1", "expected", "1")));
  std::vector<Json> mr = read_metrics(d.file("r1")), me = read_metrics(d.file("e1"));
  REQUIRE(mr.size() == 2);
  REQUIRE(me.size() == 2);
  CHECK(mr[0]["reward"].as_double() == me[0]["reward"].as_double());
  CHECK(mr[0]["selected_ratio"].as_double() == me[0]["selected_ratio"].as_double());
}

TEST_CASE("rl: GSM8K train prompts in the eval harness's format, too long ones skipped") {
  RunConfig cfg;
  cfg.rl.dataset = "gsm8k";
  rl::ProblemSet all = rl::load_train_problems(cfg, Tokenizer(), -1, 1 << 20, "");
  CHECK(all.considered == 7473);
  CHECK(all.skipped == 0);
  REQUIRE(all.problems.size() == 7473);
  const rl::RlProblem& p = all.problems[0];
  CHECK(p.prompt.rfind("Question: ", 0) == 0);
  CHECK(p.prompt.size() > 8);
  CHECK(p.prompt.substr(p.prompt.size() - 8) == "\nAnswer:");
  CHECK(p.ids.size() == p.prompt.size() + 1);  // bytes after the end-of-text byte 0
  CHECK(p.ids[0] == 0);
  CHECK(p.gold == "72");  // Natalia's clips
  rl::ProblemSet short_ones = rl::load_train_problems(cfg, Tokenizer(), -1, 200, "");
  CHECK(short_ones.skipped > 0);
  CHECK(short_ones.skipped + int64_t(short_ones.problems.size()) == 7473);
  for (const rl::RlProblem& q : short_ones.problems) CHECK(q.ids.size() <= 200);
}

TEST_CASE("rl: resume is exact (2 steps + resume auto to 4 == 4 steps)") {
  RlTempDir d;
  const std::string init = init_checkpoint(d);
  const std::string cfg = d.write("rl.yaml", kRl);
  std::vector<std::string> sets;  // routers only; router + LM (its second AdamW's state resumes too)
  SUBCASE("routers only") {}
  SUBCASE("router + LM") {
    sets = {"rl.train_lm=true", "rl.sample_answers=true", "rl.lm_lr=1e-3"};
  }
  std::ostringstream log;
  rl::RlOptions a{cfg, init, sets, d.file("a"), "", "", -1};
  REQUIRE(rl::run_rl(a, log) == 0);
  {  // a refused run leaves config.yaml as it was
    std::ofstream(d.file("a/config.yaml"), std::ios::app) << "# edited\n";
    const std::string before = slurp(d.file("a/config.yaml"));
    CHECK_THROWS_WITH_AS(rl::run_rl(a, log), doctest::Contains("already holds a run (checkpoints, newest "),
                         Error);
    CHECK(slurp(d.file("a/config.yaml")) == before);
  }
  rl::RlOptions b{cfg, init, sets, d.file("b"), "auto", "", 2};
  REQUIRE(rl::run_rl(b, log) == 0);
  CHECK(read_metrics(d.file("b")).size() == 3);
  b.max_steps = -1;
  std::ostringstream log_b;
  REQUIRE(rl::run_rl(b, log_b) == 0);
  CHECK(log_b.str().find("resumed from") != std::string::npos);

  const Checkpoint ca = load_checkpoint(checkpoint_path(d.file("a"), 4));
  const Checkpoint cb = load_checkpoint(checkpoint_path(d.file("b"), 4));
  REQUIRE(ca.tensors.size() == cb.tensors.size());
  for (size_t i = 0; i < ca.tensors.size(); ++i) {
    INFO(ca.tensors[i].first);
    CHECK(ca.tensors[i].first == cb.tensors[i].first);
    CHECK(same_bytes(ca.tensors[i].second, cb.tensors[i].second));
  }
  CHECK(ca.meta.at("config") == cb.meta.at("config"));
  std::vector<Json> ma = read_metrics(d.file("a")), mb = read_metrics(d.file("b"));
  REQUIRE(ma.size() == 5);
  REQUIRE(mb.size() == 5);
  for (size_t i = 0; i < 5; ++i) {
    INFO("line " << i);
    for (const char* k : {"step", "reward", "accuracy", "selected_ratio", "adv_std", "kl", "entropy", "loss",
                          "grad_norm", "eval_accuracy", "eval_selected_ratio"}) {
      CHECK(ma[i].contains(k) == mb[i].contains(k));
      if (ma[i].contains(k) && mb[i].contains(k)) CHECK(ma[i][k].dump() == mb[i][k].dump());
    }
  }
}

TEST_CASE("rl: Ctrl-C finishes the step, saves a checkpoint that resumes, and exits 130") {
  RlTempDir d;
  const std::string init = init_checkpoint(d);
  const std::string cfg = d.write("rl.yaml", kRl);
  const std::string out = d.file("run"), log = d.file("rl.log");
  const std::vector<std::string> args = {"rl",
                                         "--config",
                                         cfg,
                                         "--init",
                                         init,
                                         "--out",
                                         out,
                                         "--set",
                                         "rl.steps=1000",
                                         "--set",
                                         "rl.eval_every=0",
                                         "--set",
                                         "rl.checkpoint_every=0"};
  pid_t pid = sra::testing::spawn_sra_until(args, log, "\nstep 2/1000");
  ::kill(pid, SIGTERM);
  CHECK(sra::testing::wait_exit(pid) == 130);
  const std::string text = sra::testing::slurp(log);
  INFO(text);
  std::vector<std::string> ck = list_checkpoints(out);
  REQUIRE(ck.size() == 1);
  const int64_t step = load_checkpoint(ck[0]).step;
  CHECK(step >= 2);
  CHECK(text.find("interrupted at step " + std::to_string(step) + " of 1000") != std::string::npos);
  CHECK(read_metrics(out).size() == size_t(step));
  std::string text2;
  CHECK(sra::testing::run_sra_child(sra::testing::resume_args(args, step + 1), d.file("resume.log"),
                                    &text2) == 0);
  CHECK(text2.find("resumed from " + ck[0] + " at step " + std::to_string(step)) != std::string::npos);
  CHECK(read_metrics(out).size() == size_t(step + 1));
}

TEST_CASE("rl: config and checkpoint errors") {
  RlTempDir d;
  const std::string init = init_checkpoint(d);
  const std::string cfg = d.write("rl.yaml", kRl);
  std::ostringstream log;
  auto run = [&](std::vector<std::string> sets, const std::string& init_path = "") {
    rl::RlOptions o{cfg, init_path.empty() ? init : init_path, std::move(sets), d.file("out"), "", "", -1};
    return rl::run_rl(o, log);
  };
  CHECK_THROWS_WITH_AS(run({"rl.group_sise=4"}), doctest::Contains("unknown key 'rl.group_sise'"), Error);
  CHECK_THROWS_WITH_AS(run({"rl.group_size=1"}), doctest::Contains("rl.group_size: must be >= 2"), Error);
  CHECK_THROWS_WITH_AS(run({"rl.baseline=grpo"}), doctest::Contains("must be one of rloo, mean"), Error);
  CHECK_THROWS_WITH_AS(run({"model.d_model=64"}),
                       doctest::Contains("--set model.d_model=64: model.d_model: sra rl takes the model"),
                       Error);
  CHECK_THROWS_WITH_AS(run({"rl.train_lm=true"}), doctest::Contains("rl.train_lm needs rl.sample_answers"),
                       Error);
  CHECK_THROWS_WITH_AS(run({"rl.warmup_steps=9"}), doctest::Contains("must be <= rl.steps"), Error);
  CHECK_THROWS_WITH_AS(run({"rl.max_new_tokens=300"}), doctest::Contains("[rl] none of the"), Error);
  CHECK_THROWS_WITH_AS(run({"device=cuda", "precision=bf16"}),
                       doctest::Contains("precision 'bf16' is not supported by sra rl yet (use f32)"), Error);
  if (!cuda::available())  // where this run runs comes from its own config, checked before any step
    CHECK_THROWS_WITH_AS(run({"device=cuda"}), doctest::Contains("[config] device cuda: "), Error);
  std::string text = kRl;
  text.replace(text.find("  steps: 4"), 10, "  stepz: 4");
  rl::RlOptions bad{d.write("bad.yaml", text), init, {}, d.file("out"), "", "", -1};
  CHECK_THROWS_WITH_AS(rl::run_rl(bad, log), doctest::Contains("bad.yaml:2: unknown key 'rl.stepz'"), Error);
  // A dense model has no router to tune.
  RunConfig dense = load_config(d.file("sup.yaml"), {"model.attention=dense"});
  LoadedModel lm = model_from_config(dense);
  save_checkpoint(model_checkpoint(dense, *lm.model, 0), d.file("dense.h5"));
  CHECK_THROWS_WITH_AS(run({}, d.file("dense.h5")), doctest::Contains("no SRA layers"), Error);
  CHECK_FALSE(fs::exists(d.file("out/ckpt-00000004.h5")));
}

TEST_CASE("cuda: sra rl on the GPU matches the CPU run" * doctest::skip(!cuda::available())) {
  RlTempDir d;
  const std::string init = init_checkpoint(d);
  const std::string cfg = d.write("rl.yaml", kRl);
  std::ostringstream log;
  const std::vector<std::string> sets = {"rl.steps=2", "rl.eval_every=2"};
  rl::RlOptions on_cpu{cfg, init, sets, d.file("cpu"), "", "", -1};
  rl::RlOptions on_gpu = on_cpu;
  on_gpu.overrides.push_back("device=cuda");
  on_gpu.out_dir = d.file("gpu");
  REQUIRE(rl::run_rl(on_cpu, log) == 0);
  REQUIRE(rl::run_rl(on_gpu, log) == 0);
  INFO(log.str());
  const std::vector<Json> a = read_metrics(d.file("cpu")), b = read_metrics(d.file("gpu"));
  REQUIRE(a.size() == 3);  // the step-0 evaluation, steps 1 and 2
  REQUIRE(b.size() == a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    INFO("line " << i);
    for (const auto& [key, value] : a[i].as_object()) {
      INFO(key);
      REQUIRE(b[i].contains(key));
      if (key.ends_with("_s")) continue;  // wall times
      const double x = value.as_double(), y = b[i][key].as_double();
      const bool sampled = key == "kl" || key == "entropy" || key == "grad_norm" || key == "loss";
      if (sampled)  // sums of float products: within rounding
        CHECK(std::fabs(x - y) <= 1e-4 * std::fabs(x) + 1e-6);
      else  // the same rollouts, rewards and evaluations
        CHECK(x == y);
    }
  }
  const Checkpoint c = load_checkpoint(checkpoint_path(d.file("cpu"), 2)),
                   g = load_checkpoint(checkpoint_path(d.file("gpu"), 2));
  CHECK(g.meta.at("config").find("device: cuda") != std::string::npos);
  REQUIRE(c.tensors.size() == g.tensors.size());
  for (size_t i = 0; i < c.tensors.size(); ++i) {
    const auto& [name, t] = c.tensors[i];
    INFO(name);
    REQUIRE(g.tensors[i].first == name);
    const bool trained = name.find(".router.") != std::string::npos &&
                         name.find("threshold") == std::string::npos && name.rfind("model/", 0) == 0;
    if (!trained || name.rfind("optim/", 0) == 0) {
      if (name.rfind("optim/", 0) != 0) CHECK(same_bytes(t, g.tensors[i].second));  // frozen: bitwise
      continue;
    }
    const std::vector<double> x = t.to_vector<double>(), y = g.tensors[i].second.to_vector<double>();
    double diff = 0, norm = 0;
    for (size_t k = 0; k < x.size(); ++k) diff += (x[k] - y[k]) * (x[k] - y[k]), norm += x[k] * x[k];
    CHECK(std::sqrt(diff) <= 1e-4 * std::sqrt(norm) + 1e-7);
  }
  CHECK(load_model(checkpoint_path(d.file("gpu"), 2)).step == 2);  // a GPU run's checkpoint loads on the CPU
}

TEST_CASE("rl: rl.time_limit_s ends the run early, evaluated, checkpointed and with its table") {
  RlTempDir d;
  const std::string init = init_checkpoint(d);
  const std::string cfg = d.write("rl.yaml", kRl);
  std::ostringstream log;
  rl::RlOptions o{cfg, init, {"rl.steps=50", "rl.time_limit_s=1e-9"}, d.file("run"), "", "", -1};
  REQUIRE(rl::run_rl(o, log) == 0);
  INFO(log.str());
  CHECK(log.str().find("rl: time limit 1e-09 s reached at step 1") != std::string::npos);
  std::vector<Json> m = read_metrics(d.file("run"));
  REQUIRE(m.size() == 2);  // the step-0 evaluation, then step 1 (evaluated: the run's end)
  CHECK(m[1].contains("eval_accuracy"));
  CHECK(m[1]["lambda"].as_double() == 2.0);  // λ follows the clock: already past the 1 ns limit -> final
  CHECK(list_checkpoints(d.file("run")) == std::vector<std::string>{checkpoint_path(d.file("run"), 1)});
  CHECK(fs::exists(d.file("run/eval_table.md")));
  CHECK(log.str().find("done: step 1 of 50") != std::string::npos);
}
