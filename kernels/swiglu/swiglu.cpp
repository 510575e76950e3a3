// The SwiGLU dispatchers: the one switch from a device to its kernel (contract in swiglu.h).
#include "kernels/swiglu/swiglu.h"

#include <vector>

#include "core/check.h"
#include "kernels/common/dtype_switch.h"
#include "kernels/common/widen.h"

namespace sra::kern {

namespace {

// The CPU oracle of bf16 inputs: args' a and b widened to f32 (exact), then run(the f32 args).
template <typename Args, typename Run>
void on_widened(const Args& args, Run&& run) {
  const std::vector<float> wa = widen_bf16(args.a, args.n), wb = widen_bf16(args.b, args.n);
  Args f = args;
  f.a = wa.data(), f.b = wb.data(), f.inputs_bf16 = false;
  run(f);
}

}  // namespace

void swiglu(Device d, const SwigluArgs& a) {
  if (a.n == 0) return;
  SRA_CHECK((a.a16 == nullptr && a.b16 == nullptr && !a.inputs_bf16) || a.dtype == DType::f32,
            "[swiglu] bf16 input copies and bf16 inputs need f32, got ", dtype_name(a.dtype));
  SRA_ASSERT(!a.inputs_bf16 || (a.a16 == nullptr && a.b16 == nullptr), "swiglu: bf16 inputs need no copies");
  if (d.is_cuda()) return swiglu_cuda(a, d.index);
  if (a.inputs_bf16) return on_widened(a, [](const SwigluArgs& f) { swiglu_cpu<float>(f); });
  for_float(a.dtype, "swiglu", "cpu", [&](auto tag) { swiglu_cpu<decltype(tag)>(a); });
  if (a.a16 != nullptr) narrow_bf16(a.a16, static_cast<const float*>(a.a), a.n);
  if (a.b16 != nullptr) narrow_bf16(a.b16, static_cast<const float*>(a.b), a.n);
}

void swiglu_backward(Device d, const SwigluBackwardArgs& a) {
  if (a.n == 0) return;
  SRA_CHECK((a.ga16 == nullptr && a.gb16 == nullptr && !a.inputs_bf16) || a.dtype == DType::f32,
            "[swiglu] bf16 gradient copies and bf16 inputs need f32, got ", dtype_name(a.dtype));
  if (d.is_cuda()) return swiglu_backward_cuda(a, d.index);
  // a gradient wanted in bf16 only: computed in f32 here, then rounded (as CUDA rounds in the kernel)
  SwigluBackwardArgs c = a;
  std::vector<float> ta(c.ga == nullptr && c.ga16 != nullptr ? size_t(a.n) : 0);
  std::vector<float> tb(c.gb == nullptr && c.gb16 != nullptr ? size_t(a.n) : 0);
  if (!ta.empty()) c.ga = ta.data();
  if (!tb.empty()) c.gb = tb.data();
  if (c.inputs_bf16) {
    on_widened(c, [](const SwigluBackwardArgs& f) { swiglu_backward_cpu<float>(f); });
  } else {
    for_float(c.dtype, "swiglu", "cpu", [&](auto tag) { swiglu_backward_cpu<decltype(tag)>(c); });
  }
  if (c.ga16 != nullptr && c.ga != nullptr) narrow_bf16(c.ga16, static_cast<const float*>(c.ga), a.n);
  if (c.gb16 != nullptr && c.gb != nullptr) narrow_bf16(c.gb16, static_cast<const float*>(c.gb), a.n);
}

}  // namespace sra::kern
