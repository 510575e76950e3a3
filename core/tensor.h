// Tensor: a strided view (shape, strides in elements, offset in elements) over a refcounted Storage.
// A Tensor is a cheap handle (shared_ptr to TensorImpl); copies alias. Autograd identity is the
// TensorImpl: every differentiable op returns a new impl, views included.
//
// Element (i0, ..., ik) lives at storage.data + (offset + Σ i_d·stride_d)·dtype_size.
//
// Where the members are defined: core/tensor.cpp (factories, metadata, raw data, autograd flags, detach,
// to(Device), fill_, copy_, printing) needs nothing outside core/ and links on its own (the sra_core
// library). The differentiable copies and views (contiguous, clone, to(DType), view ... squeeze) are
// autograd ops, defined in autograd/ops/view.cpp; add_ and mul_ in autograd/ops/elementwise.cpp. Code that
// calls those links sra_lib.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/check.h"
#include "core/device.h"
#include "core/dtype.h"
#include "core/storage.h"

namespace sra {

using Shape = std::vector<int64_t>;

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Shape strides;
  int64_t offset = 0;
  DType dtype = DType::f32;
  bool requires_grad = false;
  bool is_leaf = true;  // false once produced by a recorded op
  uint64_t id = 0;      // unique for the process lifetime, never reused
  std::shared_ptr<TensorImpl> grad;
  TensorImpl();
};

Shape contiguous_strides(const Shape& shape);
int64_t shape_numel(const Shape& shape);
class Tensor;
// Strides that read x as `shape` under NumPy broadcasting (stride 0 on broadcast and size-1 dims);
// throws "[op] cannot broadcast X into Y" when x's shape does not broadcast to `shape`.
Shape broadcast_strides(const Tensor& x, const Shape& shape, const char* op);

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- factories (no autograd history; core/tensor.cpp) --------------------------------------
  static Tensor empty(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
  static Tensor zeros(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
  static Tensor ones(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
  static Tensor full(const Shape& shape, double value, DType dtype = DType::f32,
                     Device device = Device::cpu());
  static Tensor scalar(double value, DType dtype = DType::f32);
  static Tensor arange(int64_t n, DType dtype = DType::i64);
  template <typename T>
  static Tensor from_vector(const std::vector<T>& values, const Shape& shape);
  // A view sharing `base`'s storage with the given geometry (no checks beyond bounds).
  static Tensor make_view(const Tensor& base, const Shape& shape, const Shape& strides, int64_t offset);

  // ---- metadata (core/tensor.cpp) -------------------------------------------------------------
  bool defined() const { return impl_ != nullptr; }
  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  uint64_t id() const { return impl_->id; }
  const Shape& shape() const { return impl_->shape; }
  const Shape& strides() const { return impl_->strides; }
  int64_t dim() const { return int64_t(impl_->shape.size()); }
  int64_t size(int64_t d) const;  // negative d counts from the end
  int64_t stride(int64_t d) const;
  int64_t numel() const { return shape_numel(impl_->shape); }
  int64_t offset() const { return impl_->offset; }
  DType dtype() const { return impl_->dtype; }
  Device device() const { return impl_->storage->device; }
  const std::shared_ptr<Storage>& storage() const { return impl_->storage; }
  bool is_contiguous() const;

  // ---- raw data (CPU; core/tensor.cpp) --------------------------------------------------------
  template <typename T>
  T* data() const;      // checks dtype and device; points at element 0 of this view
  void* raw() const;    // any dtype, any device
  double item() const;  // one-element tensor → double
  template <typename T>
  std::vector<T> to_vector() const;  // contiguous copy of the elements, converted to T

  // ---- autograd flags (core/tensor.cpp) -------------------------------------------------------
  bool requires_grad() const { return impl_->requires_grad; }
  Tensor& set_requires_grad(bool on);  // leaves only; floating dtypes only
  bool is_leaf() const { return impl_->is_leaf; }
  Tensor grad() const { return Tensor(impl_->grad); }
  void set_grad(const Tensor& g) { impl_->grad = g.impl_; }
  void zero_grad() { impl_->grad.reset(); }
  uint64_t version() const { return impl_->storage->version.load(); }
  void bump_version() const { impl_->storage->version.fetch_add(1); }
  Tensor detach() const;  // same storage and geometry, no history, requires_grad false

  // ---- copies and conversions ----------------------------------------------------------------
  // differentiable (autograd/ops/view.cpp)
  Tensor contiguous() const;
  Tensor clone() const;
  Tensor to(DType dtype) const;
  // not recorded (core/tensor.cpp): the same tensor when already on `device`, else a contiguous copy
  Tensor to(Device device) const;

  // ---- views (differentiable, no copy; autograd/ops/view.cpp) --------------------------------
  Tensor view(const Shape& shape) const;     // contiguous input; one -1 allowed
  Tensor reshape(const Shape& shape) const;  // view when possible, else copy
  Tensor transpose(int64_t d0, int64_t d1) const;
  Tensor permute(const std::vector<int64_t>& dims) const;
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor slice(int64_t dim, int64_t start, int64_t end, int64_t step = 1) const;
  Tensor expand(const Shape& shape) const;
  Tensor unsqueeze(int64_t dim) const;
  Tensor squeeze(int64_t dim) const;

  // ---- in place (not recorded; bump the version) ----------------------------------------------
  // core/tensor.cpp
  Tensor& fill_(double value);
  Tensor& zero_() { return fill_(0.0); }
  Tensor& copy_(const Tensor& src);  // broadcast src into this, converting dtype
  // autograd/ops/elementwise.cpp
  Tensor& add_(const Tensor& other, double alpha = 1.0);  // this += alpha·other (broadcast)
  Tensor& mul_(double s);

  std::string str(int64_t max_per_dim = 6) const;  // readable printing for debugging (core/tensor.cpp)

 private:
  std::shared_ptr<TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

// Normalises a possibly negative dimension index against `ndim`; throws "[op] dim d out of range".
int64_t wrap_dim(int64_t d, int64_t ndim, const char* op);

}  // namespace sra
