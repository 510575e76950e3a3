// Built without NCCL (SRA_NCCL off, no CUDA, or no nccl.h found): built() is false, the rest throw.
#include "core/check.h"
#include "core/dist/nccl.h"

namespace sra::dist::nccl {

namespace {
[[noreturn]] void missing() {
  throw Error(
      "[dist] distributed.backend nccl: this sra was built without NCCL (CUDA off or nccl.h not found; "
      "see docs/distributed.md)");
}
}  // namespace

bool built() {
  return false;
}
std::string unique_id() {
  missing();
}
Comm* init(const std::string&, int, int, int, double) {
  missing();
}
void destroy(Comm*) {}
void all_reduce_sum(Comm*, void*, size_t, int, const std::string&) {
  missing();
}
void broadcast(Comm*, void*, size_t, const std::string&) {
  missing();
}
void all_reduce_sum_async(Comm*, void*, size_t, int, const std::string&) {
  missing();
}
void all_reduce_group_async(Comm*, const std::vector<void*>&, const std::vector<size_t>&, int, bool,
                            const std::string&) {
  missing();
}
void wait_async(Comm*) {
  missing();
}
void reduce_scatter_sum(Comm*, void*, size_t, int, const std::string&) {
  missing();
}
void all_gather_chunks(Comm*, void*, size_t, const std::string&) {
  missing();
}

}  // namespace sra::dist::nccl
