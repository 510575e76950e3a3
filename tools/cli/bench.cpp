// Model FLOPs of one training step (forward + backward), counted the usual way:
//   linear layers: 6 · tokens · (weights in q,k,v,o, gate, up, down and the lm head)
//   causal attention: per layer fwd 2·B·T²·d (QKᵀ and PV over the lower triangle), ×3 with backward
// Recomputation inside the attention backward is not counted (it is overhead, not model work).
#include "tools/cli/bench.h"

#include <cblas.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <ostream>
#include <vector>

#include "autograd/sparse_attention.h"
#include "core/check.h"
#include "core/parallel.h"
#include "kernels/matmul/matmul.h"
#include "model/optimizer.h"
#include "model/transformer.h"
#include "run/run_log.h"

namespace sra::cli {

namespace {

extern "C" void openblas_set_num_threads(int);

// OpenBLAS's own multi-threaded sgemm (the reference), measured with all our threads.
double openblas_gflops(int64_t m, int64_t n, int64_t k, int reps) {
  openblas_set_num_threads(num_threads());
  std::vector<float> a(size_t(m * k), 0.5f), b(size_t(k * n), 0.25f), c(size_t(m * n));
  double best = 1e30;
  for (int r = 0; r <= reps; ++r) {
    double t = now_s();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(m), int(n), int(k), 1.f, a.data(), int(k),
                b.data(), int(n), 0.f, c.data(), int(n));
    if (r > 0) best = std::min(best, now_s() - t);
  }
  openblas_set_num_threads(1);
  return 2.0 * double(m) * double(n) * double(k) / best / 1e9;
}

// Our GEMM (OpenBLAS single-threaded per block, blocks over the pool).
double sgemm_gflops(int64_t m, int64_t n, int64_t k, int reps) {
  std::vector<float> a(size_t(m * k), 0.5f), b(size_t(k * n), 0.25f), c(size_t(m * n));
  kern::gemm_cpu<float>(false, false, m, n, k, 1.f, a.data(), k, b.data(), n, 0.f, c.data(), n);
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    double t = now_s();
    kern::gemm_cpu<float>(false, false, m, n, k, 1.f, a.data(), k, b.data(), n, 0.f, c.data(), n);
    best = std::min(best, now_s() - t);
  }
  return 2.0 * double(m) * double(n) * double(k) / best / 1e9;
}
}  // namespace

int run_bench_cpu(const BenchCpuOptions& o, std::ostream& out) {
  SRA_CHECK(o.steps >= 1 && o.warmup >= 0, "[bench] steps must be >= 1 and warmup >= 0, got ", o.steps,
            " and ", o.warmup);
  if (o.threads > 0) set_num_threads(o.threads);
  char line[512];
  std::snprintf(line, sizeof line, "sra bench cpu: %d threads\n", num_threads());
  out << line;
  const int64_t g = o.gemm_size;
  double blas_sq = openblas_gflops(g, g, g, 10);
  double ours_sq = sgemm_gflops(g, g, g, 10);
  double gemm_sq = std::max(blas_sq, ours_sq);  // the reference: the better of the two
  int64_t tokens = o.batch * o.seq_len;
  double gemm_model = sgemm_gflops(tokens, o.d_ff, o.d_model, 10);
  std::snprintf(
      line, sizeof line,
      "sgemm %lldx%lldx%lld: OpenBLAS threaded %.1f GFLOP/s, ours (blocked over the pool) %.1f GFLOP/s; "
      "model-shaped %lldx%lldx%lld (ours): %.1f GFLOP/s\n",
      (long long)g, (long long)g, (long long)g, blas_sq, ours_sq, (long long)tokens, (long long)o.d_ff,
      (long long)o.d_model, gemm_model);
  out << line;

  Transformer model(bench_model(o.vocab, o.d_model, o.n_layers, o.n_heads, o.d_ff, o.seq_len));
  AdamW optim(model.named_parameters(), AdamWConfig{});
  Generator gen(1);
  std::vector<int64_t> ids(size_t(o.batch * (o.seq_len + 1)));
  for (auto& x : ids) x = int64_t(gen.next_below(uint64_t(o.vocab)));
  Tensor batch = Tensor::from_vector(ids, {o.batch, o.seq_len + 1});

  double per_layer_w = double(2 * o.d_model * o.d_model +
                              2 * o.d_model * (o.d_model / o.n_heads * o.n_heads) + 3 * o.d_model * o.d_ff);
  double linear_flops =
      6.0 * double(tokens) * (double(o.n_layers) * per_layer_w + double(o.vocab * o.d_model));
  double attn_flops = 3.0 * double(o.n_layers) * 2.0 * double(o.batch) * double(o.seq_len) *
                      double(o.seq_len) * double(o.d_model);
  double flops = linear_flops + attn_flops;

  double t_fwd = 0, t_bwd = 0, t_opt = 0;
  for (int64_t s = 0; s < o.warmup + o.steps; ++s) {
    double a = now_s();
    Tensor loss = model.loss(batch);
    double b = now_s();
    backward(loss);
    double c2 = now_s();
    auto [norm, scale] = clip_grad_norm(model.named_parameters(), 1.0);
    optim.step(1e-4, scale);
    optim.zero_grad();
    double d = now_s();
    if (s >= o.warmup) t_fwd += b - a, t_bwd += c2 - b, t_opt += d - c2;
  }
  double n = double(o.steps);
  double step = (t_fwd + t_bwd + t_opt) / n;
  double gf = flops / step / 1e9;
  std::snprintf(line, sizeof line,
                "train step d=%lld L=%lld H=%lld T=%lld B=%lld V=%lld (%lld params): %.1f ms "
                "(fwd %.1f, bwd %.1f, opt %.1f), %.2f GFLOP/step, %.1f GFLOP/s, %.0f tok/s\n",
                (long long)o.d_model, (long long)o.n_layers, (long long)o.n_heads, (long long)o.seq_len,
                (long long)o.batch, (long long)o.vocab, (long long)model.num_parameters(), step * 1e3,
                t_fwd / n * 1e3, t_bwd / n * 1e3, t_opt / n * 1e3, flops / 1e9, gf, double(tokens) / step);
  out << line;
  std::snprintf(line, sizeof line, "ratio: train step / best sgemm %lld^3 = %.1f%%  (goal >= 40%%)\n",
                (long long)g, 100.0 * gf / gemm_sq);
  out << line;
  return 0;
}

