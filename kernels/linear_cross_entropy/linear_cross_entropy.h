// Row kernels of the fused LM head + cross-entropy (autograd/fused_ops.h: linear_cross_entropy). The op runs
// the chunk's GEMMs (kernels/matmul); these kernels do the softmax work of one chunk of rows of the logits
// z = x · wᵀ (rows, V), so that no (N, V) logits tensor exists for the whole batch.
//   count:  kept = #{n : t[n] != ignore_index} over all N targets (one i64 on the device; before the chunks,
//           because the gradient's scale needs it)
//   chunk:  for each row r of the chunk (z (rows, V) contiguous, T = f32 | f64):
//             mx[r] = max_v z[r, v],  ls[r] = log Σ_v exp(z[r, v] − mx[r])  (the sum in double)
//             row_loss[r] = (mx[r] − z[r, t[r]]) + ls[r] for kept rows, 0 for ignored rows  (double)
//           and, when g is not null, the gradient of the mean loss with respect to the chunk's logits
//             g[r, v] = (exp((z[r, v] − mx[r]) − ls[r]) − [v == t[r]]) / kept   (kept rows; 0 for ignored)
//           written as T, or rounded to bf16 (g_bf16: the operand of the next bf16 GEMMs). g may alias z
//           when it is T. The arithmetic is cross_entropy's (kernels/cross_entropy/cross_entropy.h) with
//           grad 1, so the unfused composite linear + cross_entropy is the oracle.
//   finish: loss = Σ_n row_loss[n] / kept (0 when kept == 0), as one T, in row order on the CPU and through a
//           fixed-shape tree on CUDA (deterministic; equal to the CPU within rounding).
// Targets are checked by the op (a target outside [0, V) that is not ignore_index: as cross_entropy.h says,
// CUDA never dereferences it; its row's loss is NaN and its gradient row has no one-hot term).
// CUDA (linear_cross_entropy_cuda.cu): the chunk kernel is one block of kRowThreads per row (the max, the
// Σ exp and the gradient write each stream the row; V = 32768 f32 is 128 KiB, read from L2 after the first
// pass). CPU (linear_cross_entropy_cpu.cpp): parallel over rows. Callers use the dispatchers below
// (linear_cross_entropy.cpp).
#pragma once
#include <cstdint>

#include "core/device.h"
#include "core/dtype.h"

namespace sra::kern {

struct XentChunkArgs {  // pointers on the call's device
  DType dtype;          // of z, mx, ls (and g unless g_bf16): f32 | f64
  const void* z;        // (rows, v) logits of the chunk
  void* g;              // (rows, v) gradient, or null (no gradient wanted)
  bool g_bf16;          // g holds bf16 (round to nearest even)
  void* mx;             // (rows)
  void* ls;             // (rows)
  double* row_loss;     // (rows)
  const int64_t* t;     // (rows) targets of the chunk
  const int64_t* kept;  // one i64 (from xent_count_kept); read only when g is not null
  int64_t rows, v, ignore_index;
};

void xent_count_kept(Device device, int64_t* kept, const int64_t* t, int64_t n, int64_t ignore_index);
void xent_chunk(Device device, const XentChunkArgs& args);
// loss (one T of dtype) = Σ row_loss / kept (0 when kept == 0).
void xent_finish(Device device, DType dtype, void* loss, const double* row_loss, const int64_t* kept,
                 int64_t n);

void xent_count_kept_cuda(int64_t* kept, const int64_t* t, int64_t n, int64_t ignore_index, int device);
void xent_chunk_cuda(const XentChunkArgs& args, int device);
void xent_finish_cuda(DType dtype, void* loss, const double* row_loss, const int64_t* kept, int64_t n,
                      int device);

template <typename T>
void xent_chunk_cpu(const XentChunkArgs& args);

}  // namespace sra::kern
