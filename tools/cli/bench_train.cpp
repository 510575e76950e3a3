// `sra bench train` (contract in bench.h): our training step beside torch_reference.py's, measured the same
// way. FLOPs per step, as the reference counts them (all parameters, the embedding included, plus causal
// attention's QKᵀ and PV forward and backward):
//   flops = 6 · params · tokens + 6 · layers · d · seq · tokens,   tokens = batch · seq
// MFU = flops / step time / 989e12 (H100/H200 SXM dense bf16 peak); tokens_per_s = tokens / step time.
// Step time: the sum of its phases — forward, backward, optimizer (clip factor + AdamW + zero_grad) — each
// between two events on the device's stream (cuda::EventTimer; the wall clock on the CPU); the median over
// the timed steps (the upper median for an even count, as the reference's times[n // 2]), and each
// phase's median (fwd_ms, bwd_ms, opt_ms: where the time goes). Under a launcher (--nproc-per-node N,
// torchrun, ...) the gradients are averaged over the ranks as the trainer does (train/grad_sync.h, the
// trainer's buckets, their all-reduces started during the backward; --backend): a fourth phase,
// comm_ms, is the wait for them (tcp: also the 1/N and the copy out of the flat buckets; the launches
// count in bwd_ms); the line adds
// "ranks" and "backend": with N = 1 and nccl, the cost of data parallel on one GPU (tools/gpu_check.sh dp).
// peak_mem_gib: the caching allocator's peak bytes in use (weights, AdamW moments, activations, gradients)
// since the model and optimizer were built, in GiB (null on the CPU). Differences from the reference's step:
// ours also clips the gradient norm (on the device, as the trainer does: no host read), and autocast covers
// the GEMMs only (autograd/autocast.h).
#include <algorithm>
#include <array>
#include <cmath>
#include <ctime>
#include <optional>
#include <ostream>
#include <vector>

#include "autograd/autocast.h"
#include "autograd/ops.h"
#include "core/check.h"
#include "core/cuda_runtime.h"
#include "core/dist/collectives.h"
#include "core/json.h"
#include "model/optimizer.h"
#include "model/transformer.h"
#include "run/run_log.h"
#include "tools/cli/bench.h"
#include "train/grad_sync.h"

