// Training on a device (issue "CUDA backend": placement, no host sync in a step, device-independent
// checkpoints). On the CPU: kth_smallest against a sort, the router's threshold arithmetic as explicit
// fused multiply-adds (the bits of the host code it replaced), the device-side clip factor equal to the
// host one, and `sra train` with device cuda refused clearly on a machine without a GPU. On CUDA (skipped,
// reported as skipped, without a GPU): kth_smallest and the staged copies, a router step with no host
// read, whole-model parity (loss, every gradient, the same selections), runs that repeat bitwise and
// resume exactly, a GPU checkpoint evaluated on the CPU, a steady step with no cudaMalloc and no host
// sync, and CPU and GPU loss curves that agree.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <sstream>

#include "autograd/ops.h"
#include "autograd/tape.h"
#include "compare_util.h"
#include "core/cuda_runtime.h"
#include "data_test_util.h"
#include "model/optimizer.h"
#include "model/transformer.h"
#include "run/checkpoint.h"
#include "run/model_io.h"
#include "train/trainer.h"

using namespace sra;
using sra::test::no_gpu;
namespace fs = std::filesystem;
using sra::testing::read_metrics;

namespace {

template <typename T>
Tensor tensor_of(const std::vector<T>& v) {
  return Tensor::from_vector(v, {int64_t(v.size())});
}

// Bits of a one-element tensor (on any device).
uint64_t bits_of(const Tensor& t) {
  double v = t.to(Device::cpu()).to(DType::f64).item();
  uint64_t b;
  std::memcpy(&b, &v, 8);
  return b;
}

double rel_diff(const Tensor& a, const Tensor& b) {
  std::vector<double> x = a.to(Device::cpu()).to_vector<double>(),
                      y = b.to(Device::cpu()).to_vector<double>();
  REQUIRE(x.size() == y.size());
  double num = 0, den = 0;
  for (size_t i = 0; i < x.size(); ++i) num += (x[i] - y[i]) * (x[i] - y[i]), den += x[i] * x[i];
  return den == 0 ? std::sqrt(num) : std::sqrt(num / den);
}

std::vector<double> random_values(int64_t n, Generator& g, int distinct) {
  std::vector<double> v(static_cast<size_t>(n));
  for (auto& x : v)
    x = distinct > 0 ? double(g.next_below(uint64_t(distinct))) - distinct / 2 : g.next_uniform() * 8 - 4;
  return v;
}

// A run of configs/tiny-cpu.yaml made small enough for a test.
TrainOptions tiny_run(const fs::path& out, const std::string& device, int64_t steps) {
  TrainOptions o;
  o.config = std::string(SRA_SOURCE_DIR) + "/configs/tiny-cpu.yaml";
  o.out_dir = out.string();
  o.overrides = {"device=" + device,     "model.d_model=64",        "model.d_ff=128",
                 "model.max_seq_len=64", "model.window=8",          "data.seq_len=64",
                 "train.batch_size=4",   "train.grad_accum=2",      "train.steps=" + std::to_string(steps),
                 "train.eval_every=4",   "train.eval_batches=2",    "train.checkpoint_every=4",
                 "train.keep_last=0",    "schedule.warmup_steps=2", "router.budget_weight=0.01",
                 "logging.log_every=4",  "logging.progress=off"};
  return o;
}

// The metrics lines without tokens_per_s (a timing).
std::vector<std::string> metrics_without_timing(const fs::path& dir) {
  std::vector<std::string> out;
  for (Json j : read_metrics(dir)) {
    Json o = Json::object();
    for (const char* k : {"step", "loss", "lr", "grad_norm", "selected_ratio", "val_loss"})
      if (j.find(k)) o[k] = j[k];
    out.push_back(o.dump());
  }
  return out;
}

void check_same_checkpoint(const std::string& a, const std::string& b) {
  Checkpoint ca = load_checkpoint(a), cb = load_checkpoint(b);
  CHECK(ca.step == cb.step);
  sra::testing::check_same_tensors(ca, cb);
  CHECK(ca.meta == cb.meta);
}

TransformerConfig parity_config(const std::string& attention, DType dt) {
  TransformerConfig c;
  c.vocab_size = 32;
  c.d_model = 32;
  c.n_layers = 3;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.d_ff = 48;
  c.max_seq_len = 32;
  c.attention = attention;
  c.dense_layers = {0};
  c.window = 4;
  c.sinks = 1;
  c.init_std = 0.2;
  c.seed = 5;
  c.dtype = dt;
  c.router.hidden = 16;
  c.router.init_threshold = 0.5;
  c.router.budget_weight = 0.1;
  return c;
}

}  // namespace

