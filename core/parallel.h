// parallel_for(n, grain, fn): runs fn(begin, end) over disjoint chunks of [0, n) on the OpenMP pool.
// Every index is handled by exactly one call and a kernel writes only the outputs of its own indices,
// so results never depend on the thread count. Reductions that span chunks must combine per-chunk
// partials in a fixed order (see sum_cpu in kernels/reduce/reduce_cpu.cpp).
// grain_for(item_work, task_work): the grain that gives tasks of about task_work elementary steps when
// each index costs item_work (at least 1), so that small problems run inline.
// Loop statistics (for tests that must prove their problem sizes split the work): between
// parallel_stats_begin() and parallel_stats_end(), every parallel_for call records its call site
// ("file:line") and whether it ran as more than one chunk; off (one relaxed atomic load per call) otherwise.
#pragma once
#include <algorithm>
#include <cstdint>
#include <functional>
#include <source_location>
#include <string>
#include <vector>

namespace sra {

int num_threads();
void set_num_threads(int n);
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn,
                  std::source_location site = std::source_location::current());

struct ParallelSiteStats {
  std::string site;   // "kernels/matmul/matmul_cpu.cpp:58" (path from the source root when known)
  int64_t calls = 0;  // parallel_for calls from this site
  int64_t split = 0;  // of which ran as more than one chunk
};
void parallel_stats_begin();                          // clears the statistics and starts recording
std::vector<ParallelSiteStats> parallel_stats_end();  // stops recording; sites sorted by name

inline int64_t grain_for(int64_t item_work, int64_t task_work) {
  return std::max<int64_t>(1, task_work / std::max<int64_t>(item_work, 1));
}

}  // namespace sra
