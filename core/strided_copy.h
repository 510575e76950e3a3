// Strided copy and fill on the CPU (and, through the Device overloads, on CUDA: core/strided_copy_cuda.cu):
// dst[i] = convert<dst dtype>(src[i]) over an N-d shape with arbitrary (broadcast, 0) source strides. Used by
// Tensor::copy_, fill_, to_vector (core/tensor.cpp) and by contiguous(), clone(), to(dtype), concat
// (autograd/ops/view.cpp): every op that materialises a view. Parallel over rows; a pure copy, so the thread
// count cannot change the result.
#pragma once
#include "core/tensor.h"

namespace sra {

// dst and src are element pointers at offset 0 of their views; strides in elements.
void copy_strided(void* dst, DType dst_dtype, const Shape& dst_strides, const void* src, DType src_dtype,
                  const Shape& src_strides, const Shape& shape);
// dst[i] = value, strided.
void fill_strided(void* dst, DType dtype, const Shape& strides, const Shape& shape, double value);

// The same on `device` (dst and src both there): the CPU loops above or the CUDA kernels.
void copy_strided(Device device, void* dst, DType dst_dtype, const Shape& dst_strides, const void* src,
                  DType src_dtype, const Shape& src_strides, const Shape& shape);
void fill_strided(Device device, void* dst, DType dtype, const Shape& strides, const Shape& shape,
                  double value);

// dst[j].copy_(src[j]) for every j: the same shape and dtype pairwise, all on one device. On CUDA a
// batch of small copies becomes one launch per 16 pairs (the KV cache's per-row appends of a decode step);
// on the CPU a loop. The result is the same as the loop's.
void copy_many(const std::vector<Tensor>& dst, const std::vector<Tensor>& src);

}  // namespace sra