namespace sra::cli {

namespace {

constexpr double kPeakFlops = 989e12;

double median(std::vector<double> v) {  // the upper median, as the reference's times[n // 2]
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// One phase of the step: events around it on the GPU, the wall clock on the CPU; `ms` keeps timed steps.
struct Phase {
  const char* name = "";
  std::optional<cuda::EventTimer> timer;
  double t0 = 0;
  std::vector<double> ms;
  void start() {
    if (timer) timer->start();
    t0 = now_s();
  }
  void stop() {
    if (timer) timer->stop();
    t0 = now_s() - t0;
  }
  double read(bool keep) {  // the phase's milliseconds (the GPU's: waits for the stop event)
    const double v = timer ? timer->elapsed_ms() : t0 * 1e3;
    if (keep) ms.push_back(v);
    return v;
  }
};

}  // namespace

std::string utc_date() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

double round_to(double v, int digits) {
  double s = std::pow(10.0, digits);
  return std::round(v * s) / s;
}

TransformerConfig bench_model(int64_t vocab, int64_t d_model, int64_t n_layers, int64_t n_heads, int64_t d_ff,
                              int64_t max_seq_len) {
  TransformerConfig c;
  c.vocab_size = vocab;
  c.d_model = d_model;
  c.n_layers = n_layers;
  c.n_heads = c.n_kv_heads = n_heads;
  c.d_ff = d_ff;
  c.max_seq_len = max_seq_len;
  return c;
}

Device bench_device(const std::string& spec) {
  const Device dev = Device::parse(spec);
  if (dev.is_cuda())
    SRA_CHECK(dev.index < cuda::device_count(), "[bench] ", dev.str(), ": ", cuda::device_count(),
              " GPU(s) visible");
  return dev;
}

int run_bench_train(const BenchTrainOptions& o, std::ostream& out) {
  SRA_CHECK(o.steps >= 1 && o.warmup >= 0, "[bench] steps must be >= 1 and warmup >= 0, got ", o.steps,
            " and ", o.warmup);
  SRA_CHECK(o.precision == "f32" || o.precision == "bf16", "[bench] precision must be f32 or bf16, got '",
            o.precision, "'");
  SRA_CHECK(o.attention == "dense" || o.attention == "sra", "[bench] --attention must be dense or sra, got '",
            o.attention, "'");
  SRA_CHECK(o.loss == "fused" || o.loss == "unfused", "[bench] --loss must be fused or unfused, got '",
            o.loss, "'");
  SRA_CHECK(o.d_model % o.n_heads == 0, "[bench] d_model ", o.d_model, " is not a multiple of the ",
            o.n_heads, " heads");
  const Device dev = bench_device(dist::rank_device(o.device, dist::dist_env()).str());
  auto job = dist::join_job(o.backend, dev, 300, "bench train");  // null: one plain process
  const bool bf16 = o.precision == "bf16";

  TransformerConfig c = bench_model(o.vocab, o.d_model, o.n_layers, o.n_heads, o.d_ff, o.seq_len);
  c.tie_embeddings = false;
  const bool sra = o.attention == "sra";
  if (sra) {
    c.attention = "sra";
    c.dense_layers = {0, -1};
    c.window = o.window;
    c.sinks = o.sinks;
    c.router.target_ratio = o.ratio;
  }
  Transformer model(c);
  model.to(dev);
  model.set_fused_loss(o.loss == "fused");
  NamedTensors params = model.named_parameters();
  AdamW optim(params, AdamWConfig{});
  std::optional<GradSync> sync;
  if (job) sync.emplace(params, *job->comm);
  Generator gen(1);
  std::vector<int64_t> ids(size_t(o.batch * (o.seq_len + 1)));
  for (auto& x : ids) x = int64_t(gen.next_below(uint64_t(o.vocab)));
  Tensor batch = Tensor::from_vector(ids, {o.batch, o.seq_len + 1}).to(dev);

  // One step as the trainer runs it: forward, backward, the clip factor on the device (no host read),
  // AdamW, zero_grad; each phase between two events on the GPU (wall clock on the CPU).
  std::array<Phase, 4> phases;  // comm_ms: the gradient all-reduce, with a launcher only
  phases[0].name = "fwd_ms", phases[1].name = "bwd_ms", phases[2].name = "opt_ms", phases[3].name = "comm_ms";
  if (dev.is_cuda()) {
    for (Phase& p : phases) p.timer.emplace(dev.index);
    cuda::reset_peak(dev.index);
  }
  std::vector<double> ms;
  for (int64_t s = 0; s < o.warmup + o.steps; ++s) {
    {
      std::optional<AutocastGuard> autocast;
      if (bf16) autocast.emplace(DType::bf16);
      phases[0].start();
      Tensor loss = model.loss(batch);
      phases[0].stop();
      phases[1].start();
      // with a launcher, as the trainer does by default (distributed.overlap): the gradient buckets'
      // all-reduces start during the backward
      backward(loss, Tensor(), false, sync ? sync->overlap_hook("step " + std::to_string(s)) : LeafReadyFn());
      phases[1].stop();
    }
    if (sync) {
      phases[3].start();
      sync->finish("step " + std::to_string(s));  // the wait for them (tcp: the 1/N and the copy back)
      phases[3].stop();
    }
    phases[2].start();
    optim.step(3e-4, grad_norm_and_scale(params, 1.0).narrow(0, 1, 1));
    optim.zero_grad();
    if (sra) model.update_thresholds();  // on the device, as the trainer does after its step
    phases[2].stop();
    double total = 0;
    for (Phase& p : phases)
      if (sync || std::string(p.name) != "comm_ms") total += p.read(s >= o.warmup);
    if (s >= o.warmup) ms.push_back(total);
  }
  const double step_ms = median(ms);

  const double tokens = double(o.batch) * double(o.seq_len);
  const double n_params = double(model.num_parameters());
  const double flops = 6.0 * n_params * tokens + 6.0 * double(o.n_layers * o.d_model * o.seq_len) * tokens;
  Json line = Json::object({{"bench", "train"}});
  line.set("device", dev.is_cuda() ? cuda::device_name(dev.index) : std::string("cpu"));
  line.set("date", utc_date());
  line.set("config",
           detail::concat("d", o.d_model, "-L", o.n_layers, "-T", o.seq_len, "-B", o.batch, "-V", o.vocab));
  line.set("precision", o.precision);
  line.set("loss", o.loss);
  line.set("tokens_per_s", int64_t(std::llround(tokens / step_ms * 1e3)));
  line.set("mfu", round_to(flops / (step_ms * 1e-3) / kPeakFlops, 4));
  line.set("peak_mem_gib",
           dev.is_cuda()
               ? Json(round_to(double(cuda::stats(dev.index).peak_bytes_in_use) / double(1ull << 30), 2))
               : Json());
  line.set("step_ms", round_to(step_ms, 3));
  for (Phase& p : phases)
    if (sync || std::string(p.name) != "comm_ms") line.set(p.name, round_to(median(p.ms), 3));
  if (job) line.set("ranks", job->world_size()), line.set("backend", job->comm->backend());
  if (job && !job->is_root()) return 0;  // rank 0 prints
  line.set("params", int64_t(n_params));
  if (sra) {
    line.set("attention", "sra");
    line.set("window", o.window);
    line.set("sinks", o.sinks);
    line.set("target_ratio", o.ratio);
    line.set("selected_ratio", round_to(read_back({model.last_selected_ratio()})[0][0], 4));
  }
  out << line.dump() << "\n";
  return 0;
}

}  // namespace sra::cli
