// What the host-side backends (tcp, mpi) share. RankSum: the sum every one computes at rank 0, the ranks'
// buffers added in rank order (r0 + r1 + ... in the dtype's accumulator: f32 for f32 and bf16, f64 for
// f64), then written back in the tensor's dtype — one definition, so the backends give the same bits.
// check_host_operand: their operand checks. via_host: a device tensor's collective run on a host copy.
// Op, op_name, Header: the collectives' codes and the header the ranks compare.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace sra::dist {

// The collectives' codes and the header every rank sends first (tcp on the socket, mpi in an all-gather):
// the op and its byte count, which must agree across ranks.
enum Op : uint64_t { kAllReduce = 1, kBroadcast = 2, kGather = 3, kReduceScatter = 4, kGatherChunks = 5 };
const char* op_name(uint64_t op);
struct Header {
  uint64_t op = 0, bytes = 0;
};

class RankSum {
 public:
  RankSum(int64_t n, DType dtype);
  void add(const void* x);      // the next rank's n elements of dtype
  void write(void* out) const;  // the sum, as n elements of dtype

 private:
  int64_t n_;
  DType dtype_;
  std::vector<double> acc64_;
  std::vector<float> acc32_;
};

// A contiguous f32, bf16 or f64 tensor (all_reduce, broadcast), of `world` equal chunks when `chunked`
// (reduce_scatter, all_gather_chunks); else "[dist] OP (what): needs ..." errors.
void check_host_operand(const Tensor& t, const char* op, int world, bool chunked, const std::string& what);

// For a tensor on a GPU: f(host copy), then the copy written back; returns whether it did (the caller then
// returns). Host tensors are left to the caller.
template <typename F>
bool via_host(Tensor& t, F&& f) {
  if (!t.device().is_cuda()) return false;
  Tensor host = t.to(Device::cpu());
  f(host);
  t.copy_(host);
  return true;
}

}  // namespace sra::dist
