// `sra bench attention --json` (contract in bench.h): the attention core, forward + backward of sum(out)
// (backward seeded with its gradient, ones: our CUDA sum over all of out is one block, milliseconds at 16k),
// our dense causal `attention` and our `sparse_attention`, as ../shared/bench/torch_reference.py `attn`
// sets it up: q, k, v (B, H, T, D) random normal, the critical tokens a random `ratio` of the positions
// plus the first `sinks`, gate 1, window W. One JSON line per length: bench "attn", device, date, seq,
// batch, heads, head_dim, ratio, window, sinks, critical (K, sinks included), dtype (the precision: bf16
// runs both ops under AutocastGuard(bf16), the tensor-core kernels on CUDA; f32 the f32 kernels), sra_ms,
// our_dense_ms, pair_fraction (attended query-key pairs / dense causal pairs: the ideal speed-up is its
// inverse), sra_tflops and our_dense_tflops (attended pairs only: 4·pairs·D FLOPs forward, 2.5× that
// backward, over B·H heads, batch row 0's pairs for every row). Times: `reps` timed runs after one
// warm-up, the upper median; CUDA events on the GPU, the wall clock on the CPU.
#include <algorithm>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "autograd/autocast.h"
#include "autograd/ops.h"
#include "autograd/sparse_attention.h"
#include "autograd/tape.h"
#include "core/check.h"
#include "core/cuda_runtime.h"
#include "core/json.h"
#include "core/rng.h"
#include "run/run_log.h"
#include "tools/cli/bench.h"

namespace sra::cli {

namespace {

// Milliseconds of f() (queued work included), upper median of `reps` runs after a warm-up.
double median_ms(const std::function<void()>& f, int64_t reps, Device dev) {
  std::optional<cuda::EventTimer> timer;
  if (dev.is_cuda()) timer.emplace(dev.index);
  std::vector<double> ms;
  for (int64_t r = 0; r <= reps; ++r) {
    const double t0 = now_s();
    if (timer) timer->start();
    f();
    if (timer) timer->stop();
    const double t = timer ? timer->elapsed_ms() : (now_s() - t0) * 1e3;
    if (r > 0) ms.push_back(t);
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

// Query-key pairs the sparse pattern attends over those of dense causal attention (batch row 0):
// query i sees min(i + 1, W) window keys and the far keys (sinks, critical) at positions ≤ i − W.
double pair_fraction(const std::vector<uint8_t>& far, int64_t T, int64_t W) {
  double pairs = 0;
  int64_t far_before = 0;  // far keys at positions ≤ i − W
  for (int64_t i = 0; i < T; ++i) {
    if (i - W >= 0 && far[size_t(i - W)]) ++far_before;
    pairs += double(std::min(i + 1, W) + far_before);
  }
  return pairs / (double(T) * double(T + 1) / 2);
}

Json bench_one(const BenchAttentionOptions& o, int64_t T, Device dev) {
  Generator gen(3);
  const int64_t B = o.batch, H = o.heads, D = o.head_dim;
  auto leaf = [&] { return randn({B, H, T, D}, gen).to(dev).set_requires_grad(true); };
  Tensor q = leaf(), k = leaf(), v = leaf();
  std::vector<uint8_t> sel(size_t(B * T));
  for (size_t i = 0; i < sel.size(); ++i) sel[i] = gen.next_uniform() < o.ratio || int64_t(i) % T < o.sinks;
  const int64_t critical = std::count(sel.begin(), sel.begin() + T, uint8_t(1));
  Tensor selected = Tensor::from_vector(sel, {B, T}).to(dev);
  Tensor gate = Tensor::ones({B, T}).to(dev);
  const Tensor ones = Tensor::ones({B, H, T, D}).to(dev);
  auto fwd_bwd = [&](const std::function<Tensor()>& f) {
    return [&, f] {
      backward(f(), ones);  // the gradient of sum(out), without timing the f32 sum over all of out
      for (Tensor* t : {&q, &k, &v}) t->zero_grad();
      tape_clear();
    };
  };
  const std::string precision = !o.precision.empty() ? o.precision : dev.is_cuda() ? "bf16" : "f32";
  AutocastGuard guard(precision == "bf16" ? DType::bf16 : DType::f32);
  const double dense = median_ms(fwd_bwd([&] { return attention(q, k, v, true); }), o.reps, dev);
  const double sparse = median_ms(
      fwd_bwd([&] { return sparse_attention(q, k, v, selected, gate, o.window, o.sinks); }), o.reps, dev);
  const std::vector<uint8_t> row0(sel.begin(), sel.begin() + T);
  const double fraction = pair_fraction(row0, T, o.window);
  const double dense_flop = 14.0 * double(B * H * D) * double(T) * double(T + 1) / 2;  // 4·pairs·D·(1 + 2.5)
  auto tflops = [](double flop, double ms) { return round_to(flop / (ms * 1e-3) / 1e12, 2); };
  Json line = Json::object({{"bench", "attn"}});
  line.set("device", dev.is_cuda() ? cuda::device_name(dev.index) : std::string("cpu"));
  line.set("date", utc_date());
  line.set("seq", T);
  line.set("batch", B);
  line.set("heads", H);
  line.set("head_dim", D);
  line.set("ratio", o.ratio);
  line.set("window", o.window);
  line.set("sinks", o.sinks);
  line.set("critical", critical);
  line.set("dtype", precision);
  line.set("sra_ms", round_to(sparse, 3));
  line.set("our_dense_ms", round_to(dense, 3));
  line.set("pair_fraction", round_to(fraction, 4));
  line.set("sra_tflops", tflops(dense_flop * fraction, sparse));
  line.set("our_dense_tflops", tflops(dense_flop, dense));
  return line;
}

}  // namespace

int run_bench_attention_json(const BenchAttentionOptions& o, std::ostream& out) {
  const Device dev = bench_device(o.device);
  std::vector<int64_t> seqs = o.seqs.empty() ? std::vector<int64_t>{o.seq_len} : o.seqs;
  for (int64_t T : seqs) out << bench_one(o, T, dev).dump() << "\n" << std::flush;
  return 0;
}

}  // namespace sra::cli