// ---- CPU -------------------------------------------------------------------------------------------

TEST_CASE("kth_smallest: the k-th value of the sorted elements, -0 < +0, NaN last") {
  Generator g(3);
  for (int distinct : {0, 5}) {  // distinct values, and many ties
    std::vector<double> v = random_values(301, g, distinct), sorted = v;
    std::sort(sorted.begin(), sorted.end());
    for (int64_t k : {0, 1, 150, 299, 300}) {
      CHECK(kth_smallest(tensor_of(v), k).item() == sorted[size_t(k)]);
      std::vector<float> f(v.begin(), v.end());
      CHECK(kth_smallest(tensor_of(f), k).item() == double(float(sorted[size_t(k)])));
    }
  }
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  Tensor x = tensor_of(std::vector<double>{0.0, nan, -0.0, inf, -inf, 1.0});
  CHECK(kth_smallest(x, 0).item() == -inf);
  CHECK(std::signbit(kth_smallest(x, 1).item()));  // -0 before +0
  CHECK(!std::signbit(kth_smallest(x, 2).item()));
  CHECK(kth_smallest(x, 4).item() == inf);
  CHECK(std::isnan(kth_smallest(x, 5).item()));
  CHECK(kth_smallest(x, 0).dim() == 0);
  CHECK(sra::testing::error_of([&] { kth_smallest(x, 6); }) ==
        "[kth_smallest] k = 6 is outside [0, 6) for a tensor of shape [6]");
}

TEST_CASE("router: the threshold update is one fused multiply-add, the bits of the host code it replaced") {
  // θ ← fma(η, q − θ, θ) (quantile) and fma(η, r − ρ, θ) (ratio): the host code `θ += η·(q − θ)` was
  // compiled with -mfma and contracted, and docs/results.md's runs depend on those bits.
  Generator g(8);
  int differs_from_two_roundings = 0;
  for (const char* mode : {"quantile", "ratio"}) {
    for (int i = 0; i < 200; ++i) {
      RouterConfig c;
      c.threshold_update = mode;
      c.threshold_lr = 0.05 + 0.9 * g.next_uniform();
      c.target_ratio = 0.01 + 0.5 * g.next_uniform();
      Generator init(1);
      Router r(8, c, 1e-6, 0.1, init);
      const double theta = 4 * g.next_uniform() - 2, v = 4 * g.next_uniform() - 2;
      r.set_threshold(theta);
      const Tensor value = Tensor::full({}, v, DType::f64);
      r.update_threshold(value, value);
      const double d = v - (c.threshold_update == "quantile" ? theta : c.target_ratio);
      CHECK(r.threshold() == std::fma(c.threshold_lr, d, theta));
      volatile double product = c.threshold_lr * d;  // two roundings, for contrast
      differs_from_two_roundings += r.threshold() != theta + product;
    }
  }
  CHECK(differs_from_two_roundings > 0);  // the test can tell the two apart
}

