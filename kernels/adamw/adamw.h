// AdamW update (Loshchilov & Hutter, decoupled weight decay), one parameter tensor of n elements:
//   m = β1·m + (1−β1)·g;  v = β2·v + (1−β2)·g²
//   p = p − lr·wd·p − lr · (m / (1−β1^t)) / (√(v / (1−β2^t)) + eps)
// g is scaled by grad_scale first (global-norm clipping). p, g, m, v: contiguous, n elements. The bias
// corrections and step constants are computed on the host in double and rounded to T, on both devices;
// the update is elementwise in T, each operation rounded in the order written (no FMA contraction on
// either device), so the CPU and CUDA give the same bits (one thread per element on CUDA, adamw_cuda.cu).
// sum_squares: acc[0] += Σ g² over n elements, in double, in a fixed order: on the CPU two interleaved
// sequential sums; on CUDA min(kSumSquaresBlocks, ⌈n / 256⌉) blocks (set by n alone) each sum a fixed
// grid stride into scratch[block] through a fixed-shape tree, then one block adds scratch[0 ...) in a
// fixed tree and adds the total to acc[0] (sequential launches on one stream: the tensors' totals join
// acc in call order). acc is on the call's device (a host double on the CPU, a one-element f64 tensor's
// data on CUDA); scratch: kSumSquaresBlocks doubles on CUDA (unused on the CPU).
// clip_scale: from acc[0] = Σ g², out = [norm, scale] with norm = √acc, scale = max_norm / (norm + 1e-12)
// when max_norm > 0 and norm > max_norm, else 1 (clip_norm_scale below, one expression for both devices;
// on CUDA one thread, so the clip factor never leaves the device). adamw reads its gradient scale from
// scale_dev (a double on the call's device) when that is set, instead of step.grad_scale: a step whose
// clip factor stays on the GPU makes no host read.
// adamw_multi: the same update over many tensors of one dtype with one step's constants (each tensor its own
// weight decay): on CUDA one launch per kAdamWMultiTensors tensors (their pointers and sizes passed as the
// kernel's argument, each block updating kAdamWMultiChunk elements of one tensor), the per-tensor kernel's
// expression element for element, so the result is adamw's bit for bit; on the CPU adamw per tensor.
// Callers use the dispatchers adamw / adamw_multi / sum_squares / clip_scale (adamw.cpp). T = float or
// double.
#pragma once
#include <math.h>

#include <cstdint>

#include "core/device.h"
#include "core/dtype.h"
#include "kernels/common/host_device.h"

namespace sra::kern {

struct AdamWStep {
  double lr, beta1, beta2, eps, weight_decay, grad_scale;
  int64_t t;  // 1-based step count, for bias correction
};

constexpr int64_t kSumSquaresBlocks = 256;

struct AdamWArgs {  // pointers on the call's device
  DType dtype;      // f32 | f64
  void* p;
  const void* g;
  void* m;
  void* v;
  int64_t n;
  AdamWStep step;
  const double* scale_dev = nullptr;  // set: the gradient scale, read on the device (step.grad_scale unused)
};
constexpr int kAdamWMultiTensors = 48;
constexpr int64_t kAdamWMultiChunk = 4096;

struct AdamWTensor {  // one parameter of adamw_multi: contiguous, n elements each, on the call's device
  void* p;
  const void* g;
  void* m;
  void* v;
  int64_t n;
  double weight_decay;
};
struct AdamWMultiArgs {
  DType dtype;                 // of every tensor: f32 | f64
  const AdamWTensor* tensors;  // host array
  int64_t count;
  AdamWStep step;  // step.weight_decay unused (per tensor)
  const double* scale_dev = nullptr;
};

struct SumSquaresArgs {
  DType dtype;
  const void* g;
  int64_t n;
  double* acc;      // acc[0] += Σ g²
  double* scratch;  // CUDA: kSumSquaresBlocks doubles; CPU: unused
};

// sum_squares_multi: acc[0] += Σ g² of each tensor in turn, bit for bit as sum_squares called once per
// tensor in order (on CUDA: one partial launch per kAdamWMultiTensors tensors, each tensor's blocks as
// sum_squares would launch them, then one block adds the tensors' trees to acc in order). All of one dtype.
struct SumSquaresTensor {
  const void* g;  // contiguous, n elements, on the call's device
  int64_t n;
};
struct SumSquaresMultiArgs {
  DType dtype;                      // f32 | f64
  const SumSquaresTensor* tensors;  // host array
  int64_t count;
  double* acc;
  double* scratch;  // CUDA: sum_squares_multi_scratch(tensors, count) doubles; CPU: unused
};
// Doubles of scratch sum_squares_multi needs on CUDA: Σ min(kSumSquaresBlocks, ⌈n / 256⌉).
int64_t sum_squares_multi_scratch(const SumSquaresTensor* tensors, int64_t count);

struct ClipScaleArgs {
  const double* sum_sq;  // Σ g² (sum_squares' acc)
  double max_norm;       // <= 0: no clipping
  double* out;           // [norm, scale]
};

// The global norm and clip factor from Σ g²; the same expression on the host and the device.
SRA_HOST_DEVICE inline void clip_norm_scale(double sum_sq, double max_norm, double* out) {
  double norm = ::sqrt(sum_sq);  // the C function (sra::sqrt is the tensor op)
  out[0] = norm;
  out[1] = (max_norm > 0 && norm > max_norm) ? max_norm / (norm + 1e-12) : 1.0;
}

void adamw(Device device, const AdamWArgs& args);
void adamw_multi(Device device, const AdamWMultiArgs& args);
void adamw_multi_cuda(const AdamWMultiArgs& args, int device);
void sum_squares(Device device, const SumSquaresArgs& args);
void sum_squares_multi(Device device, const SumSquaresMultiArgs& args);
void sum_squares_multi_cuda(const SumSquaresMultiArgs& args, int device);
void clip_scale(Device device, const ClipScaleArgs& args);
void adamw_cuda(const AdamWArgs& args, int device);
void sum_squares_cuda(const SumSquaresArgs& args, int device);
void clip_scale_cuda(const ClipScaleArgs& args, int device);

template <typename T>
void adamw_cpu(T* p, const T* g, T* m, T* v, int64_t n, const AdamWStep& s);
// Σ g² over n elements, in double, fixed order.
template <typename T>
double sum_squares_cpu(const T* g, int64_t n);

}  // namespace sra::kern
