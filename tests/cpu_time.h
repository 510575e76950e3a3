// CPU time of this process (all its threads), for tests that bound how much work a call may take.
// Wall time is not used: on a loaded machine (2 cores shared by several jobs) a call can wait for a
// core for seconds, while the CPU time it uses stays what its work costs. A test that guards against a
// hang or a blow-up (quadratic scans, runaway recursion, a T×T buffer) bounds this instead.
#pragma once
#include <time.h>

namespace sra::testing {

inline double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

}  // namespace sra::testing
