// copy: dst[i] = convert<dst dtype>(src[i]) over an N-d shape with arbitrary (broadcast, 0) source
// strides. Used by contiguous(), to(dtype), copy_() and every op that materialises a view.
#pragma once
#include "core/tensor.h"

namespace sra::kern {

// dst and src are element pointers at offset 0 of their views; strides in elements.
void copy_cpu(void* dst, DType dst_dtype, const Shape& dst_strides, const void* src, DType src_dtype,
              const Shape& src_strides, const Shape& shape);
// dst[i] = value, strided.
void fill_cpu(void* dst, DType dtype, const Shape& strides, const Shape& shape, double value);

}  // namespace sra::kern
