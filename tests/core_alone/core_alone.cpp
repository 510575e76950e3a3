// core/ links on its own: this binary links sra_core and nothing else of ours (CMakeLists.txt,
// sra_core_alone), so every symbol that Tensor's factories, copy_, fill_, item, to_vector and printing
// reach must be defined in core/. Run by ctest beside sra_tests.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <vector>

#include "core/check.h"
#include "core/json.h"
#include "core/parallel.h"
#include "core/tensor.h"

using sra::DType;
using sra::Shape;
using sra::Tensor;

TEST_CASE("core alone: factories, item and to_vector") {
  CHECK(Tensor::zeros({2, 3}).to_vector<float>() == std::vector<float>(6, 0.0f));
  CHECK(Tensor::ones({4}, DType::f64).to_vector<double>() == std::vector<double>(4, 1.0));
  CHECK(Tensor::full({2, 2}, 2.5).to_vector<double>() == std::vector<double>(4, 2.5));
  CHECK(Tensor::scalar(7.0).item() == 7.0);
  CHECK(Tensor::arange(5).to_vector<int64_t>() == std::vector<int64_t>{0, 1, 2, 3, 4});
  CHECK(Tensor::arange(3, DType::f32).dtype() == DType::f32);
  CHECK(Tensor::arange(3, DType::f32).to_vector<float>() == std::vector<float>{0, 1, 2});
  Tensor v = Tensor::from_vector<int32_t>({1, 2, 3, 4, 5, 6}, {2, 3});
  CHECK(v.to_vector<double>() == std::vector<double>{1, 2, 3, 4, 5, 6});
  CHECK_THROWS_AS(Tensor::scalar(1.0).data<double>(), sra::Error);  // f32, read as f64
}

TEST_CASE("core alone: fill_ and copy_ through strided views") {
  Tensor t = Tensor::zeros({3, 4});
  // column 1 of t as a (3) view with stride 4
  Tensor col = Tensor::make_view(t, {3}, {4}, 1);
  col.fill_(5.0);
  CHECK(t.to_vector<float>() == std::vector<float>{0, 5, 0, 0, 0, 5, 0, 0, 0, 5, 0, 0});
  CHECK(t.version() == 1);
  // broadcast a (4) f64 row into every row of t, converting to f32
  t.copy_(Tensor::from_vector<double>({1, 2, 3, 4}, {4}));
  CHECK(t.to_vector<float>() == std::vector<float>{1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4});
  // the transpose of t (a non-contiguous view) copied into a fresh (4, 3) tensor
  Tensor tt = Tensor::make_view(t, {4, 3}, {1, 4}, 0);
  CHECK_FALSE(tt.is_contiguous());
  Tensor dst = Tensor::empty({4, 3}, DType::i64);
  dst.copy_(tt);
  CHECK(dst.to_vector<int64_t>() == std::vector<int64_t>{1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4});
  CHECK(tt.to_vector<double>() == dst.to_vector<double>());
  CHECK_THROWS_WITH_AS(t.copy_(Tensor::zeros({3})), doctest::Contains("[copy_] cannot broadcast"),
                       sra::Error);
  CHECK(t.to(sra::Device::cpu()).impl() == t.impl());
}

TEST_CASE("core alone: printing, parallel_for and JSON") {
  CHECK(Tensor::arange(3).str().find("[0, 1, 2]") != std::string::npos);
  std::vector<int> seen(1000, 0);
  sra::parallel_for(1000, sra::grain_for(1, 100), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) ++seen[size_t(i)];
  });
  CHECK(seen == std::vector<int>(1000, 1));
  CHECK(sra::grain_for(0, 100) == 100);
  CHECK(sra::grain_for(1000, 100) == 1);
  CHECK(sra::Json::parse("{\"a\": [1, 2]}").dump() == "{\"a\":[1,2]}");
}
