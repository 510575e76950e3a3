#include "tools/cli/demo.h"

#include <cmath>
#include <cstdio>
#include <ostream>

#include "data/text_dataset.h"
#include "model/optimizer.h"
#include "run/run_log.h"

namespace sra {

namespace {
std::string printable(const std::vector<int64_t>& toks) {
  std::string s;
  for (int64_t t : toks) s += (t == '\n' || (t >= 32 && t < 127)) ? char(t) : '?';
  return s;
}
}  // namespace

TextDemoResult run_text_demo(const TextDemoOptions& opt, std::ostream& out) {
  SRA_CHECK(opt.seconds > 0 && opt.batch > 0 && opt.seq_len > 1,
            "[demo] seconds, batch and seq_len must be > 0");
  ByteText text = ByteText::load(opt.text_path);
  auto [train, val] = text.split(0.9);
  TransformerConfig mc = opt.model;
  mc.vocab_size = 256;
  mc.max_seq_len = std::max(mc.max_seq_len, opt.seq_len);
  mc.seed = opt.seed;
  Transformer model(mc);
  AdamW optim(model.named_parameters(), AdamWConfig{opt.lr, 0.9, 0.95, 1e-8, 0.1});
  Generator data_gen(opt.seed, /*stream=*/1);

  char line[256];
  std::snprintf(
      line, sizeof line,
      "demo: %lld parameters (d=%lld, layers=%lld, heads=%lld, attention %s, window %lld, sinks %lld, "
      "target ratio %.2f), batch %lld x %lld bytes, %.0f s\n",
      (long long)model.num_parameters(), (long long)mc.d_model, (long long)mc.n_layers, (long long)mc.n_heads,
      mc.attention.c_str(), (long long)mc.window, (long long)mc.sinks, mc.router.target_ratio,
      (long long)opt.batch, (long long)opt.seq_len, opt.seconds);
  out << line << std::flush;

  TextDemoResult res;
  const double t0 = now_s();
  double est_steps = 0, avg = 0;
  const int64_t warmup = 20;
  while (true) {
    double elapsed = now_s() - t0;
    if (elapsed >= opt.seconds) break;
    int64_t step = res.steps;
    // the schedule runs over the estimated number of steps that fit the budget
    if (step >= 5) est_steps = double(step) * opt.seconds / std::max(elapsed, 1e-3);
    double progress = est_steps > 0 ? std::min(1.0, double(step) / est_steps) : 0.0;
    double lr = step < warmup ? opt.lr * double(step + 1) / double(warmup)
                              : opt.lr * (0.1 + 0.9 * 0.5 * (1 + std::cos(M_PI * progress)));
    Tensor batch = train.sample_batch(opt.batch, opt.seq_len, data_gen);
    Tensor loss = model.loss(batch);
    backward(loss);
    auto [norm, scale] = clip_grad_norm(model.named_parameters(), 1.0);
    optim.step(lr, scale);
    optim.zero_grad();
    double ratio = model.last_selected_ratio().item();
    model.update_thresholds();
    double l = loss.item();
    if (step == 0) res.first_loss = l, avg = l;
    avg = 0.9 * avg + 0.1 * l;
    res.last_loss = avg;
    ++res.steps;
    if (res.steps % opt.log_every == 0 || res.steps == 1) {
      double el = now_s() - t0;
      std::snprintf(
          line, sizeof line,
          "step %5lld  loss %.4f  (avg %.4f)  lr %.2e  |g| %.2f  selected %.3f  %.0f tok/s  %.0fs\n",
          (long long)res.steps, l, avg, lr, norm, ratio, double(res.steps * opt.batch * opt.seq_len) / el,
          el);
      out << line << std::flush;
    }
  }
  double train_time = now_s() - t0;
  res.tokens_per_second = double(res.steps * opt.batch * opt.seq_len) / train_time;

  // held-out loss over fixed windows of the last 10% of the text
  {
    NoGradGuard g;
    model.eval();
    Generator val_gen(opt.seed + 7, 2);
    double s = 0;
    const int evals = 4;
    for (int i = 0; i < evals; ++i) s += model.loss(val.sample_batch(opt.batch, opt.seq_len, val_gen)).item();
    res.val_loss = s / evals;
  }
  std::snprintf(line, sizeof line,
                "done: %lld steps in %.0f s, train loss %.4f -> %.4f, held-out loss %.4f, %.0f tok/s\n",
                (long long)res.steps, train_time, res.first_loss, res.last_loss, res.val_loss,
                res.tokens_per_second);
  out << line;

  // a short sample (temperature 0.8), recomputing the window each token
  {
    NoGradGuard g;
    Generator sgen(opt.seed, 3);
    std::vector<int64_t> toks(val.tokens().begin(), val.tokens().begin() + 32);
    size_t prompt = toks.size();
    for (int i = 0; i < 200; ++i) {
      int64_t n = std::min<int64_t>(int64_t(toks.size()), opt.seq_len);
      std::vector<int64_t> win(toks.end() - n, toks.end());
      Tensor logits = model.forward(Tensor::from_vector(win, {1, n}));
      std::vector<float> last = logits.slice(1, n - 1, n).to_vector<float>();
      double mx = -1e30;
      for (float v : last) mx = std::max(mx, double(v));
      std::vector<double> p(last.size());
      double z = 0;
      for (size_t k = 0; k < last.size(); ++k) z += p[k] = std::exp((double(last[k]) - mx) / 0.8);
      double u = sgen.next_uniform() * z, c = 0;
      int64_t pick = int64_t(p.size()) - 1;
      for (size_t k = 0; k < p.size(); ++k) {
        c += p[k];
        if (u < c) {
          pick = int64_t(k);
          break;
        }
      }
      toks.push_back(pick);
    }
    out << "sample (prompt | generated):\n"
        << printable({toks.begin(), toks.begin() + long(prompt)}) << " | "
        << printable({toks.begin() + long(prompt), toks.end()}) << "\n";
  }
  return res;
}

}  // namespace sra
