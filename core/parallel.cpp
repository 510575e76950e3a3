#include "core/parallel.h"

#include <omp.h>

#include <algorithm>

namespace sra {

int num_threads() {
  return omp_get_max_threads();
}

void set_num_threads(int n) {
  n = std::max(1, n);
  omp_set_num_threads(n);
}

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  int64_t threads = num_threads();
  if (threads <= 1 || n <= grain || omp_in_parallel()) {
    fn(0, n);
    return;
  }
  int64_t chunks = std::min<int64_t>(threads, (n + grain - 1) / grain);
#pragma omp parallel for schedule(static) num_threads(int(chunks))
  for (int64_t c = 0; c < chunks; ++c) {
    int64_t b = n * c / chunks, e = n * (c + 1) / chunks;
    if (b < e) fn(b, e);
  }
}

}  // namespace sra
