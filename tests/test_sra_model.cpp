// The SRA model: causal selection (a prefix's logits never depend on later tokens), the router learns,
// selection switched off cannot solve a long-range task.
#include <doctest/doctest.h>

#include <cmath>

#include "autograd/tape.h"
#include "compare_util.h"
#include "core/cuda_runtime.h"
#include "core/parallel.h"
#include "kernels/router/router.h"
#include "model/optimizer.h"
#include "model/transformer.h"

using namespace sra;
using sra::test::rel_err;

namespace {

TransformerConfig sra_config() {
  TransformerConfig c;
  c.vocab_size = 24;
  c.d_model = 32;
  c.n_layers = 2;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.d_ff = 64;
  c.max_seq_len = 64;
  c.attention = "sra";
  c.dense_layers = {};
  c.window = 4;
  c.sinks = 1;
  c.init_std = 0.2;
  c.seed = 9;
  c.router.hidden = 16;
  c.router.init_threshold = 0.0;
  return c;
}

// Key-value retrieval: filler tokens 0..9, marker 10, keys 11..16, values 17..22, query 23.
// [filler..., M k v, filler..., Q k] → predict v. The pair sits far further back than the window, so
// only a selected (critical) token can carry the answer to the query.
struct Retrieval {
  static constexpr int64_t kLen = 40;  // tokens before the answer
  Tensor ids;                          // (B, kLen + 1): the last token is the answer
  static Retrieval make(int64_t batch, Generator& gen) {
    std::vector<int64_t> v;
    for (int64_t b = 0; b < batch; ++b) {
      std::vector<int64_t> row(kLen + 1);
      for (auto& x : row) x = int64_t(gen.next_below(10));
      int64_t key = 11 + int64_t(gen.next_below(6)), value = 17 + int64_t(gen.next_below(6));
      int64_t p = 2 + int64_t(gen.next_below(24));
      row[p] = 10, row[p + 1] = key, row[p + 2] = value;
      row[kLen - 2] = 23;
      row[kLen - 1] = key;
      row[kLen] = value;
      v.insert(v.end(), row.begin(), row.end());
    }
    return {Tensor::from_vector(v, {batch, kLen + 1})};
  }
};

// Loss only on the answer token.
Tensor answer_loss(Transformer& m, const Tensor& ids) {
  int64_t B = ids.size(0), T = ids.size(1) - 1;
  ForwardOutput out = m.run(ids.slice(1, 0, T).contiguous());
  Tensor last = out.logits.slice(1, T - 1, T).reshape({B, -1});
  Tensor target = ids.slice(1, T, T + 1).contiguous().reshape({B});
  Tensor l = cross_entropy(last, target);
  return out.budget_loss.defined() ? add(l, out.budget_loss) : l;
}

double answer_accuracy(Transformer& m, const Tensor& ids) {
  NoGradGuard g;
  int64_t B = ids.size(0), T = ids.size(1) - 1;
  Tensor logits = m.forward(ids.slice(1, 0, T).contiguous());
  std::vector<int64_t> pred = argmax(logits.slice(1, T - 1, T).reshape({B, -1}), -1).to_vector<int64_t>();
  std::vector<int64_t> all = ids.to_vector<int64_t>();
  int correct = 0;
  for (int64_t b = 0; b < B; ++b) correct += pred[b] == all[b * (T + 1) + T];
  return double(correct) / double(B);
}

struct TrainResult {
  double accuracy = 0, ratio = 0;
  int steps = 0;  // optimizer steps taken
};

// Trains on fresh batches of 32 for at most max_steps steps (lr warmup over the first 20, then lr),
// stopping early (checked every 10 steps) once the accuracy on a fixed check set of 128 problems (its own
// seed) reaches stop_at; then scores 256 test problems from another seed, which neither training nor the
// early-stop decision has seen.
TrainResult train_retrieval(TransformerConfig c, int max_steps, double lr, double stop_at) {
  Transformer m(c);
  AdamW opt(m.named_parameters(), AdamWConfig{lr, 0.9, 0.98, 1e-8, 0.0});
  Generator gen(21), check_gen(555);
  const Tensor check = Retrieval::make(128, check_gen).ids;
  TrainResult r;
  while (r.steps < max_steps) {
    Tensor loss = answer_loss(m, Retrieval::make(32, gen).ids);
    backward(loss);
    auto [norm, scale] = clip_grad_norm(m.named_parameters(), 1.0);
    opt.step(r.steps < 20 ? lr * (r.steps + 1) / 20 : lr, scale);
    opt.zero_grad();
    m.update_thresholds();
    ++r.steps;
    if (r.steps % 10 == 0 && r.steps < max_steps) {
      m.eval();
      const double acc = answer_accuracy(m, check);
      m.train();
      if (acc >= stop_at) break;
    }
  }
  m.eval();
  Generator test_gen(777);
  Tensor test = Retrieval::make(256, test_gen).ids;
  r.accuracy = answer_accuracy(m, test);
  r.ratio = m.last_selected_ratio().item();
  return r;
}

}  // namespace

