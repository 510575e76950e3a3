#include "autograd/ops/common.h"

#include <algorithm>
#include <numeric>

#include "autograd/autocast.h"

namespace sra::detail {

Tensor bf16_copy_buffer(const Tensor& t) {
  return t.defined() && autocast_keeps_bf16(t) ? Tensor::empty(t.shape(), DType::bf16, t.device()) : Tensor();
}

Tensor dense(const Tensor& t) {
  NoGradGuard g;
  return contiguous(t);
}

namespace {

// True when the bf16 kernels can read x (bf16, (B, heads, T, D)) in place: head dim contiguous, rows of
// 16 bytes' alignment (cp.async).
bool bf16_rows_readable(const Tensor& x) {
  return x.stride(3) == 1 && kern::rows_aligned(x.raw(), rows_of(x), 8, 16);
}

// x rounded to bf16 in its own layout where the kernels read that in place, else dense.
Tensor bf16_rows(const Tensor& x) {
  Tensor c = autocast_bf16_operand(x);
  return bf16_rows_readable(c) ? c : autocast_dense_bf16(x);
}

}  // namespace

AttentionOperands attention_operands(const Tensor& q, const Tensor& k, const Tensor& v, bool bf16_head_dim,
                                     bool takes_rows) {
  const bool cast = q.dtype() == DType::f32 && autocast_dtype() == DType::bf16;
  if (!cast) return {dense(q), dense(k), dense(v), false};
  if (bf16_head_dim && takes_rows) return {bf16_rows(q), bf16_rows(k), bf16_rows(v), true, true};
  AttentionOperands o{autocast_dense_bf16(q), autocast_dense_bf16(k), autocast_dense_bf16(v), true};
  if (!bf16_head_dim) o.q = o.q.to(DType::f32), o.k = o.k.to(DType::f32), o.v = o.v.to(DType::f32);
  return o;
}

kern::RowStrides rows_of(const Tensor& x) {
  SRA_ASSERT(x.dim() == 4, "rows_of a ", x.dim(), "-d tensor");
  return {x.stride(0), x.stride(1), x.stride(2)};
}

std::vector<int64_t> memory_order(const Shape& strides) {
  std::vector<int64_t> order(strides.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t c) { return strides[size_t(a)] > strides[size_t(c)]; });
  return order;
}

std::vector<int64_t> inverse_permutation(const std::vector<int64_t>& order) {
  std::vector<int64_t> inverse(order.size());
  for (size_t i = 0; i < order.size(); ++i) inverse[size_t(order[i])] = int64_t(i);
  return inverse;
}

Tensor empty_in_order(const Shape& shape, const Shape& strides, DType dtype, Device device) {
  const std::vector<int64_t> order = memory_order(strides);
  if (std::is_sorted(order.begin(), order.end())) return Tensor::empty(shape, dtype, device);  // dense
  Shape mem(shape.size());
  for (size_t i = 0; i < order.size(); ++i) mem[i] = shape[size_t(order[i])];
  NoGradGuard g;
  return permute(Tensor::empty(mem, dtype, device), inverse_permutation(order));
}

Shape attention_grad_strides(const Tensor& x, bool rows) {
  if (!rows || x.stride(3) != 1) return contiguous_strides(x.shape());
  // x's memory order (gaps allowed: a column block of the stacked q/k/v projection), laid out dense in it
  const std::vector<int64_t> order = memory_order(x.strides());
  return order.back() == 3 ? x.strides() : contiguous_strides(x.shape());
}

Tensor attention_out(bool rows, const Shape& bhtd, DType dt, Device device) {
  if (!rows) return Tensor::empty(bhtd, dt, device);
  return Tensor::empty({bhtd[0], bhtd[2], bhtd[1], bhtd[3]}, dt, device).transpose(1, 2);
}

kern::AttentionRows forward_rows(const AttentionOperands& ops, const Tensor& out) {
  kern::AttentionRows r;
  if (!ops.rows) return r;
  r.q = rows_of(ops.q), r.k = rows_of(ops.k), r.v = rows_of(ops.v), r.out = rows_of(out);
  return r;
}

kern::AttentionRows backward_rows(const kern::AttentionRows& fwd, const Tensor& dout, const Tensor& dq,
                                  const Tensor& dk, const Tensor& dv) {
  kern::AttentionRows r = fwd;
  if (fwd.q.unset()) return r;
  r.dout = rows_of(dout), r.dq = rows_of(dq), r.dk = rows_of(dk), r.dv = rows_of(dv);
  return r;
}

Tensor attention_dout_bf16(const Tensor& g, bool rows) {
  return rows ? bf16_rows(g) : autocast_dense_bf16(g);
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

void require_linear_operands(const char* op, const Tensor& x, const Tensor& w) {
  if (w.dtype() != DType::bf16) return require_same_float(op, x, w);
  SRA_CHECK(x.dtype() == DType::f32 && !w.requires_grad(), "[", op,
            "] a bf16 weight takes f32 inputs and must not require a gradient (a frozen base weight); got "
            "input ",
            dtype_name(x.dtype()), w.requires_grad() ? ", weight requiring a gradient" : "");
}

void require_index(const char* op, const Tensor& t, const char* what) {
  SRA_CHECK(t.defined(), "[", op, "] ", what, " is undefined");
  SRA_CHECK(t.dtype() == DType::i64 || t.dtype() == DType::i32, "[", op, "] ", what, " has dtype ",
            dtype_name(t.dtype()), "; expected i64 or i32");
}

}  // namespace sra::detail