int run_bench_attention(const BenchAttentionOptions& o, std::ostream& out) {
  if (o.threads > 0) set_num_threads(o.threads);
  Generator gen(3);
  const int64_t B = o.batch, H = o.heads, T = o.seq_len, D = o.head_dim;
  Tensor q = randn({B, H, T, D}, gen), k = randn({B, H, T, D}, gen), v = randn({B, H, T, D}, gen);
  std::vector<uint8_t> sel(static_cast<size_t>(B * T));
  int64_t selected = 0;
  for (auto& z : sel) selected += z = gen.next_uniform() < o.ratio;
  Tensor selected_t = Tensor::from_vector(sel, {B, T});
  Tensor gate = Tensor::ones({B, T});
  for (Tensor* t : {&q, &k, &v, &gate}) t->set_requires_grad(true);
  auto time_it = [&](const std::function<Tensor()>& f, bool with_backward) {
    double best = 1e30;
    for (int64_t r = 0; r <= o.reps; ++r) {
      tape_clear();
      double a = now_s();
      Tensor y = f();
      if (with_backward) backward(sum(y));
      double t = now_s() - a;
      if (r > 0) best = std::min(best, t);  // the first run warms up
    }
    tape_clear();
    return best;
  };
  auto dense = [&] { return attention(q, k, v, true); };
  auto sparse = [&] { return sparse_attention(q, k, v, selected_t, gate, o.window, o.sinks); };
  double df = 0, sf = 0;
  {
    NoGradGuard g;
    df = time_it(dense, false);
    sf = time_it(sparse, false);
  }
  double dfb = time_it(dense, true), sfb = time_it(sparse, true);
  char line[512];
  std::snprintf(line, sizeof line,
                "sra bench attention: %d threads, B=%lld H=%lld T=%lld D=%lld, window %lld, sinks %lld, "
                "%lld critical (%.1f%%)\n"
                "dense causal: fwd %.1f ms, fwd+bwd %.1f ms\n"
                "sparse (SRA): fwd %.1f ms, fwd+bwd %.1f ms\n"
                "speed-up: fwd %.2fx, fwd+bwd %.2fx\n",
                num_threads(), (long long)B, (long long)H, (long long)T, (long long)D, (long long)o.window,
                (long long)o.sinks, (long long)selected, 100.0 * double(selected) / double(B * T), df * 1e3,
                dfb * 1e3, sf * 1e3, sfb * 1e3, df / sf, dfb / sfb);
  out << line;
  return 0;
}

}  // namespace sra::cli
