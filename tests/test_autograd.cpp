// Tape semantics: summed gradients for reused tensors, += accumulation across backward calls,
// no_grad records nothing, saved tensors are freed and version-checked, error messages.
#include <doctest/doctest.h>

#include <cmath>

#include "autograd/ops.h"

using namespace sra;

namespace {
Tensor param(std::vector<double> v, const Shape& s) {
  Tensor t = Tensor::from_vector(v, s);
  t.set_requires_grad(true);
  return t;
}
}  // namespace

TEST_CASE("autograd: a tensor used twice gets the sum of both gradients") {
  tape_clear();
  Tensor x = param({1, 2, 3}, {3});
  Tensor y = add(mul(x, x), mul(x, 3.0));  // d/dx = 2x + 3
  backward(sum(y));
  CHECK(x.grad().to_vector<double>() == std::vector<double>{5, 7, 9});
  CHECK(tape_size() == 0);
}

TEST_CASE("autograd: gradients accumulate with += across backward calls (micro-batches)") {
  tape_clear();
  Tensor w = param({1, -1}, {2});
  for (int step = 0; step < 3; ++step) backward(sum(mul(w, 2.0)));
  CHECK(w.grad().to_vector<double>() == std::vector<double>{6, 6});
  w.zero_grad();
  CHECK_FALSE(w.grad().defined());
}

TEST_CASE("autograd: only tensors that require grad get gradients") {
  tape_clear();
  Tensor a = param({1, 2}, {2});
  Tensor b = Tensor::from_vector(std::vector<double>{3, 4}, {2});
  backward(sum(mul(a, b)));
  CHECK(a.grad().to_vector<double>() == std::vector<double>{3, 4});
  CHECK_FALSE(b.grad().defined());
  CHECK_FALSE(b.requires_grad());
}

TEST_CASE("autograd: NoGradGuard records nothing") {
  tape_clear();
  Tensor a = param({1, 2}, {2});
  {
    NoGradGuard g;
    Tensor y = exp(mul(a, a));
    CHECK_FALSE(y.requires_grad());
    CHECK(tape_size() == 0);
  }
  CHECK(grad_enabled());
  Tensor y = exp(a);
  CHECK(y.requires_grad());
  CHECK(tape_size() == 1);
  tape_clear();
}

TEST_CASE("autograd: modifying a saved tensor in place raises, naming the op") {
  tape_clear();
  Tensor a = param({1, 2}, {2});
  Tensor h = mul(a, 2.0);
  Tensor y = mul(h, h);  // saves h
  {
    NoGradGuard g;
    h.fill_(0.0);
  }
  CHECK_THROWS_WITH_AS(
      backward(sum(y)),
      "[backward] a tensor saved by 'mul' was modified in place after it was saved (version 1, "
      "expected 0)",
      Error);
  tape_clear();
}

TEST_CASE("autograd: in-place update of a leaf that requires grad needs NoGradGuard") {
  Tensor w = param({1, 2}, {2});
  CHECK_THROWS_AS(w.add_(Tensor::ones({2}, DType::f64)), Error);
  NoGradGuard g;
  w.add_(Tensor::ones({2}, DType::f64), 0.5);
  CHECK(w.to_vector<double>() == std::vector<double>{1.5, 2.5});
}

TEST_CASE("autograd: saved tensors are freed after backward unless retain_graph") {
  tape_clear();
  Tensor x = param({0.5, 1.5}, {2});
  Tensor y = sum(exp(x));
  backward(y, Tensor(), /*retain_graph=*/true);
  CHECK(tape_size() > 0);
  backward(y);  // second pass over the retained graph adds again
  std::vector<double> g = x.grad().to_vector<double>();
  CHECK(g[0] == doctest::Approx(2 * std::exp(0.5)));
  CHECK(tape_size() == 0);
  CHECK_THROWS_WITH_AS(
      backward(y),
      "[backward] no recorded graph leads to this tensor: it was consumed by an earlier backward "
      "(pass retain_graph=true to the first call) or recorded on another thread",
      Error);
}

TEST_CASE("autograd: saved tensors are released when the tape is consumed") {
  tape_clear();
  Tensor x = param({1, 2, 3}, {3});
  std::weak_ptr<TensorImpl> hidden;
  Tensor loss;
  {
    Tensor h = exp(x);  // saved by exp (as output) and by the mul below
    hidden = h.impl_ptr();
    loss = sum(mul(h, h));
  }
  CHECK_FALSE(hidden.expired());  // kept alive by the tape
  backward(loss);
  CHECK(hidden.expired());
}

