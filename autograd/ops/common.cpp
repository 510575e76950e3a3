#include "autograd/ops/common.h"

#include "autograd/autocast.h"

namespace sra::detail {

Tensor bf16_copy_buffer(const Tensor& t) {
  return t.defined() && autocast_keeps_bf16(t) ? Tensor::empty(t.shape(), DType::bf16, t.device()) : Tensor();
}

Tensor dense(const Tensor& t) {
  NoGradGuard g;
  return contiguous(t);
}

AttentionOperands attention_operands(const Tensor& q, const Tensor& k, const Tensor& v, bool bf16_head_dim) {
  const bool cast = q.dtype() == DType::f32 && autocast_dtype() == DType::bf16;
  if (!cast) return {dense(q), dense(k), dense(v), false};
  AttentionOperands o{autocast_dense_bf16(q), autocast_dense_bf16(k), autocast_dense_bf16(v), true};
  if (!bf16_head_dim) o.q = o.q.to(DType::f32), o.k = o.k.to(DType::f32), o.v = o.v.to(DType::f32);
  return o;
}

Tensor device_targets(const char* op, const Tensor& targets, Device device, int64_t v, int64_t ignore_index) {
  Tensor t = dense(cast(targets, DType::i64));
  if (t.device().is_cpu()) {
    const int64_t* tp = t.data<int64_t>();
    for (int64_t r = 0; r < t.numel(); ++r) {
      if (tp[r] == ignore_index) continue;
      SRA_CHECK(tp[r] >= 0 && tp[r] < v, "[", op, "] target ", tp[r], " at row ", r, " is out of range [0, ",
                v, ") (ignore_index ", ignore_index, ")");
    }
    return t.to(device);
  }
  SRA_CHECK(t.device() == device, "[", op, "] inputs are on different devices: ", device.str(), " and ",
            t.device().str());
  return t;
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