TEST_CASE("sra model: selection is causal — a prefix's logits do not depend on later tokens") {
  TransformerConfig c = sra_config();
  c.router.init_threshold = -0.05;  // select about half the tokens at init so crit sets are non-trivial
  Transformer m(c);
  m.eval();
  NoGradGuard g;
  Generator gen(4);
  Tensor ids = Retrieval::make(2, gen).ids.slice(1, 0, 33).contiguous();
  ForwardOutput full = m.run(ids);
  CHECK(full.selections.size() == 2);
  CHECK(full.selected_ratio.item() > 0.05);
  for (int64_t t : {5, 17, 32}) {
    Tensor prefix = ids.slice(1, 0, t).contiguous();
    Tensor a = m.forward(prefix);
    Tensor b = full.logits.slice(1, 0, t).contiguous();
    std::vector<float> va = a.to_vector<float>(), vb = b.to_vector<float>();
    float worst = 0;
    for (size_t i = 0; i < va.size(); ++i) worst = std::max(worst, std::fabs(va[i] - vb[i]));
    INFO("prefix " << t << " max |diff| " << worst);
    CHECK(worst < 1e-5f);
  }
}

// The SRA model must reach 95% on held-out problems while selecting at most 15% of the tokens; the same
// model with selection switched off, trained for exactly as many steps, must stay near chance (the pair
// is beyond what window and sinks reach through both layers, so no amount of training helps it). The
// SRA run stops as soon as a separate check set shows 97% (at lr 1e-2 after ~90 steps; it used to run
// a fixed 300 steps at lr 3e-3, twice); the bar itself is judged on 256 unseen test problems.
//
// It runs on one thread: its ops are far below every parallel grain's worth of work, and on a loaded
// 2-core machine the OpenMP team's waits cost over 10x the work itself (18.7 s of CPU against 1.5 s).
// Results do not depend on the thread count (tests/test_thread_determinism.cpp).
TEST_CASE("sra model: the router learns key-value retrieval; window and sinks alone stay near chance") {
  struct OneThread {
    int saved = num_threads();
    OneThread() { set_num_threads(1); }
    ~OneThread() { set_num_threads(saved); }
  } one_thread;
  TransformerConfig c = sra_config();
  c.router.target_ratio = 0.10;
  TrainResult sra = train_retrieval(c, 300, 1e-2, 0.97);
  INFO("SRA accuracy " << sra.accuracy << ", selected ratio " << sra.ratio << " after " << sra.steps
                       << " steps");
  CHECK(sra.accuracy >= 0.95);
  CHECK(sra.ratio <= 0.15);

  TransformerConfig off = c;
  off.router.init_threshold = 1e9;  // nothing is ever selected
  off.router.threshold_lr = 0.0;
  TrainResult local = train_retrieval(off, sra.steps, 1e-2, 2.0);  // never stops early
  INFO("window+sinks accuracy " << local.accuracy << ", ratio " << local.ratio << " after " << local.steps
                                << " steps");
  CHECK(local.steps == sra.steps);
  CHECK(local.ratio == 0.0);
  CHECK(local.accuracy < 0.35);  // chance over the 6 values is 1/6
}