TEST_CASE("router: a training selection's quantile is the k-th of fma(τ, ℓ, s), its ratio count / n") {
  RouterConfig c;
  c.hidden = 8;
  c.temperature = 0.7;
  c.target_ratio = 0.2;
  Generator init(5), data(6);
  Router r(8, c, 1e-6, 0.5, init);
  r.train();
  Tensor h = randn({3, 20, 8}, data);
  Generator noise_gen(9), replay(9);
  Selection s = r.select(h, noise_gen);
  Tensor noise = logistic_noise({3, 20}, replay);  // the same draw
  std::vector<float> sc = s.scores.to_vector<float>(), l = noise.to_vector<float>();
  std::vector<double> u(sc.size());
  for (size_t i = 0; i < u.size(); ++i) u[i] = std::fma(0.7, double(l[i]), double(sc[i]));
  std::sort(u.begin(), u.end());
  CHECK(s.quantile.item() == u[48]);  // ⌊60 · 0.8⌋
  std::vector<uint8_t> z = s.selected.to_vector<uint8_t>();
  CHECK(s.ratio.item() == double(std::count(z.begin(), z.end(), 1)) / 60.0);
  CHECK(s.ratio.dtype() == DType::f64);
  r.eval();
  NoGradGuard ng;
  Selection e = r.select(h, noise_gen);
  CHECK(!e.quantile.defined());
  std::vector<uint8_t> ze = e.selected.to_vector<uint8_t>();
  std::vector<float> se = e.scores.to_vector<float>();
  for (size_t i = 0; i < ze.size(); ++i) CHECK(ze[i] == (double(se[i]) > r.threshold() ? 1 : 0));
}

TEST_CASE("optimizer: the clip factor on the device updates as the host one does") {
  Generator g(4);
  Tensor p0 = randn({40, 30}, g), grad = mul(randn({40, 30}, g), 3.0);
  Tensor pa = p0.clone().detach().set_requires_grad(true), pb = p0.clone().detach().set_requires_grad(true);
  NamedTensors a = {{"w", pa}}, b = {{"w", pb}};
  AdamW oa(a, AdamWConfig{}), ob(b, AdamWConfig{});
  pa.set_grad(grad.clone());
  pb.set_grad(grad.clone());
  auto [norm, scale] = clip_grad_norm(a, 1.0);
  Tensor ns = grad_norm_and_scale(b, 1.0);
  CHECK(ns.to_vector<double>() == std::vector<double>{norm, scale});
  CHECK(scale < 1.0);
  oa.step(1e-2, scale);
  ob.step(1e-2, ns.narrow(0, 1, 1));
  CHECK(pa.to_vector<float>() == pb.to_vector<float>());
  // no gradient at all: norm 0, scale 1
  pb.zero_grad();
  CHECK(grad_norm_and_scale(b, 1.0).to_vector<double>() == std::vector<double>{0.0, 1.0});
}

TEST_CASE("trainer: device cuda without a GPU is a config error naming the key" * doctest::skip(!no_gpu())) {
  fs::path dir = sra::testing::temp_dir("train_no_gpu");
  TrainOptions o = tiny_run(dir / "run", "cuda", 2);
  std::ostringstream log;
  const std::string e = sra::testing::error_of([&] { run_train(o, log); });
  CHECK(e.find("[config] device cuda: ") == 0);
  CHECK(!fs::exists(dir / "run"));  // refused before anything is written
}

// ---- CUDA ------------------------------------------------------------------------------------------

TEST_CASE("cuda: kth_smallest equals the CPU's bit for bit, with no host read" * doctest::skip(no_gpu())) {
  Generator g(11);
  for (int64_t n : {1, 7, 1000, 200003}) {
    for (int distinct : {0, 3}) {
      std::vector<double> v = random_values(n, g, distinct);
      if (n > 2) v[1] = -0.0, v[2] = 0.0;
      for (DType dt : {DType::f64, DType::f32}) {
        Tensor x = tensor_of(v).to(dt), xg = x.to(Device::cuda(0));
        for (int64_t k : {int64_t(0), n / 3, n - 1}) {
          INFO("n " << n << " k " << k << " " << dtype_name(dt));
          uint64_t s0 = cuda::stats(0).host_syncs;
          Tensor out = kth_smallest(xg, k);
          CHECK(cuda::stats(0).host_syncs == s0);
          CHECK(out.device() == Device::cuda(0));
          CHECK(bits_of(out) == bits_of(kth_smallest(x, k)));
        }
      }
    }
  }
}

