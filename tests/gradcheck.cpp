#include "tests/gradcheck.h"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace sra::test {

std::vector<Tensor> make_inputs(const OpCase& c, uint64_t seed, DType fdt) {
  Generator gen(seed);
  std::vector<Tensor> xs;
  for (const InputSpec& s : c.inputs) {
    int64_t n = shape_numel(s.shape);
    Tensor t;
    switch (s.kind) {
      case InKind::normal:
      case InKind::constant:
        t = randn(s.shape, gen, DType::f64);
        break;
      case InKind::positive: {
        t = rand_uniform(s.shape, gen, DType::f64);
        double* p = t.data<double>();
        for (int64_t i = 0; i < n; ++i) p[i] = 0.5 + 1.5 * p[i];
        break;
      }
      case InKind::away: {
        t = randn(s.shape, gen, DType::f64);
        double* p = t.data<double>();
        for (int64_t i = 0; i < n; ++i) p[i] = p[i] >= 0 ? p[i] + 0.2 : p[i] - 0.2;
        break;
      }
      case InKind::distinct: {
        std::vector<double> v(static_cast<size_t>(n));
        for (int64_t i = 0; i < n; ++i) v[i] = 0.05 * double(i - n / 2);
        for (int64_t i = n - 1; i > 0; --i) std::swap(v[i], v[gen.next_below(uint64_t(i + 1))]);
        t = Tensor::from_vector(v, s.shape);
        break;
      }
      case InKind::index: {
        std::vector<int64_t> v(static_cast<size_t>(n));
        for (auto& x : v) x = int64_t(gen.next_below(uint64_t(s.hi)));
        t = Tensor::from_vector(v, s.shape);
        break;
      }
      case InKind::mask: {
        std::vector<uint8_t> v(static_cast<size_t>(n));
        for (auto& x : v) x = uint8_t(gen.next_below(2));
        t = Tensor::from_vector(v, s.shape);
        break;
      }
    }
    if (is_floating(t.dtype()) && fdt != DType::f64) t = t.to(fdt);
    xs.push_back(t);
  }
  return xs;
}

bool differentiable(const InputSpec& s) {
  return s.kind == InKind::normal || s.kind == InKind::positive || s.kind == InKind::away ||
         s.kind == InKind::distinct;
}

GradcheckResult gradcheck(const OpCase& c, uint64_t seed) {
  GradcheckResult res;
  std::vector<Tensor> xs = make_inputs(c, seed);
  for (size_t i = 0; i < xs.size(); ++i)
    if (differentiable(c.inputs[i])) xs[i].set_requires_grad(true);

  Tensor y0;
  {
    NoGradGuard g;
    y0 = c.fn(xs);
  }
  Generator wgen(seed + 1000);
  Tensor w = randn(y0.shape(), wgen, DType::f64);
  auto loss_of = [&](const std::vector<Tensor>& in) {
    NoGradGuard g;
    return sum(mul(c.fn(in), w)).item();
  };

  tape_clear();
  Tensor loss = sum(mul(c.fn(xs), w));
  backward(loss);

  for (size_t i = 0; i < xs.size(); ++i) {
    if (!differentiable(c.inputs[i])) continue;
    Tensor ga = xs[i].grad();
    std::vector<double> analytic =
        ga.defined() ? ga.to_vector<double>() : std::vector<double>(size_t(xs[i].numel()), 0.0);
    double* p = xs[i].data<double>();
    for (int64_t e = 0; e < xs[i].numel(); ++e) {
      double orig = p[e];
      p[e] = orig + c.eps;
      double lp = loss_of(xs);
      p[e] = orig - c.eps;
      double lm = loss_of(xs);
      p[e] = orig;
      double numeric = (lp - lm) / (2 * c.eps);
      double err = std::fabs(analytic[e] - numeric);
      res.max_abs_err = std::max(res.max_abs_err, err);
      if (!(err <= c.atol + c.rtol * std::fabs(numeric)) && res.ok) {
        std::ostringstream os;
        os << c.name << ": input " << i << " element " << e << ": analytic " << analytic[e] << " vs numeric "
           << numeric;
        res.ok = false;
        res.message = os.str();
      }
    }
  }
  return res;
}

}  // namespace sra::test
