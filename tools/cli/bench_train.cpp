// `sra bench train` (contract in bench.h): our training step beside torch_reference.py's, measured the same
// way. FLOPs per step, as the reference counts them (all parameters, the embedding included, plus causal
// attention's QKᵀ and PV forward and backward):
//   flops = 6 · params · tokens + 6 · layers · d · seq · tokens,   tokens = batch · seq
// MFU = flops / step time / 989e12 (H100/H200 SXM dense bf16 peak); tokens_per_s = tokens / step time.
// Step time: on CUDA two events around each step on the device's stream (cuda::EventTimer), on the CPU the
// wall clock; the median over the timed steps (the upper median for an even count, as the reference's
// times[n // 2]). peak_mem_gib: the caching allocator's peak bytes in use (weights, AdamW moments,
// activations, gradients) since the model and optimizer were built, in GiB (null on the CPU).
// Differences from the reference's step: ours also clips the gradient norm (one host read per step, as
// the trainer does), and autocast covers the GEMMs only (autograd/autocast.h).
#include <algorithm>
#include <cmath>
#include <ctime>
#include <optional>
#include <ostream>
#include <vector>

#include "autograd/autocast.h"
#include "core/check.h"
#include "core/cuda_runtime.h"
#include "core/json.h"
#include "model/optimizer.h"
#include "model/transformer.h"
#include "run/run_log.h"
#include "tools/cli/bench.h"

namespace sra::cli {

namespace {

constexpr double kPeakFlops = 989e12;

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

}  // namespace

int run_bench_train(const BenchTrainOptions& o, std::ostream& out) {
  SRA_CHECK(o.steps >= 1 && o.warmup >= 0, "[bench] steps must be >= 1 and warmup >= 0, got ", o.steps,
            " and ", o.warmup);
  SRA_CHECK(o.precision == "f32" || o.precision == "bf16", "[bench] precision must be f32 or bf16, got '",
            o.precision, "'");
  SRA_CHECK(o.d_model % o.n_heads == 0, "[bench] d_model ", o.d_model, " is not a multiple of the ",
            o.n_heads, " heads");
  const Device dev = Device::parse(o.device);
  if (dev.is_cuda())
    SRA_CHECK(dev.index < cuda::device_count(), "[bench] ", dev.str(), ": ", cuda::device_count(),
              " GPU(s) visible");
  const bool bf16 = o.precision == "bf16";

  TransformerConfig c;
  c.vocab_size = o.vocab;
  c.d_model = o.d_model;
  c.n_layers = o.n_layers;
  c.n_heads = c.n_kv_heads = o.n_heads;
  c.d_ff = o.d_ff;
  c.max_seq_len = o.seq_len;
  c.tie_embeddings = false;
  Transformer model(c);
  model.to(dev);
  NamedTensors params = model.named_parameters();
  AdamW optim(params, AdamWConfig{});
  Generator gen(1);
  std::vector<int64_t> ids(size_t(o.batch * (o.seq_len + 1)));
  for (auto& x : ids) x = int64_t(gen.next_below(uint64_t(o.vocab)));
  Tensor batch = Tensor::from_vector(ids, {o.batch, o.seq_len + 1}).to(dev);

  auto step = [&] {
    {
      std::optional<AutocastGuard> autocast;
      if (bf16) autocast.emplace(DType::bf16);
      Tensor loss = model.loss(batch);
      backward(loss);
    }
    auto [norm, scale] = clip_grad_norm(params, 1.0);
    optim.step(3e-4, scale);
    optim.zero_grad();
  };
  std::optional<cuda::EventTimer> timer;
  if (dev.is_cuda()) {
    timer.emplace(dev.index);
    cuda::reset_peak(dev.index);
  }
  std::vector<double> ms;
  for (int64_t s = 0; s < o.warmup + o.steps; ++s) {
    double t0 = now_s();
    if (timer) timer->start();
    step();
    if (timer) timer->stop();
    double t = timer ? timer->elapsed_ms() : (now_s() - t0) * 1e3;
    if (s >= o.warmup) ms.push_back(t);
  }
  std::sort(ms.begin(), ms.end());
  const double step_ms = ms[ms.size() / 2];

  const double tokens = double(o.batch) * double(o.seq_len);
  const double n_params = double(model.num_parameters());
  const double flops = 6.0 * n_params * tokens + 6.0 * double(o.n_layers * o.d_model * o.seq_len) * tokens;
  Json line = Json::object({{"bench", "train"}});
  line.set("device", dev.is_cuda() ? cuda::device_name(dev.index) : std::string("cpu"));
  line.set("date", utc_date());
  line.set("config",
           detail::concat("d", o.d_model, "-L", o.n_layers, "-T", o.seq_len, "-B", o.batch, "-V", o.vocab));
  line.set("precision", o.precision);
  line.set("tokens_per_s", int64_t(std::llround(tokens / step_ms * 1e3)));
  line.set("mfu", round_to(flops / (step_ms * 1e-3) / kPeakFlops, 4));
  line.set("peak_mem_gib",
           dev.is_cuda()
               ? Json(round_to(double(cuda::stats(dev.index).peak_bytes_in_use) / double(1ull << 30), 2))
               : Json());
  line.set("step_ms", round_to(step_ms, 3));
  line.set("params", int64_t(n_params));
  out << line.dump() << "\n";
  return 0;
}

}  // namespace sra::cli
