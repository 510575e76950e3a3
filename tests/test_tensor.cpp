// Tensor basics: factories, views without copies (strides, offsets, shared storage), contiguous(),
// broadcasting, dtype conversion, printing, devices.
#include <doctest/doctest.h>

#include "autograd/ops.h"
#include "core/cuda_runtime.h"

using namespace sra;

namespace {
Tensor iota(const Shape& s) {
  std::vector<float> v(static_cast<size_t>(shape_numel(s)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = float(i);
  return Tensor::from_vector(v, s);
}
}  // namespace

TEST_CASE("tensor: factories, metadata, 64-byte alignment") {
  Tensor z = Tensor::zeros({2, 3}, DType::f64);
  CHECK(z.dim() == 2);
  CHECK(z.numel() == 6);
  CHECK(z.strides() == Shape{3, 1});
  CHECK(z.is_contiguous());
  CHECK(reinterpret_cast<uintptr_t>(z.raw()) % 64 == 0);
  CHECK(Tensor::full({2}, 3.5).to_vector<float>() == std::vector<float>{3.5f, 3.5f});
  CHECK(Tensor::arange(4).to_vector<int64_t>() == std::vector<int64_t>{0, 1, 2, 3});
  CHECK(Tensor::scalar(2.0).item() == 2.0);
  CHECK_THROWS_WITH_AS(Tensor::from_vector(std::vector<float>{1, 2, 3}, {2, 2}),
                       "[from_vector] 3 values do not fill shape [2, 2]", Error);
}

TEST_CASE("tensor: views share storage and never copy") {
  Tensor x = iota({2, 3, 4});
  Tensor t = x.transpose(0, 2);
  CHECK(t.shape() == Shape{4, 3, 2});
  CHECK(t.strides() == Shape{1, 4, 12});
  CHECK(t.storage() == x.storage());
  CHECK_FALSE(t.is_contiguous());
  Tensor p = x.permute({1, 2, 0});
  CHECK(p.strides() == Shape{4, 1, 12});
  Tensor s = x.slice(2, 1, 4, 2);  // elements 1 and 3 of the last dim
  CHECK(s.shape() == Shape{2, 3, 2});
  CHECK(s.offset() == 1);
  CHECK(s.strides() == Shape{12, 4, 2});
  CHECK(s.storage() == x.storage());
  CHECK(s.contiguous().to_vector<float>()[0] == 1.0f);
  CHECK(s.contiguous().to_vector<float>()[1] == 3.0f);
  Tensor n = x.narrow(1, 1, 2);
  CHECK(n.offset() == 4);
  Tensor r = x.reshape({6, 4});
  CHECK(r.storage() == x.storage());
  Tensor v = x.view({2, 12});
  CHECK(v.storage() == x.storage());
  Tensor e = Tensor::ones({3, 1}).expand({2, 3, 5});
  CHECK(e.strides() == Shape{0, 1, 0});
  CHECK(x.unsqueeze(0).shape() == Shape{1, 2, 3, 4});
  CHECK(x.unsqueeze(-1).shape() == Shape{2, 3, 4, 1});
  CHECK(x.unsqueeze(0).squeeze(0).shape() == x.shape());
  // a write through a view is seen by the base
  {
    NoGradGuard g;
    s.fill_(-1.0);
  }
  CHECK(x.to_vector<float>()[1] == -1.0f);
  CHECK(x.to_vector<float>()[2] == 2.0f);
}

TEST_CASE("tensor: reshape of a non-viewable layout copies; view refuses") {
  Tensor x = iota({3, 4});
  Tensor t = x.transpose(0, 1);
  Tensor r = t.reshape({12});
  CHECK(r.storage() != x.storage());
  CHECK(r.to_vector<float>()[1] == 4.0f);
  CHECK_THROWS_AS(t.view({12}), Error);
  // merging dims that are contiguous with each other still views
  Tensor y = iota({2, 3, 4}).permute({1, 0, 2});  // (3, 2, 4), strides (4, 12, 1)
  CHECK(y.reshape({3, 8}).storage() != y.storage());
  CHECK(y.reshape({3, 2, 2, 2}).storage() == y.storage());
  CHECK_THROWS_WITH_AS(x.reshape({5, -1}), "[reshape] cannot reshape [3, 4] into [5, -1]", Error);
}

TEST_CASE("tensor: contiguous() copies only when needed") {
  Tensor x = iota({3, 4});
  CHECK(x.contiguous().storage() == x.storage());
  Tensor t = x.transpose(0, 1).contiguous();
  CHECK(t.is_contiguous());
  CHECK(t.to_vector<float>() == std::vector<float>{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11});
}

TEST_CASE("tensor: broadcasting") {
  Tensor a = iota({2, 1, 3});
  Tensor b = iota({4, 1});
  Tensor c = add(a, b);
  CHECK(c.shape() == Shape{2, 4, 3});
  std::vector<float> v = c.to_vector<float>();
  // c[i, j, k] = a[i, 0, k] + b[j, 0]
  CHECK(v[(1 * 4 + 2) * 3 + 1] == 4.0f + 2.0f);
  CHECK(broadcast_shapes({5, 1, 3}, {4, 1}, "op") == Shape{5, 4, 3});
  CHECK_THROWS_WITH_AS(add(iota({2, 3}), iota({4})),
                       "[add] shapes [2, 3] and [4] cannot be broadcast together", Error);
  // broadcast with a strided (transposed) operand
  Tensor t = iota({3, 2}).transpose(0, 1);  // (2, 3)
  CHECK(sub(t, a.reshape({2, 3})).to_vector<float>() == std::vector<float>{0, 1, 2, -2, -1, 0});
}

TEST_CASE("tensor: dtypes and conversion") {
  Tensor x = Tensor::from_vector(std::vector<float>{1.5f, -2.25f, 3.0f}, {3});
  CHECK(x.to(DType::f64).to_vector<double>() == std::vector<double>{1.5, -2.25, 3.0});
  CHECK(x.to(DType::i64).to_vector<int64_t>() == std::vector<int64_t>{1, -2, 3});
  Tensor b = x.to(DType::bf16);
  CHECK(b.dtype() == DType::bf16);
  CHECK(b.to(DType::f32).to_vector<float>() == std::vector<float>{1.5f, -2.25f, 3.0f});
  // bf16 rounds to nearest even: 1 + 2^-8 is halfway between 1 and 1 + 2^-7 → 1
  CHECK(float(bf16(1.0f + 1.0f / 256.0f)) == 1.0f);
  CHECK(float(bf16(1.0f + 3.0f / 256.0f)) == 1.0f + 1.0f / 64.0f);
  CHECK(dtype_size(DType::bf16) == 2);
  CHECK(dtype_from_name("bfloat16") == DType::bf16);
  CHECK_THROWS_WITH_AS(dtype_from_name("f16"),
                       "[dtype] unknown dtype 'f16' (expected f32, f64, bf16, i32, i64, u8)", Error);
  CHECK_THROWS_WITH_AS(x.data<double>(), "[data] tensor has dtype f32, accessed as f64", Error);
}

TEST_CASE("tensor: printing is readable") {
  Tensor x = iota({2, 3});
  std::string s = x.str();
  CHECK(s.find("Tensor(shape=[2, 3], dtype=f32, device=cpu)") == 0);
  CHECK(s.find("[[0, 1, 2],\n [3, 4, 5]]") != std::string::npos);
  std::string big = iota({100}).str();
  CHECK(big.find("...") != std::string::npos);
  CHECK(big.size() < 200);
}

TEST_CASE("tensor: devices") {
  CHECK(Device::parse("cpu").is_cpu());
  CHECK(Device::parse("cuda:1").index == 1);
  CHECK(Device::parse("cuda").str() == "cuda:0");
  CHECK_THROWS_WITH_AS(Device::parse("gpu"), "[device] unknown device 'gpu' (expected cpu, cuda or cuda:N)",
                       Error);
  if (!cuda::available()) {
    CHECK_THROWS_AS(Tensor::zeros({2}, DType::f32, Device::cuda(0)), Error);
  } else {
    Tensor x = iota({5});
    Tensor g = x.to(Device::cuda(0));
    CHECK(g.device().is_cuda());
    CHECK(g.to(Device::cpu()).to_vector<float>() == x.to_vector<float>());
  }
}
