// Rank-order sums for the host-side collectives: see core/dist/rank_sum.h.
#include "core/dist/rank_sum.h"

#include <cstring>

#include "core/check.h"

namespace sra::dist {

RankSum::RankSum(int64_t n, DType dtype)
    : n_(n),
      dtype_(dtype),
      acc64_(dtype == DType::f64 ? size_t(n) : 0, 0.0),
      acc32_(dtype == DType::f64 ? 0 : size_t(n), 0.0f) {}

void RankSum::add(const void* x) {
  if (dtype_ == DType::f64) {
    const double* p = static_cast<const double*>(x);
    for (int64_t i = 0; i < n_; ++i) acc64_[size_t(i)] += p[i];
  } else if (dtype_ == DType::f32) {
    const float* p = static_cast<const float*>(x);
    for (int64_t i = 0; i < n_; ++i) acc32_[size_t(i)] += p[i];
  } else {
    const bf16* p = static_cast<const bf16*>(x);
    for (int64_t i = 0; i < n_; ++i) acc32_[size_t(i)] += float(p[i]);
  }
}

void RankSum::write(void* out) const {
  if (dtype_ == DType::f64) {
    std::memcpy(out, acc64_.data(), size_t(n_) * sizeof(double));
  } else if (dtype_ == DType::f32) {
    std::memcpy(out, acc32_.data(), size_t(n_) * sizeof(float));
  } else {
    bf16* p = static_cast<bf16*>(out);
    for (int64_t i = 0; i < n_; ++i) p[i] = bf16(acc32_[size_t(i)]);
  }
}

void check_host_operand(const Tensor& t, const char* op, int world, bool chunked, const std::string& what) {
  if (!chunked) {
    SRA_CHECK(t.is_contiguous() && is_floating(t.dtype()), "[dist] ", op, " (", what,
              "): needs a contiguous f32, bf16 or f64 tensor");
    return;
  }
  SRA_CHECK(t.is_contiguous() && is_floating(t.dtype()) && t.numel() % world == 0, "[dist] ", op, " (", what,
            "): needs a contiguous f32, bf16 or f64 tensor of world size (", world, ") equal chunks, got ",
            t.numel(), " elements");
}

const char* op_name(uint64_t op) {
  return op == kAllReduce       ? "all_reduce"
         : op == kBroadcast     ? "broadcast"
         : op == kGather        ? "all_gather"
         : op == kReduceScatter ? "reduce_scatter"
         : op == kGatherChunks  ? "all_gather_chunks"
                                : "?";
}

}  // namespace sra::dist