TEST_CASE("autograd: backward errors") {
  tape_clear();
  Tensor x = param({1, 2}, {2});
  CHECK_THROWS_WITH_AS(backward(mul(x, 2.0)),
                       "[backward] implicit gradient needs a scalar, got shape [2]; pass grad", Error);
  tape_clear();
  Tensor c = Tensor::ones({1}, DType::f64);
  CHECK_THROWS_WITH_AS(backward(c),
                       "[backward] the tensor does not require grad (no recorded op leads to it)", Error);
  CHECK_THROWS_WITH_AS(Tensor::arange(3).set_requires_grad(true),
                       "[requires_grad] only floating tensors can require grad (got i64)", Error);
}

TEST_CASE("autograd: non-scalar backward with an explicit gradient; views route gradients") {
  tape_clear();
  Tensor x = param({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor y = transpose(x, 0, 1).slice(0, 1, 3);  // (2, 2): x[:, 1:3]ᵀ
  backward(y, Tensor::from_vector(std::vector<double>{1, 2, 3, 4}, {2, 2}));
  // y[i, j] = x[j, i + 1]; grad x[j, i+1] = g[i, j]
  CHECK(x.grad().to_vector<double>() == std::vector<double>{0, 1, 3, 0, 2, 4});
}

TEST_CASE("shape errors name the op and both shapes") {
  Tensor a = Tensor::zeros({2, 3}), b = Tensor::zeros({4, 5});
  CHECK_THROWS_WITH_AS(matmul(a, b), "[matmul] inner dimensions differ: [2, 3] @ [4, 5]", Error);
  CHECK_THROWS_WITH_AS(mul(a, b), "[mul] shapes [2, 3] and [4, 5] cannot be broadcast together", Error);
  CHECK_THROWS_WITH_AS(linear(a, b), "[linear] input [2, 3] does not match weight [4, 5]", Error);
  CHECK_THROWS_WITH_AS(concat({a, b}, 0), "[concat] shapes [2, 3] and [4, 5] differ outside dim 0", Error);
  CHECK_THROWS_WITH_AS(sum(a, {2}), "[sum] dim 2 out of range for a tensor of 2 dims", Error);
  CHECK_THROWS_WITH_AS(add(a, Tensor::zeros({2, 3}, DType::f64)), "[add] dtype mismatch: f32 and f64", Error);
}

TEST_CASE("straight_through: forward is the hard value, backward the soft gradient") {
  // Not finite-difference checkable by design (the value does not depend on soft).
  tape_clear();
  Tensor s = param({-1.0, 0.5, 2.0}, {3});
  Tensor soft = sigmoid(s);
  Tensor hard = Tensor::from_vector(std::vector<double>{0, 1, 1}, {3});
  Tensor y = straight_through(hard, soft);
  CHECK(y.to_vector<double>() == std::vector<double>{0, 1, 1});
  backward(sum(mul(y, Tensor::from_vector(std::vector<double>{1, 2, 3}, {3}))));
  std::vector<double> g = s.grad().to_vector<double>();
  for (int i = 0; i < 3; ++i) {
    double x = std::vector<double>{-1.0, 0.5, 2.0}[i], sg = 1 / (1 + std::exp(-x));
    CHECK(g[i] == doctest::Approx((i + 1) * sg * (1 - sg)));
  }
  CHECK_THROWS_WITH_AS(straight_through(hard, Tensor::zeros({2}, DType::f64)),
                       "[straight_through] shapes [3] and [2] differ", Error);
}

TEST_CASE(
    "autograd: on_leaf_ready reports each leaf once, after its earliest node, with its final gradient") {
  tape_clear();
  Tensor a = param({0.5, -1, 2}, {3}), b = param({1, 2, 3}, {3}), unused = param({1}, {1});
  // nodes: 0 mul(a, 2), 1 tanh, 2 mul(·, b), 3 mul(·, a), 4 sum: b's earliest node is 2, a's is 0
  Tensor loss = sum(mul(mul(tanh(mul(a, 2.0)), b), a));
  std::vector<std::string> order;
  std::vector<double> a_at_report;
  backward(loss, Tensor(), false, [&](const Tensor& leaf) {
    if (leaf.id() == a.id()) order.push_back("a"), a_at_report = leaf.grad().to_vector<double>();
    if (leaf.id() == b.id()) order.push_back("b");
    if (leaf.id() == unused.id()) order.push_back("unused");
  });
  CHECK(order == std::vector<std::string>{"b", "a"});  // b before a's last contribution; unused never
  CHECK(a_at_report == a.grad().to_vector<double>());
}
