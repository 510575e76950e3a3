// CUDA entry points of a build without CUDA (SRA_CUDA=OFF or no nvcc): nothing is available and every
// call that would touch a GPU throws.
#include "core/check.h"
#include "core/cuda_runtime.h"

namespace sra::cuda {

namespace {
[[noreturn]] void no_cuda(const char* what) {
  throw Error(std::string("[cuda] ") + what + ": SRA was built without CUDA (configure with -DSRA_CUDA=ON)");
}
}  // namespace

bool built_with_cuda() {
  return false;
}
int device_count() {
  return 0;
}
bool available() {
  return false;
}
std::string device_name(int) {
  no_cuda("device_name");
}
Stream current_stream(int) {
  no_cuda("current_stream");
}
void synchronize(int) {
  no_cuda("synchronize");
}
void* malloc(size_t, int) {
  no_cuda("malloc");
}
void free(void*, int) {
  no_cuda("free");
}
void empty_cache(int) {
  no_cuda("empty_cache");
}
Stats stats(int) {
  no_cuda("stats");
}
void reset_peak(int) {
  no_cuda("reset_peak");
}
size_t size_class(size_t) {
  no_cuda("size_class");
}
void memcpy_h2d(void*, const void*, size_t, int) {
  no_cuda("memcpy");
}
void memcpy_d2h(void*, const void*, size_t, int) {
  no_cuda("memcpy");
}
void memcpy_h2d_staged(void*, const void*, size_t, int) {
  no_cuda("memcpy");
}
void memcpy_d2d(void*, const void*, size_t, int) {
  no_cuda("memcpy");
}
void memset_zero(void*, size_t, int) {
  no_cuda("memset");
}
void check_launch(const char*, int) {
  no_cuda("launch");
}
void copy_strided(void*, DType, const std::vector<int64_t>&, const void*, DType, const std::vector<int64_t>&,
                  const std::vector<int64_t>&, int) {
  no_cuda("copy");
}
void fill_strided(void*, DType, const std::vector<int64_t>&, const std::vector<int64_t>&, double, int) {
  no_cuda("fill");
}
void copy_many(const std::vector<CopyPair>&, size_t, int) {
  no_cuda("copy_many");
}
bool sync_each_op() {
  return false;
}

void profiler_start(int) {
  no_cuda("profiler_start");
}
void profiler_stop(int) {
  no_cuda("profiler_stop");
}

EventTimer::EventTimer(int device) : device_(device) {
  no_cuda("EventTimer");
}
EventTimer::~EventTimer() = default;
void EventTimer::start() {
  no_cuda("EventTimer");
}
void EventTimer::stop() {
  no_cuda("EventTimer");
}
double EventTimer::elapsed_ms() {
  no_cuda("EventTimer");
}

}  // namespace sra::cuda
