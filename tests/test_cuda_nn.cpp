// Devices for the layers, noise and optimizer (issue "CUDA backend"): Module::to (a no-op to the module's
// own device, on the CPU; a CUDA round trip keeps values, names, ids and flags), Philox noise and dropout
// masks equal on CPU and CUDA for one generator state, the embedding backward equal bit for bit (the same
// additions in the same order), and AdamW / clip_grad_norm on CUDA matching the CPU with one host sync a
// step. The CUDA cases are skipped (reported as skipped) without a GPU.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "autograd/module.h"
#include "autograd/ops.h"
#include "autograd/tape.h"
#include "compare_util.h"
#include "core/cuda_runtime.h"
#include "model/optimizer.h"

using namespace sra;
using sra::test::no_gpu;

namespace {

struct Leaf : Module {
  Tensor w;
  Leaf() {
    Generator g(3);
    w = register_parameter("weight", randn({3, 4}, g, DType::f32));
  }
};

struct Tree : Module {
  Tensor bias, count;
  std::shared_ptr<Leaf> leaf;
  Tree() {
    Generator g(4);
    // a strided parameter: to() gives it a contiguous copy on another device
    bias = register_parameter("bias", randn({4, 2}, g, DType::f64).transpose(0, 1).detach());
    count = register_buffer("count", Tensor::full({2}, 5.0, DType::i64));
    leaf = register_module("leaf", std::make_shared<Leaf>());
  }
};

std::vector<double> vals(const Tensor& t) {
  return t.to(Device::cpu()).to_vector<double>();
}

}  // namespace

TEST_CASE("module: to(its own device) changes nothing") {
  Tree m;
  NamedTensors before = m.named_parameters(), buffers = m.named_buffers();
  std::vector<const void*> data;
  for (auto& [n, t] : before) data.push_back(t.raw());
  m.to(Device::cpu());
  NamedTensors after = m.named_parameters();
  REQUIRE(after.size() == 2);
  for (size_t i = 0; i < after.size(); ++i) {
    CHECK(after[i].first == before[i].first);
    CHECK(after[i].second.impl() == before[i].second.impl());
    CHECK(after[i].second.raw() == data[i]);
    CHECK(after[i].second.strides() == before[i].second.strides());
    CHECK(after[i].second.requires_grad());
  }
  CHECK(m.named_buffers()[0].second.raw() == buffers[0].second.raw());
}

TEST_CASE("cuda: Module::to round trip keeps values, names, ids and flags" * doctest::skip(no_gpu())) {
  Tree m;
  NamedTensors before = m.named_parameters();
  std::vector<std::vector<double>> v0;
  std::vector<uint64_t> ids;
  for (auto& [n, t] : before) v0.push_back(vals(t)), ids.push_back(t.id());
  m.leaf->w.set_grad(Tensor::full({3, 4}, 0.25, DType::f32));
  m.to(Device::cuda(0));
  NamedTensors on = m.named_parameters();
  for (size_t i = 0; i < on.size(); ++i) {
    CHECK(on[i].first == before[i].first);
    CHECK(on[i].second.id() == ids[i]);
    CHECK(on[i].second.device() == Device::cuda(0));
    CHECK(on[i].second.requires_grad());
    CHECK(on[i].second.is_leaf());
    CHECK(on[i].second.is_contiguous());
  }
  CHECK(m.leaf->w.device() == Device::cuda(0));  // the module's own handle sees the move
  CHECK(m.leaf->w.grad().device() == Device::cuda(0));
  CHECK(m.count.device() == Device::cuda(0));
  m.to(Device::cpu());
  NamedTensors back = m.named_parameters();
  for (size_t i = 0; i < back.size(); ++i) {
    CHECK(back[i].second.device() == Device::cpu());
    CHECK(vals(back[i].second) == v0[i]);
  }
  CHECK(vals(m.count) == std::vector<double>{5, 5});
  CHECK(vals(m.leaf->w.grad()) == std::vector<double>(12, 0.25));
}

