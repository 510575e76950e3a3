// Helpers shared by the op files: device and dtype checks, float dispatch.
#pragma once
#include <string>

#include "autograd/ops.h"
#include "core/check.h"

namespace sra::detail {

// Throws "[op] ..." unless every defined tensor is on the CPU. (The CUDA kernels arrive with the CUDA
// backend issue; until then every op runs on the CPU and says so for other devices.)
void require_cpu(const char* op, std::initializer_list<const Tensor*> ts);
// Throws "[op] inputs are on different devices: cpu and cuda:0" unless every defined tensor shares one.
void require_same_device(const char* op, std::initializer_list<const Tensor*> ts);
// Throws unless t is f32 or f64.
void require_float(const char* op, const Tensor& t, const char* what = "input");
// Throws unless a and b share a floating dtype.
void require_same_float(const char* op, const Tensor& a, const Tensor& b);
void require_index(const char* op, const Tensor& t, const char* what = "index");

// A contiguous copy of t (or t itself when already contiguous) that never records on the tape.
Tensor dense(const Tensor& t);

}  // namespace sra::detail