TEST_CASE("cuda: staged copies arrive in order, reuse the source at once, and do not wait" *
          doctest::skip(no_gpu())) {
  std::vector<Tensor> outs;
  std::vector<int64_t> host(1000);
  for (int i = 0; i < 3 * cuda::kStageSlots; ++i) {
    for (size_t j = 0; j < host.size(); ++j) host[j] = i * 100000 + int64_t(j);
    Tensor out = Tensor::empty({int64_t(host.size())}, DType::i64, Device::cuda(0));
    uint64_t s0 = cuda::stats(0).host_syncs;
    cuda::memcpy_h2d_staged(out.raw(), host.data(), host.size() * 8, 0);
    if (i >= cuda::kStageSlots) CHECK(cuda::stats(0).host_syncs == s0);  // slots allocated: no wait
    outs.push_back(out);
  }
  for (size_t i = 0; i < outs.size(); ++i) {
    std::vector<int64_t> v = outs[i].to(Device::cpu()).to_vector<int64_t>();
    CHECK(v.front() == int64_t(i) * 100000);
    CHECK(v.back() == int64_t(i) * 100000 + 999);
  }
}

TEST_CASE("cuda: a router step reads nothing back; selection, ratio, quantile and θ match the CPU" *
          doctest::skip(no_gpu())) {
  for (const char* mode : {"quantile", "ratio"}) {
    INFO(mode);
    RouterConfig c;
    c.hidden = 16;
    c.threshold_update = mode;
    c.threshold_lr = 0.3;
    c.init_threshold = 0.1;
    Generator init_a(2), init_b(2), data(3);
    Router cpu(16, c, 1e-6, 0.5, init_a, DType::f64), gpu(16, c, 1e-6, 0.5, init_b, DType::f64);
    gpu.to(Device::cuda(0));
    Tensor h = randn({4, 50, 16}, data, DType::f64);
    Tensor hg = h.to(Device::cuda(0));
    Generator ga(7), gb(7);
    for (int step = 0; step < 5; ++step) {
      Selection a = cpu.select(h, ga);
      uint64_t s0 = cuda::stats(0).host_syncs;
      Selection b = gpu.select(hg, gb);
      gpu.update_threshold(b.ratio, b.quantile);
      CHECK(cuda::stats(0).host_syncs == s0);
      cpu.update_threshold(a.ratio, a.quantile);
      CHECK(b.selected.to(Device::cpu()).to_vector<uint8_t>() == a.selected.to_vector<uint8_t>());
      CHECK(bits_of(b.ratio) == bits_of(a.ratio));
      if (std::string(mode) == "quantile") CHECK(std::fabs(b.quantile.item() - a.quantile.item()) <= 1e-12);
      CHECK(std::fabs(gpu.threshold() - cpu.threshold()) <= 1e-12);
    }
    cpu.eval();
    gpu.eval();
    NoGradGuard ng;
    CHECK(gpu.select(hg, gb).selected.to(Device::cpu()).to_vector<uint8_t>() ==
          cpu.select(h, ga).selected.to_vector<uint8_t>());
  }
}

TEST_CASE("cuda: whole-model parity, dense and SRA decoders: loss, every gradient, the same selections" *
          doctest::skip(no_gpu())) {
  for (const char* attention : {"dense", "sra"}) {
    for (DType dt : {DType::f64, DType::f32}) {
      INFO(attention << " " << dtype_name(dt));
      const double tol = dt == DType::f64 ? 1e-10 : 1e-4;
      Transformer cpu(parity_config(attention, dt)), gpu(parity_config(attention, dt));
      gpu.to(Device::cuda(0));
      Generator g(12);
      std::vector<int64_t> v(2 * 25);
      for (auto& x : v) x = int64_t(g.next_below(32));
      Tensor ids = Tensor::from_vector(v, {2, 25});
      Tensor inputs = ids.slice(1, 0, 24).contiguous(),
             targets = ids.slice(1, 1, 25).contiguous().reshape({-1});
      Tensor loss[2];
      ForwardOutput out[2];
      Transformer* models[2] = {&cpu, &gpu};
      for (int k = 0; k < 2; ++k) {
        Device d = k == 0 ? Device::cpu() : Device::cuda(0);
        out[k] = models[k]->run(inputs.to(d));
        loss[k] = cross_entropy(out[k].logits.reshape({-1, 32}), targets.to(d));
        if (out[k].budget_loss.defined()) loss[k] = add(loss[k], out[k].budget_loss);
        backward(loss[k]);
      }
      CHECK(rel_diff(loss[0], loss[1]) <= tol);
      REQUIRE(out[0].selections.size() == out[1].selections.size());
      CHECK(out[0].selections.size() == (std::string(attention) == "sra" ? 2 : 0));
      for (size_t l = 0; l < out[0].selections.size(); ++l)
        CHECK(out[1].selections[l].selected.to(Device::cpu()).to_vector<uint8_t>() ==
              out[0].selections[l].selected.to_vector<uint8_t>());
      CHECK(rel_diff(out[0].selected_ratio, out[1].selected_ratio) == 0);
      NamedTensors pa = cpu.named_parameters(), pb = gpu.named_parameters();
      for (size_t i = 0; i < pa.size(); ++i) {
        INFO(pa[i].first);
        REQUIRE(pa[i].second.grad().defined());
        REQUIRE(pb[i].second.grad().defined());
        CHECK(rel_diff(pa[i].second.grad(), pb[i].second.grad()) <= tol);
      }
    }
  }
}

