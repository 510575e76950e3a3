// parallel_for(n, grain, fn): runs fn(begin, end) over disjoint chunks of [0, n) on the OpenMP pool.
// Every index is handled by exactly one call and a kernel writes only the outputs of its own indices,
// so results never depend on the thread count. Reductions that span chunks must combine per-chunk
// partials in a fixed order (see chunked_sum in kernels/common/strided.h).
#pragma once
#include <cstdint>
#include <functional>

namespace sra {

int num_threads();
void set_num_threads(int n);
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace sra
