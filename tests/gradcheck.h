// Finite-difference gradient checking and the op-case table.
//
// gradcheck(case): inputs are built in f64 from the case's specs; loss = Σ w ⊙ f(x) with fixed random
// w; analytic gradients come from backward(loss); numeric ones from central differences
// (L(x+eps) − L(x−eps)) / 2eps per element. Pass when |analytic − numeric| ≤ atol + rtol·|numeric|
// for every element of every differentiable input. Inputs are drawn away from kinks by their spec.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "autograd/ops.h"

namespace sra::test {

enum class InKind {
  normal,    // N(0, 1)
  positive,  // U(0.5, 2): log, sqrt, rsqrt, pow, div denominators
  away,      // N(0, 1) pushed to |x| ≥ 0.2: relu, abs-like kinks at 0
  distinct,  // a random permutation of spaced values: max/topk ties cannot flip under ±eps
  index,     // integers in [0, hi) (i64), no gradient
  mask,      // 0/1 (u8), no gradient
  constant,  // N(0, 1) but no gradient requested
};

struct InputSpec {
  Shape shape;
  InKind kind = InKind::normal;
  int64_t hi = 0;  // for index
};
inline InputSpec F(Shape s) {
  return {std::move(s), InKind::normal};
}
inline InputSpec Pos(Shape s) {
  return {std::move(s), InKind::positive};
}
inline InputSpec Away(Shape s) {
  return {std::move(s), InKind::away};
}
inline InputSpec Distinct(Shape s) {
  return {std::move(s), InKind::distinct};
}
inline InputSpec Idx(Shape s, int64_t hi) {
  return {std::move(s), InKind::index, hi};
}
inline InputSpec Mask(Shape s) {
  return {std::move(s), InKind::mask};
}
inline InputSpec Const(Shape s) {
  return {std::move(s), InKind::constant};
}

struct OpCase {
  std::string name;  // "<op>" or "<op>/<variant>"; the part before '/' is the op's name
  std::vector<InputSpec> inputs;
  std::function<Tensor(const std::vector<Tensor>&)> fn;
  double eps = 1e-6;
  double atol = 1e-6;
  double rtol = 1e-5;
};

const std::vector<OpCase>& op_cases();

// True for the specs whose input gets a gradient (normal, positive, away, distinct).
bool differentiable(const InputSpec& s);

// Builds the inputs of a case (f64 for floating specs) from `seed`.
std::vector<Tensor> make_inputs(const OpCase& c, uint64_t seed, DType float_dtype = DType::f64);

struct GradcheckResult {
  bool ok = true;
  std::string message;  // first failure: input, element, analytic, numeric
  double max_abs_err = 0;
};
GradcheckResult gradcheck(const OpCase& c, uint64_t seed = 1);

}  // namespace sra::test