TEST_CASE("cuda: checkpoints are device-independent: the same contents from a model on either device" *
          doctest::skip(no_gpu())) {
  fs::path dir = sra::testing::temp_dir("cuda_ckpt");
  RunConfig cfg;
  cfg.model.d_model = 32, cfg.model.d_ff = 48, cfg.model.n_layers = 3, cfg.model.attention = "sra";
  LoadedModel lm = model_from_config(cfg);
  save_checkpoint(model_checkpoint(cfg, *lm.model, 3), (dir / "cpu.h5").string());
  lm.model->to(Device::cuda(0));
  save_checkpoint(model_checkpoint(cfg, *lm.model, 3), (dir / "gpu.h5").string());
  check_same_checkpoint((dir / "cpu.h5").string(), (dir / "gpu.h5").string());
  // and a checkpoint loads into a model on the GPU: the same values there
  LoadedModel fresh = model_from_config(cfg);
  fresh.model->model->embed_tokens->weight.detach().fill_(0.0);
  fresh.model->to(Device::cuda(0));
  load_module(*fresh.model, load_checkpoint((dir / "cpu.h5").string()));
  NamedTensors a = lm.model->named_parameters(), b = fresh.model->named_parameters();
  for (size_t i = 0; i < a.size(); ++i) CHECK(rel_diff(a[i].second, b[i].second) == 0);
}

TEST_CASE(
    "cuda: sra train on the GPU repeats bit for bit, resumes exactly, and its checkpoint runs on the CPU" *
    doctest::skip(no_gpu())) {
  fs::path dir = sra::testing::temp_dir("cuda_train");
  std::ostringstream log;
  REQUIRE(run_train(tiny_run(dir / "a", "cuda", 8), log) == 0);
  REQUIRE(run_train(tiny_run(dir / "b", "cuda", 8), log) == 0);
  TrainOptions c1 = tiny_run(dir / "c", "cuda", 8);
  c1.max_steps = 3;  // stops between reads of the step values
  REQUIRE(run_train(c1, log) == 0);
  TrainOptions c2 = tiny_run(dir / "c", "cuda", 8);
  c2.resume = "auto";
  REQUIRE(run_train(c2, log) == 0);
  const std::vector<std::string> ma = metrics_without_timing(dir / "a");
  REQUIRE(ma.size() == 8);
  CHECK(ma == metrics_without_timing(dir / "b"));
  CHECK(ma == metrics_without_timing(dir / "c"));
  for (const Json& j : read_metrics(dir / "a")) CHECK(j["tokens_per_s"].as_double() > 0);
  check_same_checkpoint(checkpoint_path((dir / "a").string(), 8), checkpoint_path((dir / "b").string(), 8));
  check_same_checkpoint(checkpoint_path((dir / "a").string(), 8), checkpoint_path((dir / "c").string(), 8));
  CHECK(log.str().find("step 4  loss ") != std::string::npos);

  // the GPU's checkpoint evaluates on the CPU: the same loss on a batch (evaluation mode)
  const std::string path = checkpoint_path((dir / "a").string(), 8);
  LoadedModel on_cpu = load_model(path), on_gpu = load_model(path);
  on_gpu.model->to(Device::cuda(0));
  on_cpu.model->eval();
  on_gpu.model->eval();
  NoGradGuard ng;
  Generator g(5);
  std::vector<int64_t> v(4 * 65);
  for (auto& x : v) x = int64_t(g.next_below(256));
  Tensor ids = Tensor::from_vector(v, {4, 65});
  Tensor lc = on_cpu.model->loss(ids), lg = on_gpu.model->loss(ids.to(Device::cuda(0)));
  CHECK(rel_diff(lc, lg) <= 1e-4);
}

