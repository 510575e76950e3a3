// Autocast state and the bf16 cast cache (contract in autocast.h).
#include "autograd/autocast.h"

#include <memory>
#include <vector>

#include "autograd/ops.h"
#include "autograd/ops/common.h"

namespace sra {

namespace {

struct CastEntry {
  const Storage* storage = nullptr;  // the source's storage: its identity while `source` is alive
  std::weak_ptr<Storage> source;
  int64_t offset = 0;
  Shape shape, strides;
  uint64_t version = 0;
  bool contiguous = false;  // the source was contiguous: any contiguous view of its elements matches
  // The bf16 copy, by its storage: alive while any view of it is (the tape usually holds a reshaped view,
  // e.g. matmul's folded (B·T, C) operand, not the copy's own handle), rebuilt from these on a hit.
  std::weak_ptr<Storage> copy;
  int64_t copy_offset = 0;
  Shape copy_shape, copy_strides;
  Tensor held;  // a kept copy (autocast_keep_bf16): held until its first use, then weak like the rest
  bool kept = false;
};

CastEntry make_entry(const Tensor& x, bool contiguous, const Tensor& copy, Tensor held) {
  const bool kept = held.defined();
  return {x.storage().get(),
          x.storage(),
          x.offset(),
          x.shape(),
          x.strides(),
          x.version(),
          contiguous,
          copy.storage(),
          copy.offset(),
          copy.shape(),
          copy.strides(),
          std::move(held),
          kept};
}

// A new handle on the entry's copy (its storage kept alive by `s`).
Tensor copy_view(const CastEntry& e, std::shared_ptr<Storage> s) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::move(s);
  impl->shape = e.copy_shape;
  impl->strides = e.copy_strides;
  impl->offset = e.copy_offset;
  impl->dtype = DType::bf16;
  return Tensor(std::move(impl));
}

thread_local DType t_autocast = DType::f32;
thread_local int t_guards = 0;
thread_local std::vector<CastEntry> t_cache;
thread_local AutocastStats t_stats;

bool same_elements(const CastEntry& e, const Tensor& x) {
  if (e.storage != x.storage().get() || e.offset != x.offset() || e.version != x.version()) return false;
  if (e.shape == x.shape() && e.strides == x.strides()) return true;
  return e.contiguous && x.is_contiguous() && shape_numel(e.shape) == x.numel();
}

// A live copy of x's elements from the cache, or an undefined tensor; drops expired entries on the way.
Tensor cache_find(const Tensor& x) {
  for (size_t i = 0; i < t_cache.size();) {
    CastEntry& e = t_cache[i];
    std::shared_ptr<Storage> copy = e.copy.lock();
    if (!copy || e.source.expired()) {
      e = std::move(t_cache.back());
      t_cache.pop_back();
      continue;
    }
    if (same_elements(e, x)) {
      e.held = Tensor();
      ++t_stats.hits;
      if (e.kept) ++t_stats.kept_hits;
      Tensor hit = copy_view(e, std::move(copy));
      return hit.shape() == x.shape() ? hit : hit.reshape(x.shape());
    }
    ++i;
  }
  return Tensor();
}

// x in bf16: when x is a permutation of a dense layout, the copy is made in x's memory order and viewed
// back through the same permutation; otherwise contiguous.
Tensor bf16_copy(const Tensor& x) {
  Tensor xd = x.detach();
  const std::vector<int64_t> order = detail::memory_order(x.strides());
  Tensor p = permute(xd, order);
  if (!p.is_contiguous()) return cast(xd, DType::bf16);
  return permute(cast(p, DType::bf16), detail::inverse_permutation(order));
}

}  // namespace

DType autocast_dtype() {
  return t_autocast;
}

AutocastGuard::AutocastGuard(DType dtype) : prev_(t_autocast) {
  SRA_CHECK(dtype == DType::bf16 || dtype == DType::f32, "[autocast] dtype must be bf16 or f32, got ",
            dtype_name(dtype));
  t_autocast = dtype;
  ++t_guards;
}

AutocastGuard::~AutocastGuard() {
  t_autocast = prev_;
  if (--t_guards == 0) t_cache.clear();
}

AutocastStats autocast_stats() {
  return t_stats;
}

Tensor autocast_bf16_operand(const Tensor& x) {
  if (x.dtype() == DType::bf16) return x;  // already rounded (a frozen bf16 weight): nothing to cast
  SRA_ASSERT(x.dtype() == DType::f32, "autocast operand of dtype ", dtype_name(x.dtype()));
  if (Tensor hit = t_guards > 0 ? cache_find(x) : Tensor(); hit.defined()) return hit;
  ++t_stats.casts;
  if (t_guards == 0) return bf16_copy(x);
  Tensor copy = bf16_copy(x);
  t_cache.push_back(make_entry(x, x.is_contiguous(), copy, Tensor()));
  return copy;
}

Tensor autocast_dense_bf16(const Tensor& x) {
  if (x.is_contiguous()) return autocast_bf16_operand(x);
  NoGradGuard g;
  return cast(x.detach(), DType::bf16);  // one strided copy with the conversion, dense result
}

Tensor autocast_find_bf16(const Tensor& x) {
  return t_guards > 0 && x.dtype() == DType::f32 ? cache_find(x) : Tensor();
}

bool autocast_keeps_bf16(const Tensor& x) {
  return t_guards > 0 && t_autocast == DType::bf16 && x.dtype() == DType::f32;
}

void autocast_keep_bf16(const Tensor& x, const Tensor& x16) {
  SRA_ASSERT(autocast_keeps_bf16(x) && x16.dtype() == DType::bf16 && x16.shape() == x.shape() &&
                 x.is_contiguous() && x16.is_contiguous(),
             "autocast_keep_bf16 of ", shape_str(x.shape()), " ", dtype_name(x.dtype()));
  // entries whose source is gone (a kept copy never read, e.g. a decode step's) are dropped here
  std::erase_if(t_cache, [](const CastEntry& e) { return e.source.expired() || e.copy.expired(); });
  t_cache.push_back(make_entry(x, true, x16, x16));
}

}  // namespace sra
