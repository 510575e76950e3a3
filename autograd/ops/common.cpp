#include "autograd/ops/common.h"

namespace sra::detail {

Tensor dense(const Tensor& t) {
  NoGradGuard g;
  return contiguous(t);
}

void require_same_device(const char* op, std::initializer_list<const Tensor*> ts) {
  const Tensor* first = nullptr;
  for (const Tensor* t : ts) {
    if (!t->defined()) continue;
    if (!first) {
      first = t;
      continue;
    }
    SRA_CHECK(t->device() == first->device(), "[", op,
              "] inputs are on different devices: ", first->device().str(), " and ", t->device().str());
  }
}

void require_float(const char* op, const Tensor& t, const char* what) {
  SRA_CHECK(t.defined(), "[", op, "] ", what, " is undefined");
  SRA_CHECK(t.dtype() == DType::f32 || t.dtype() == DType::f64, "[", op, "] ", what, " has dtype ",
            dtype_name(t.dtype()), "; expected f32 or f64");
}

void require_same_float(const char* op, const Tensor& a, const Tensor& b) {
  require_float(op, a, "first input");
  require_float(op, b, "second input");
  SRA_CHECK(a.dtype() == b.dtype(), "[", op, "] dtype mismatch: ", dtype_name(a.dtype()), " and ",
            dtype_name(b.dtype()));
}

void require_index(const char* op, const Tensor& t, const char* what) {
  SRA_CHECK(t.defined(), "[", op, "] ", what, " is undefined");
  SRA_CHECK(t.dtype() == DType::i64 || t.dtype() == DType::i32, "[", op, "] ", what, " has dtype ",
            dtype_name(t.dtype()), "; expected i64 or i32");
}

}  // namespace sra::detail