TEST_CASE("cuda: a steady training step makes no cudaMalloc, no cudaFree and no host sync" *
          doctest::skip(no_gpu())) {
  fs::path dir = sra::testing::temp_dir("cuda_steady");
  TrainOptions o = tiny_run(dir / "run", "cuda", 8);
  o.overrides.push_back("train.eval_every=0");
  o.overrides.push_back("train.checkpoint_every=0");
  std::vector<cuda::Stats> after(9);  // after[s]: the counters once step s is done
  o.on_step = [&](int64_t step) { after[size_t(step)] = cuda::stats(0); };
  std::ostringstream log;
  REQUIRE(run_train(o, log) == 0);
  for (int64_t s : {2, 3, 5, 6, 7}) {  // not logging steps (log_every 4), after the first
    INFO("step " << s);
    CHECK(after[s].device_mallocs == after[s - 1].device_mallocs);
    CHECK(after[s].device_frees == after[s - 1].device_frees);
    CHECK(after[s].host_syncs == after[s - 1].host_syncs);
  }
  CHECK(after[4].host_syncs > after[3].host_syncs);  // the logging step reads the values back
}

TEST_CASE("cuda: 20 steps of a tiny config: the CPU and GPU loss curves agree (f32)" *
          doctest::skip(no_gpu())) {
  fs::path dir = sra::testing::temp_dir("cuda_curves");
  std::ostringstream log;
  REQUIRE(run_train(tiny_run(dir / "cpu", "cpu", 20), log) == 0);
  REQUIRE(run_train(tiny_run(dir / "gpu", "cuda", 20), log) == 0);
  std::vector<Json> a = read_metrics(dir / "cpu"), b = read_metrics(dir / "gpu");
  REQUIRE(a.size() == 20);
  REQUIRE(b.size() == 20);
  for (size_t i = 0; i < a.size(); ++i) {
    INFO("step " << i + 1);
    const double la = a[i]["loss"].as_double(), lb = b[i]["loss"].as_double();
    CHECK(std::fabs(la - lb) <= 1e-4 * std::fabs(la));
  }
}

TEST_CASE("cuda: precision bf16 trains: 20 steps of a tiny config follow the f32 curve within bf16 noise" *
          doctest::skip(no_gpu())) {
  fs::path dir = sra::testing::temp_dir("cuda_bf16_curve");
  std::ostringstream log;
  TrainOptions f32 = tiny_run(dir / "f32", "cuda", 20), bf16 = tiny_run(dir / "bf16", "cuda", 20);
  bf16.overrides.push_back("precision=bf16");
  REQUIRE(run_train(f32, log) == 0);
  REQUIRE(run_train(bf16, log) == 0);
  std::vector<Json> a = read_metrics(dir / "f32"), b = read_metrics(dir / "bf16");
  REQUIRE(a.size() == 20);
  REQUIRE(b.size() == 20);
  for (size_t i = 0; i < a.size(); ++i) {
    INFO("step " << i + 1);
    const double la = a[i]["loss"].as_double(), lb = b[i]["loss"].as_double();
    CHECK(std::isfinite(lb));
    CHECK(std::fabs(la - lb) <= 2e-2 * std::fabs(la));  // bf16 operands: ~3 significant digits per product
    CHECK(la != lb);                                    // the GEMMs did run on bf16 operands
  }
  CHECK(b.back()["loss"].as_double() < b.front()["loss"].as_double());
}
