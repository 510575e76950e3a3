// The SwiGLU dispatchers: the one switch from a device to its kernel (contract in swiglu.h).
#include "kernels/swiglu/swiglu.h"

#include <vector>

#include "core/check.h"
#include "kernels/common/dtype_switch.h"
#include "kernels/common/widen.h"

namespace sra::kern {

namespace {

// element i of the row-laid arrays (swiglu.h; ld 0: dense)
int64_t row_at(int64_t i, int64_t cols, int64_t ld) {
  return ld == 0 ? i : (i / cols) * ld + i % cols;
}

// The n bf16 values at p (rows of cols elements ld apart, or dense), widened to f32, dense.
std::vector<float> widen_rows(const void* p, int64_t n, int64_t cols, int64_t ld) {
  if (ld == 0) return widen_bf16(p, n);
  const auto* src = static_cast<const bf16*>(p);
  std::vector<float> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out[size_t(i)] = float(src[row_at(i, cols, ld)]);
  return out;
}

// The CPU oracle of bf16 inputs: args' a and b widened to dense f32 (exact), then run(the f32 args).
template <typename Args, typename Run>
void on_widened(const Args& args, Run&& run) {
  const std::vector<float> wa = widen_rows(args.a, args.n, args.cols, args.ld),
                           wb = widen_rows(args.b, args.n, args.cols, args.ld);
  Args f = args;
  f.a = wa.data(), f.b = wb.data(), f.inputs_bf16 = false, f.cols = 0, f.ld = 0;
  run(f);
}

// dst (bf16, rows of cols elements ld apart, or dense) = src (n dense f32) rounded to nearest even.
void narrow_rows(void* dst, const float* src, int64_t n, int64_t cols, int64_t ld) {
  if (ld == 0) return narrow_bf16(dst, src, n);
  auto* out = static_cast<bf16*>(dst);
  for (int64_t i = 0; i < n; ++i) out[row_at(i, cols, ld)] = bf16(src[i]);
}

template <typename Args>
void check_rows(const Args& a) {
  SRA_CHECK(a.ld == 0 || (a.inputs_bf16 && a.cols > 0 && a.ld >= a.cols && a.n % a.cols == 0),
            "[swiglu] rows (cols ", a.cols, ", ld ", a.ld, ") need bf16 inputs, cols > 0 dividing ", a.n,
            " and ld >= cols");
}

}  // namespace

void swiglu(Device d, const SwigluArgs& a) {
  if (a.n == 0) return;
  SRA_CHECK((a.a16 == nullptr && a.b16 == nullptr && !a.inputs_bf16) || a.dtype == DType::f32,
            "[swiglu] bf16 input copies and bf16 inputs need f32, got ", dtype_name(a.dtype));
  SRA_ASSERT(!a.inputs_bf16 || (a.a16 == nullptr && a.b16 == nullptr), "swiglu: bf16 inputs need no copies");
  check_rows(a);
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
  check_rows(a);
  if (d.is_cuda()) return swiglu_backward_cuda(a, d.index);
  // a gradient wanted in bf16 only: computed in f32 here, then rounded (as CUDA rounds in the kernel) into
  // a and b's rows; a bf16 copy beside an f32 gradient is dense like it
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
  if (c.ga16 != nullptr && c.ga != nullptr)
    narrow_rows(c.ga16, static_cast<const float*>(c.ga), a.n, a.cols, ta.empty() ? 0 : a.ld);
  if (c.gb16 != nullptr && c.gb != nullptr)
    narrow_rows(c.gb16, static_cast<const float*>(c.gb), a.n, a.cols, tb.empty() ? 0 : a.ld);
}

}  // namespace sra::kern
