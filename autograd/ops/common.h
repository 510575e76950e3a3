// Helpers shared by the op files: device and dtype checks, dense copies, kernel scratch.
#pragma once
#include <string>

#include "autograd/ops.h"
#include "core/check.h"

namespace sra::detail {

// Throws "[op] inputs are on different devices: cpu and cuda:0" unless every defined tensor shares one.
void require_same_device(const char* op, std::initializer_list<const Tensor*> ts);
// Throws unless t is f32 or f64.
void require_float(const char* op, const Tensor& t, const char* what = "input");
// Throws unless a and b share a floating dtype.
void require_same_float(const char* op, const Tensor& a, const Tensor& b);
void require_index(const char* op, const Tensor& t, const char* what = "index");

// Cross-entropy targets (N) as contiguous i64 on `device` (with v classes). Targets on the CPU are
// range-checked first ("[op] target 7 at row 3 is out of range [0, 5) (ignore_index -100)"), then copied;
// targets already on a GPU are never read on the host (kernels/cross_entropy/cross_entropy.h says what the
// kernels do with a bad one).
Tensor device_targets(const char* op, const Tensor& targets, Device device, int64_t v, int64_t ignore_index);

// A contiguous copy of t (or t itself when already contiguous) that never records on the tape.
Tensor dense(const Tensor& t);

// The q, k, v an attention kernel reads, never recorded: dense copies; under bf16 autocast (f32 inputs),
// dense bf16 copies in one kernel each (a strided v is not copied in f32 first), widened back to f32 when
// the kernel has no bf16 path for the head dim (bf16_head_dim false). Returns {qc, kc, vc}.
struct AttentionOperands {
  Tensor q, k, v;
  bool cast;  // the bf16 autocast copies were made
};
AttentionOperands attention_operands(const Tensor& q, const Tensor& k, const Tensor& v, bool bf16_head_dim);

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
