// Helpers shared by the op files: device and dtype checks, dense copies, kernel scratch.
#pragma once
#include <string>

#include "autograd/ops.h"
#include "core/check.h"
#include "kernels/common/row_strides.h"

namespace sra::detail {

// Throws "[op] inputs are on different devices: cpu and cuda:0" unless every defined tensor shares one.
void require_same_device(const char* op, std::initializer_list<const Tensor*> ts);
// Throws unless t is f32 or f64.
void require_float(const char* op, const Tensor& t, const char* what = "input");
// Throws unless a and b share a floating dtype.
void require_same_float(const char* op, const Tensor& a, const Tensor& b);
// A GEMM's input x and weight w: of one floating dtype, or w a frozen weight held in bf16
// (train.base_dtype: no gradient) with f32 x.
void require_linear_operands(const char* op, const Tensor& x, const Tensor& w);
void require_index(const char* op, const Tensor& t, const char* what = "index");

// Cross-entropy targets (N) as contiguous i64 on `device` (with v classes). Targets on the CPU are
// range-checked first ("[op] target 7 at row 3 is out of range [0, 5) (ignore_index -100)"), then copied;
// targets already on a GPU are never read on the host (kernels/cross_entropy/cross_entropy.h says what the
// kernels do with a bad one).
Tensor device_targets(const char* op, const Tensor& targets, Device device, int64_t v, int64_t ignore_index);

// A contiguous copy of t (or t itself when already contiguous) that never records on the tape.
Tensor dense(const Tensor& t);

// The q, k, v an attention kernel reads, never recorded: dense copies; under bf16 autocast (f32 inputs),
// bf16 copies in one kernel each (a strided v is not copied in f32 first), widened back to f32 when the
// kernel has no bf16 path for the head dim (bf16_head_dim false). When the kernel takes strided rows
// (takes_rows: kern::attention_takes_rows for bf16), the bf16 copies keep the inputs' layouts (a head
// split of a projection is cast as the projection's dense block, no transpose), `rows` is set and the op
// lays out its output (attention_out) and gradients (attention_grad_strides) to match; else all dense.
struct AttentionOperands {
  Tensor q, k, v;
  bool cast;          // the bf16 autocast copies were made
  bool rows = false;  // the kernels read q, k, v in the copies' layouts
};
AttentionOperands attention_operands(const Tensor& q, const Tensor& k, const Tensor& v, bool bf16_head_dim,
                                     bool takes_rows);

// The flash kernels' row strides of a (B, heads, T, D) tensor with its head dim contiguous.
kern::RowStrides rows_of(const Tensor& x);
// The dims by decreasing stride (ties in dim order): a permutation that makes a dense tensor contiguous.
std::vector<int64_t> memory_order(const Shape& strides);
// The permutation that undoes `order` (permute(permute(x, order), inverse_permutation(order)) is x).
std::vector<int64_t> inverse_permutation(const std::vector<int64_t>& order);
// An uninitialised tensor of `shape` whose memory order follows `strides` (dims by decreasing stride):
// dense, and laid out as the tensor those strides came from when that one was a permutation of a dense
// layout.
Tensor empty_in_order(const Shape& shape, const Shape& strides, DType dtype, Device device);
// The strides (for empty_in_order) of the gradient of attention operand x (B, heads, T, D): with `rows`,
// x's own when its head dim is innermost (empty_in_order then lays the gradient out dense in x's memory
// order, gaps or not: the gradient of a head split transposes back to the projection's layout for free);
// else dense.
Shape attention_grad_strides(const Tensor& x, bool rows);
// The attention output (B, H, T, D): laid out (B, T, H, D) when `rows` (its transpose back to the output
// projection is then a view), else dense.
Tensor attention_out(bool rows, const Shape& bhtd, DType dt, Device device);
// The rows of a forward call (q, k, v from ops, and out) and of its backward (those plus dout and the
// gradients): all unset (dense) unless ops.rows (for backward: unless the forward's are set).
kern::AttentionRows forward_rows(const AttentionOperands& ops, const Tensor& out);
kern::AttentionRows backward_rows(const kern::AttentionRows& fwd, const Tensor& dout, const Tensor& dq,
                                  const Tensor& dk, const Tensor& dv);
// Backward's dout operand under bf16 autocast: g rounded to bf16, laid out like g when `rows` (the
// kernels read it in place), else dense.
Tensor attention_dout_bf16(const Tensor& g, bool rows);

// t's data pointer for a kernel's args, or null when t is undefined (an output not asked for).
inline void* ptr(const Tensor& t) {
  return t.defined() ? t.raw() : nullptr;
}

// The buffer for the bf16 copy of an f32 output t that a kernel writes beside it (a contiguous bf16 tensor
// of t's shape) when bf16 autocast keeps such copies (autocast_keeps_bf16); else undefined (also for an
// undefined t). After the kernel: autocast_keep_bf16(t, copy).
Tensor bf16_copy_buffer(const Tensor& t);

// A kernel's scratch of `bytes` bytes on `device` (the kernels' *_scratch_bytes say how many; none when
// 0): data() is null and size() 0 then.
struct Scratch {
  Scratch(size_t bytes, Device device)
      : t(bytes == 0 ? Tensor() : Tensor::empty({int64_t(bytes)}, DType::u8, device)) {}
  void* data() const { return t.defined() ? t.raw() : nullptr; }
  size_t size() const { return t.defined() ? size_t(t.numel()) : 0; }
  Tensor t;
};

}  // namespace sra::detail