// θ must follow the scores wherever training moves them. Here every score drops by 0.1 per step (the
// router's bias is moved by hand, as the LM loss's straight-through gradient did in a real run): the
// quantile update keeps the training ratio near ρ (an EMA lags a ramp by drift·(1 − η)/η); the
// ratio-error update, whose step is bounded by η·ρ, falls behind and selection collapses — the failure that
// made it no longer the default.
TEST_CASE(
    "sra router: the quantile threshold update keeps the selected ratio at its target under score drift") {
  auto run = [](const std::string& mode, double lr) {
    RouterConfig c;
    c.hidden = 8;
    c.target_ratio = 0.2;
    c.temperature = 0.5;
    c.threshold_lr = lr;
    c.threshold_update = mode;
    c.init_threshold = 0.0;
    Generator init(5), noise(6), data(7);
    Router r(8, c, 1e-6, 0.5, init);
    r.train();
    Tensor h = randn({4, 64, 8}, data);
    double late = 0;
    for (int step = 0; step < 60; ++step) {
      r.down_proj->bias.data<float>()[0] -= 0.1f;
      r.down_proj->bias.bump_version();
      Selection s = r.select(h, noise);
      r.update_threshold(s.ratio, s.quantile);
      if (step >= 40) late += s.ratio.item() / 20.0;
    }
    return late;
  };
  // η as in configs/demo-sra.yaml (0.2) for both, and 0.5 for the quantile EMA (lag ≈ drift·(1 − η)/η)
  const double quantile = run("quantile", 0.5), quantile_slow = run("quantile", 0.2),
               ratio = run("ratio", 0.2);
  CHECK(quantile > 0.15);
  CHECK(quantile < 0.25);
  CHECK(quantile_slow > 0.1);
  CHECK(ratio < 0.05);
  RouterConfig bad;
  bad.threshold_lr = 1.5;
  CHECK_THROWS_WITH(bad.validate(), doctest::Contains("threshold_lr must be in [0, 1]"));
}

// The fused router MLP of generation (kernels/router/router.h router_scores) against the composite
// Router::scores: the CPU kernel in f64 and f32; on a GPU the CUDA kernel against both and decode_scores
// against scores (the path decode steps take).
TEST_CASE("sra router: router_scores in one kernel equals the composite scores up to rounding") {
  RouterConfig c;
  c.hidden = 24;
  for (DType dt : {DType::f64, DType::f32}) {
    CAPTURE(dtype_name(dt));
    Generator init(15), data(16);
    Router r(40, c, 1e-6, 0.5, init, dt);
    NoGradGuard ng;
    for (Tensor* p : {&r.norm->weight, &r.up_proj->bias, &r.down_proj->bias}) {  // away from 1 and 0
      Tensor noise = randn(p->shape(), data, dt);
      p->add_(noise, 0.3);
    }
    Tensor h = randn({3, 7, 40}, data, dt);
    const Tensor want = r.scores(h);
    auto fused = [&](Device d) {
      Tensor x = h.to(d).contiguous(), s = Tensor::empty({3, 7}, dt, d);
      auto on = [&](const Tensor& t) { return t.to(d).contiguous(); };
      Tensor g = on(r.norm->weight), uw = on(r.up_proj->weight), ub = on(r.up_proj->bias);
      Tensor dw = on(r.down_proj->weight), db = on(r.down_proj->bias);
      kern::router_scores(d, {dt, s.raw(), x.raw(), g.raw(), r.norm->eps(), uw.raw(), ub.raw(), dw.raw(),
                              db.raw(), 21, 40, c.hidden});
      return s.to(Device::cpu());
    };
    const double tol = dt == DType::f64 ? 1e-12 : 1e-5;
    const Tensor cpu = fused(Device::cpu());
    CHECK(rel_err(cpu, want) <= tol);
    if (!cuda::available()) continue;
    CHECK(rel_err(fused(Device::cuda(0)), cpu) <= tol);
    r.to(Device::cuda(0));
    const Tensor hg = h.to(Device::cuda(0));
    CHECK(rel_err(r.decode_scores(hg).to(Device::cpu()), r.scores(hg).to(Device::cpu())) <= tol);
  }
}
