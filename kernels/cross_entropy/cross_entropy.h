// Fused cross-entropy over logits x (N, V) and targets t (N) (i64, each in [0, V) or == ignore_index;
// checked by the op). Row n is kept when t[n] != ignore_index.
//   forward   mx[n] = max_v x[n, v],  ls[n] = log Σ_v exp(x[n, v] − mx[n])  (the sum in double), for every
//             row (logsumexp = mx + ls, kept in two parts so f32 keeps its precision at large logits);
//             returns Σ_{kept n} ((mx[n] − x[n, t[n]]) + ls[n]) summed in row order (double).
//             log_softmax is never materialised.
//   backward  gx[n, v] = (exp((x[n, v] − mx[n]) − ls[n]) − [v == t[n]]) · scale for kept rows, 0 for
//             ignored rows (scale = upstream grad / number of kept rows).
// T = float or double.
// The dispatchers (cross_entropy.cpp) also finish the loss: loss = (Σ kept row losses) / kept, 0 when no row
// is kept, written to a one-element tensor with `kept` beside it, so that the loss and its backward's
// scale = grad / kept stay on the call's device (no host read on CUDA).
// CUDA (cross_entropy_cuda.cu): forward one block per row (max and Σ exp through fixed-shape trees, Σ in
// double), the per-row losses in a double scratch, then one block sums them (and counts kept rows) through a
// fixed-shape tree: deterministic, but not the CPU's row order (equal within rounding). Backward: one thread
// per element. Target range: the op checks targets that live on the CPU (before copying them to the device);
// targets already on CUDA are not read on the host: there a target outside [0, V) (and != ignore_index)
// reads and writes nothing out of bounds, makes its row's loss (hence the loss) NaN, and its row of gx gets
// no one-hot term.
#pragma once
#include <cstdint>

#include "core/device.h"
#include "core/dtype.h"

namespace sra::kern {

struct CrossEntropyArgs {  // pointers on the call's device
  DType dtype;             // of x, mx, ls, loss: f32 | f64
  void* loss;              // one T: Σ_{kept n} row loss / kept (0 when kept == 0)
  int64_t* kept;           // one i64: the number of kept rows
  void* mx;                // (n) T
  void* ls;                // (n) T
  double* row_loss;        // (n) scratch for the per-row losses; CUDA only (nullptr on the CPU)
  const void* x;           // (n, v) contiguous
  const int64_t* t;        // (n)
  int64_t n, v, ignore_index;
};

struct CrossEntropyBackwardArgs {  // pointers on the call's device
  DType dtype;
  void* gx;             // (n, v)
  const void* x;        // (n, v)
  const void* mx;       // (n)
  const void* ls;       // (n)
  const int64_t* t;     // (n)
  const void* grad;     // one T: the upstream gradient of the loss
  const int64_t* kept;  // one i64, from the forward; scale = grad / kept (0 when kept == 0)
  int64_t n, v, ignore_index;
};

void cross_entropy(Device device, const CrossEntropyArgs& args);
void cross_entropy_backward(Device device, const CrossEntropyBackwardArgs& args);

void cross_entropy_cuda(const CrossEntropyArgs& args, int device);
void cross_entropy_backward_cuda(const CrossEntropyBackwardArgs& args, int device);

template <typename T>
double cross_entropy_cpu(T* mx, T* ls, const T* x, const int64_t* t, int64_t n, int64_t v,
                         int64_t ignore_index);
template <typename T>
void cross_entropy_backward_cpu(T* gx, const T* x, const T* mx, const T* ls, const int64_t* t, int64_t n,
                                int64_t v, int64_t ignore_index, double scale);

}  // namespace sra::kern
