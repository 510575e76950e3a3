#include "core/parallel.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>

namespace sra {

int num_threads() {
  return omp_get_max_threads();
}

void set_num_threads(int n) {
  n = std::max(1, n);
  omp_set_num_threads(n);
}

namespace {

std::atomic<bool> g_recording{false};
std::mutex g_stats_mutex;
std::map<std::string, ParallelSiteStats> g_stats;

void record(const std::source_location& site, bool split) {
  std::string name = site.file_name();
  for (const char* root : {"/core/", "/kernels/", "/autograd/", "/model/"}) {
    size_t at = name.rfind(root);
    if (at != std::string::npos) {
      name = name.substr(at + 1);
      break;
    }
  }
  name += ':';  // (two appends: GCC 12 warns -Wrestrict, falsely, on ":" + std::string&&)
  name += std::to_string(site.line());
  std::lock_guard<std::mutex> lock(g_stats_mutex);
  ParallelSiteStats& s = g_stats[name];
  s.site = name;
  ++s.calls;
  s.split += split ? 1 : 0;
}

}  // namespace

void parallel_stats_begin() {
  std::lock_guard<std::mutex> lock(g_stats_mutex);
  g_stats.clear();
  g_recording.store(true);
}

std::vector<ParallelSiteStats> parallel_stats_end() {
  g_recording.store(false);
  std::lock_guard<std::mutex> lock(g_stats_mutex);
  std::vector<ParallelSiteStats> out;
  for (const auto& [name, s] : g_stats) out.push_back(s);
  return out;
}

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn,
                  std::source_location site) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  int64_t threads = num_threads();
  const bool inline_run = threads <= 1 || n <= grain || omp_in_parallel();
  if (g_recording.load(std::memory_order_relaxed)) record(site, !inline_run);
  if (inline_run) {
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