TEST_CASE("cuda: one generator state gives the same noise on CPU and CUDA" * doctest::skip(no_gpu())) {
  using Factory = Tensor (*)(const Shape&, Generator&, DType, Device);
  struct Kind {
    Factory fn;
    const char* name;
  };
  Kind kinds[] = {
      {rand_uniform, "uniform"}, {randn, "normal"}, {gumbel_noise, "gumbel"}, {logistic_noise, "logistic"}};
  for (const Kind& k : kinds) {
    for (DType dt : {DType::f32, DType::f64}) {
      INFO(k.name << " " << dtype_name(dt));
      Generator a(2024, 3), b(2024, 3);
      a.set_state(2024, 777);
      b.set_state(2024, 777);
      std::vector<double> cpu = vals(k.fn({4099}, a, dt, Device::cpu()));
      Tensor g = k.fn({4099}, b, dt, Device::cuda(0));
      CHECK(g.device() == Device::cuda(0));
      std::vector<double> gpu = vals(g);
      CHECK(a.offset() == b.offset());
      REQUIRE(cpu.size() == gpu.size());
      // Philox words and uniforms are equal bit for bit; the transforms run in double on both and differ
      // at most by the device's last-bit differences in log/cos/sqrt (random.h).
      bool exact = dt == DType::f32 || std::string(k.name) == "uniform";
      int64_t bad = 0;
      for (size_t i = 0; i < cpu.size(); ++i) {
        double tol = exact ? 0.0 : 1e-14 * std::max(1.0, std::fabs(cpu[i]));
        if (!(std::fabs(cpu[i] - gpu[i]) <= tol)) ++bad;
      }
      CHECK(bad == 0);
    }
  }
  // dropout: the same mask, so the same outputs bit for bit
  for (DType dt : {DType::f32, DType::f64}) {
    Generator xg(5);
    Tensor x = randn({37, 29}, xg, dt);
    Generator a(9), b(9);
    std::vector<double> cpu = vals(dropout(x, 0.4, a)), gpu = vals(dropout(x.to(Device::cuda(0)), 0.4, b));
    CHECK(cpu == gpu);
    CHECK(a.offset() == b.offset());
  }
}

TEST_CASE("cuda: embedding backward equals the CPU's bit for bit" * doctest::skip(no_gpu())) {
  for (DType dt : {DType::f32, DType::f64}) {
    Generator g(8);
    const int64_t v = 300, c = 17, n = 5000;
    Tensor w = randn({v, c}, g, dt);
    std::vector<int64_t> ids(n);
    for (int64_t j = 0; j < n; ++j) ids[j] = int64_t(g.next_below(j % 3 == 0 ? 4 : v));  // heavy repeats
    Tensor idx = Tensor::from_vector(ids, {50, 100});
    Tensor gy = randn({50, 100, c}, g, dt);
    std::vector<double> gw[2];
    for (int k = 0; k < 2; ++k) {
      Device d = k == 0 ? Device::cpu() : Device::cuda(0);
      Tensor wd = w.to(d).detach().set_requires_grad(true);
      Tensor y = embedding(wd, idx.to(d));
      backward(y, gy.to(d));
      gw[k] = vals(wd.grad());
      tape_clear();
    }
    CHECK(gw[0] == gw[1]);
  }
}

TEST_CASE("cuda: AdamW and clip_grad_norm on CUDA match the CPU, one host sync a step" *
          doctest::skip(no_gpu())) {
  for (DType dt : {DType::f32, DType::f64}) {
    Generator g(21);
    Tensor p0 = randn({300, 70}, g, dt), q0 = randn({70}, g, dt);
    std::vector<Tensor> grads[3];
    for (auto& gs : grads) gs = {randn({300, 70}, g, dt), randn({70}, g, dt)};
    std::vector<double> out[2], norms[2];
    for (int k = 0; k < 2; ++k) {
      Device d = k == 0 ? Device::cpu() : Device::cuda(0);
      Tensor p = p0.to(d).clone().detach().set_requires_grad(true);
      Tensor q = q0.to(d).clone().detach().set_requires_grad(true);
      NamedTensors params = {{"layer.weight", p}, {"layer.bias", q}};
      AdamW opt(params, AdamWConfig{});
      for (auto& gs : grads) {
        p.set_grad(gs[0].to(d));
        q.set_grad(gs[1].to(d));
        uint64_t s0 = d.is_cuda() ? cuda::stats(0).host_syncs : 0;
        auto [norm, scale] = clip_grad_norm(params, 1.0);
        opt.step(1e-2, scale);
        if (d.is_cuda()) CHECK(cuda::stats(0).host_syncs == s0 + 1);  // the norm, read once
        norms[k].push_back(norm);
      }
      for (const Tensor& t : {p, q})
        for (double x : vals(t)) out[k].push_back(x);
    }
    double tol = dt == DType::f64 ? 1e-12 : 1e-5;
    for (size_t i = 0; i < norms[0].size(); ++i)
      CHECK(std::fabs(norms[0][i] - norms[1][i]) <= tol * norms[0][i]);
    double num = 0, den = 0;
    for (size_t i = 0; i < out[0].size(); ++i) {
      num += (out[0][i] - out[1][i]) * (out[0][i] - out[1][i]);
      den += out[0][i] * out[0][i];
    }
    CHECK(std::sqrt(num / den) <= tol);
  }
}
