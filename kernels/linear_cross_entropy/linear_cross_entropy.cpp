// The dispatchers of the fused head + cross-entropy's row kernels (contract in linear_cross_entropy.h). The
// CPU counts, finishes (row order, in double) and runs xent_chunk_cpu.
#include "kernels/linear_cross_entropy/linear_cross_entropy.h"

#include "core/check.h"
#include "kernels/common/dtype_switch.h"

namespace sra::kern {

void xent_count_kept(Device d, int64_t* kept, const int64_t* t, int64_t n, int64_t ignore_index) {
  if (d.is_cuda()) return xent_count_kept_cuda(kept, t, n, ignore_index, d.index);
  int64_t k = 0;
  for (int64_t r = 0; r < n; ++r) k += t[r] != ignore_index ? 1 : 0;
  *kept = k;
}

void xent_chunk(Device d, const XentChunkArgs& a) {
  if (a.rows == 0) return;
  SRA_ASSERT(a.v > 0, "xent_chunk with no classes");
  if (d.is_cuda()) return xent_chunk_cuda(a, d.index);
  for_float(a.dtype, "linear_cross_entropy", "cpu", [&](auto tag) { xent_chunk_cpu<decltype(tag)>(a); });
}

void xent_finish(Device d, DType dtype, void* loss, const double* row_loss, const int64_t* kept, int64_t n) {
  if (d.is_cuda()) return xent_finish_cuda(dtype, loss, row_loss, kept, n, d.index);
  for_float(dtype, "linear_cross_entropy", "cpu", [&](auto tag) {
    using T = decltype(tag);
    double total = 0;
    for (int64_t r = 0; r < n; ++r) total += row_loss[r];
    *static_cast<T*>(loss) = T(*kept > 0 ? total / double(*kept) : 0.0);
  });
}

}  // namespace sra::kern
