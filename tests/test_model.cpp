// The pieces compose: a whole decoder gradchecks in f64, a tiny one learns a toy task, parameter names
// follow Hugging Face Llama. (Thread-count determinism of whole training runs, at sizes where every
// kernel splits: tests/test_thread_determinism.cpp.)
#include <doctest/doctest.h>

#include <cmath>

#include "kernels/matmul/matmul.h"
#include "model/optimizer.h"
#include "model/transformer.h"
#include "tests/gradcheck.h"

using namespace sra;

namespace {
TransformerConfig tiny_config() {
  TransformerConfig c;
  c.vocab_size = 16;
  c.d_model = 16;
  c.n_layers = 2;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.d_ff = 24;
  c.max_seq_len = 32;
  c.init_std = 0.3;
  c.seed = 3;
  return c;
}

Tensor random_ids(int64_t b, int64_t t, int64_t vocab, Generator& gen) {
  std::vector<int64_t> v(static_cast<size_t>(b * t));
  for (auto& x : v) x = int64_t(gen.next_below(uint64_t(vocab)));
  return Tensor::from_vector(v, {b, t});
}

// One AdamW training step; returns the loss.
double train_step(Transformer& m, AdamW& opt, const Tensor& batch, double lr) {
  Tensor loss = m.loss(batch);
  backward(loss);
  auto [norm, scale] = clip_grad_norm(m.named_parameters(), 1.0);
  opt.step(lr, scale);
  opt.zero_grad();
  return loss.item();
}
}  // namespace

TEST_CASE("model: parameter names follow Hugging Face Llama") {
  TransformerConfig c = tiny_config();
  c.tie_embeddings = false;
  Transformer m(c);
  NamedTensors ps = m.named_parameters();
  std::vector<std::string> names;
  for (auto& [n, t] : ps) names.push_back(n);
  auto has = [&](const std::string& n) { return std::find(names.begin(), names.end(), n) != names.end(); };
  CHECK(has("model.embed_tokens.weight"));
  CHECK(has("model.layers.0.self_attn.q_proj.weight"));
  CHECK(has("model.layers.1.self_attn.k_proj.weight"));
  CHECK(has("model.layers.1.mlp.gate_proj.weight"));
  CHECK(has("model.layers.0.input_layernorm.weight"));
  CHECK(has("model.layers.0.post_attention_layernorm.weight"));
  CHECK(has("model.norm.weight"));
  CHECK(has("lm_head.weight"));
  CHECK(m.find("model.layers.1.self_attn.k_proj.weight").shape() == Shape{8, 16});  // 2 kv heads of 4
  CHECK_THROWS_WITH_AS(m.find("model.nope"), "[module] no parameter or buffer named 'model.nope'", Error);
  TransformerConfig bad = tiny_config();
  bad.n_heads = 3;
  CHECK_THROWS_WITH_AS(Transformer{bad}, "[model] d_model 16 is not a multiple of n_heads 3", Error);
}

TEST_CASE("model: a whole decoder (GQA, tied head) gradchecks in f64") {
  TransformerConfig c = tiny_config();
  c.dtype = DType::f64;
  c.n_layers = 1;
  c.max_seq_len = 8;
  Transformer m(c);
  Generator gen(5);
  Tensor ids = random_ids(2, 7, c.vocab_size, gen);
  tape_clear();
  backward(m.loss(ids));
  // finite differences on a sample of elements of every parameter
  for (auto& [name, p] : m.named_parameters()) {
    std::vector<double> ga = p.grad().to_vector<double>();
    double* d = p.data<double>();
    for (int64_t e = 0; e < p.numel(); e += std::max<int64_t>(1, p.numel() / 5)) {
      NoGradGuard g;
      double orig = d[e], eps = 1e-6;
      d[e] = orig + eps;
      double lp = m.loss(ids).item();
      d[e] = orig - eps;
      double lm = m.loss(ids).item();
      d[e] = orig;
      double num = (lp - lm) / (2 * eps);
      INFO(name << "[" << e << "]: analytic " << ga[e] << " numeric " << num);
      CHECK(std::fabs(ga[e] - num) <= 1e-7 + 1e-5 * std::fabs(num));
    }
  }
}

TEST_CASE("model: a tiny decoder learns a toy task (reverse a sequence)") {
  // Rows: [a1..a6, SEP, a6..a1]; loss on every next token, but only the reversed half is predictable.
  TransformerConfig c = tiny_config();
  c.vocab_size = 12;  // 0..9 symbols, 10 = SEP
  c.d_model = 32;
  c.n_heads = 4;
  c.n_kv_heads = 4;
  c.d_ff = 64;
  c.init_std = 0.1;
  Transformer m(c);
  AdamW opt(m.named_parameters(), AdamWConfig{3e-3, 0.9, 0.98, 1e-8, 0.0});
  Generator gen(11);
  auto make_batch = [&](int64_t b) {
    std::vector<int64_t> v;
    for (int64_t i = 0; i < b; ++i) {
      std::vector<int64_t> a(6);
      for (auto& x : a) x = int64_t(gen.next_below(10));
      v.insert(v.end(), a.begin(), a.end());
      v.push_back(10);
      v.insert(v.end(), a.rbegin(), a.rend());
    }
    return Tensor::from_vector(v, {b, 13});
  };
  for (int step = 0; step < 300; ++step)
    train_step(m, opt, make_batch(32), step < 20 ? 3e-3 * (step + 1) / 20 : 3e-3);
  // accuracy on the reversed half of fresh rows, greedy
  NoGradGuard g;
  Tensor batch = make_batch(64);
  Tensor logits = m.forward(batch.slice(1, 0, 12).contiguous());
  Tensor pred = argmax(logits, -1);
  std::vector<int64_t> p = pred.to_vector<int64_t>(), t = batch.to_vector<int64_t>();
  int correct = 0, total = 0;
  for (int64_t i = 0; i < 64; ++i)
    for (int64_t j = 6; j < 12; ++j, ++total) correct += p[i * 12 + j] == t[i * 13 + j + 1];
  double acc = double(correct) / total;
  INFO("reversal accuracy " << acc);
  CHECK(acc > 0.9);  // chance is 0.1
}

TEST_CASE("matmul: BLAS blocks agree with a naive product, all transpose combinations") {
  Generator gen(3);
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      int64_t m = 300, n = 170, k = 90;  // several blocks, uneven
      Tensor a = randn(ta ? Shape{k, m} : Shape{m, k}, gen, DType::f64);
      Tensor b = randn(tb ? Shape{n, k} : Shape{k, n}, gen, DType::f64);
      Tensor c = Tensor::zeros({m, n}, DType::f64);
      kern::gemm_cpu<double>(ta, tb, m, n, k, 1.0, a.data<double>(), ta ? m : k, b.data<double>(), tb ? k : n,
                             0.0, c.data<double>(), n);
      const double *pa = a.data<double>(), *pb = b.data<double>(), *pc = c.data<double>();
      double worst = 0;
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
          double s = 0;
          for (int64_t q = 0; q < k; ++q)
            s += (ta ? pa[q * m + i] : pa[i * k + q]) * (tb ? pb[j * k + q] : pb[q * n + j]);
          worst = std::max(worst, std::fabs(s - pc[i * n + j]));
        }
      CHECK(worst < 1e-10);
    }
  }
}
