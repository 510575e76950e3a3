// `sra bench decode` (contract in bench.h): greedy decoding speed with a filled KV cache, as
// ../shared/bench/torch_reference.py `decode` sets it up (d 768, 12 layers, 12 heads, vocab 32768,
// batch 8, 64 new tokens; the context's keys and values random normal, never zeros), for our dense model
// and for the same model with every layer SRA (sinks + window + a random `ratio` of the context's tokens
// marked critical; the new tokens' z from the model's routers). Each decode step is decode_batch_greedy over
// the batch (the argmax on the device, one host read of B ids per step), timed by the wall clock around it
// (that read waits for the device); one JSON line per (context, attention): ms_per_token (the upper median
// step), tokens_per_s (batch / step), kv_cache_gib (our cache after the run: f32 entries) and kv_vs_dense
// (its bytes over a dense f32 cache of the same tokens); on CUDA launches_per_step (check_launch calls per
// step) and a profiler range around the timed steps (tools/gpu_profile.sh decode: ncu's per-kernel times).
// The reference keeps a bf16 dense cache: its bytes per token are half of our dense ones.
#include <algorithm>
#include <ostream>
#include <vector>

#include "autograd/ops.h"
#include "core/check.h"
#include "core/cuda_runtime.h"
#include "core/json.h"
#include "core/rng.h"
#include "model/generate.h"
#include "model/kv_cache.h"
#include "model/transformer.h"
#include "run/run_log.h"
#include "tools/cli/bench.h"

namespace sra::cli {

namespace {

TransformerConfig decode_config(const BenchDecodeOptions& o, bool sra, int64_t context) {
  TransformerConfig c =
      bench_model(o.vocab, o.d_model, o.n_layers, o.n_heads, o.d_ff, context + o.new_tokens);
  c.tie_embeddings = false;
  c.attention = sra ? "sra" : "dense";
  c.dense_layers = {};
  c.window = o.window;
  c.sinks = o.sinks;
  return c;
}

// Fills every layer of `cache` with `context` random tokens: k, v ~ N(0, 1), z_j ~ Bernoulli(ratio).
void fill(KVCache& cache, const TransformerConfig& c, int64_t context, double ratio, Generator& gen,
          Device dev) {
  const int64_t Hkv = c.n_kv_heads, D = c.head_dim();
  for (size_t l = 0; l < cache.n_layers(); ++l) {
    std::vector<uint8_t> z(static_cast<size_t>(context));
    for (auto& x : z) x = gen.next_uniform() < ratio ? 1 : 0;
    const Tensor k = randn({1, Hkv, context, D}, gen, DType::f32, dev);
    const Tensor v = randn({1, Hkv, context, D}, gen, DType::f32, dev);
    cache.layer(l).append_prompt(k, v, z);
  }
  for (int64_t t = 0; t < context; ++t) cache.advance();
}

Json bench_one(const BenchDecodeOptions& o, bool sra, int64_t context, Device dev) {
  const TransformerConfig c = decode_config(o, sra, context);
  Transformer model(c);
  model.to(dev);
  model.eval();
  Generator gen(5);
  std::vector<KVCache> caches;
  for (int64_t b = 0; b < o.batch; ++b) caches.emplace_back(c);
  std::vector<KVCache*> ptrs;
  for (KVCache& k : caches) {
    fill(k, c, context, o.ratio, gen, dev);
    ptrs.push_back(&k);
  }
  std::vector<int64_t> tokens(size_t(o.batch));
  for (auto& t : tokens) t = int64_t(gen.next_below(uint64_t(o.vocab)));
  std::vector<double> ms;
  uint64_t launches = 0;  // kernel launches of the timed steps (CUDA)
  for (int64_t s = 0; s < o.warmup + o.new_tokens; ++s) {
    if (s == o.warmup && dev.is_cuda()) {  // `ncu --profile-from-start off` records the timed steps only
      launches = cuda::stats(dev.index).launches;
      cuda::profiler_start(dev.index);
    }
    const double t0 = now_s();
    tokens = decode_batch_greedy(model, ptrs, tokens);  // the argmax on the device, B ids read back
    const double t = (now_s() - t0) * 1e3;
    if (s >= o.warmup) ms.push_back(t);
  }
  if (dev.is_cuda()) {
    cuda::profiler_stop(dev.index);
    launches = cuda::stats(dev.index).launches - launches;
  }
  std::sort(ms.begin(), ms.end());
  const double step_ms = ms[ms.size() / 2];
  int64_t bytes = 0;
  for (const KVCache& k : caches) bytes += k.bytes();
  const double dense_bytes = 2.0 * double(c.n_layers * o.batch * c.n_kv_heads * c.head_dim()) *
                             double(context + o.warmup + o.new_tokens) * 4.0;
  Json line = Json::object({{"bench", "decode"}});
  line.set("device", dev.is_cuda() ? cuda::device_name(dev.index) : std::string("cpu"));
  line.set("date", utc_date());
  line.set("attention", sra ? "sra" : "dense");
  line.set("context", context);
  line.set("batch", o.batch);
  line.set("new", o.new_tokens);
  line.set("d", o.d_model);
  line.set("layers", o.n_layers);
  line.set("heads", o.n_heads);
  if (sra) {
    line.set("ratio", o.ratio);
    line.set("window", o.window);
    line.set("sinks", o.sinks);
  }
  line.set("ms_per_token", round_to(step_ms, 3));
  line.set("tokens_per_s", round_to(double(o.batch) / step_ms * 1e3, 1));
  if (dev.is_cuda()) line.set("launches_per_step", round_to(double(launches) / double(o.new_tokens), 1));
  line.set("kv_cache_gib", round_to(double(bytes) / double(1ll << 30), 3));
  line.set("kv_vs_dense", round_to(double(bytes) / dense_bytes, 4));
  return line;
}

}  // namespace

int run_bench_decode(const BenchDecodeOptions& o, std::ostream& out) {
  SRA_CHECK(o.d_model % o.n_heads == 0, "[bench] d_model ", o.d_model, " is not a multiple of the ",
            o.n_heads, " heads");
  const Device dev = bench_device(o.device);
  const std::vector<int64_t> contexts = o.contexts.empty() ? std::vector<int64_t>{16384} : o.contexts;
  for (int64_t context : contexts) {
    for (const std::string& a : o.attention) {
      SRA_CHECK(a == "dense" || a == "sra", "[bench] --attention must list dense and/or sra, got '", a, "'");
      out << bench_one(o, a == "sra", context, dev).dump() << std::endl;
    }
  }
  return 0;
}

}  // namespace sra::cli
