#include "core/tensor.h"

#include <atomic>
#include <cmath>
#include <cstring>
#include <iomanip>
#include <sstream>

#include "core/cuda_runtime.h"
#include "core/strided_copy.h"

namespace sra {

namespace {
std::atomic<uint64_t> g_next_id{1};
}

TensorImpl::TensorImpl() : id(g_next_id.fetch_add(1)) {}

Shape contiguous_strides(const Shape& shape) {
  Shape st(shape.size());
  int64_t s = 1;
  for (int64_t d = int64_t(shape.size()) - 1; d >= 0; --d) {
    st[d] = s;
    s *= std::max<int64_t>(shape[d], 1);
  }
  return st;
}

int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

Shape broadcast_strides(const Tensor& x, const Shape& shape, const char* op) {
  SRA_CHECK(x.dim() <= int64_t(shape.size()), "[", op, "] cannot broadcast ", shape_str(x.shape()), " into ",
            shape_str(shape));
  Shape st(shape.size(), 0);
  size_t lead = shape.size() - size_t(x.dim());
  for (size_t i = 0; i < size_t(x.dim()); ++i) {
    int64_t s = x.size(int64_t(i));
    SRA_CHECK(s == shape[lead + i] || s == 1, "[", op, "] cannot broadcast ", shape_str(x.shape()), " into ",
              shape_str(shape));
    st[lead + i] = s == 1 ? 0 : x.stride(int64_t(i));
  }
  return st;
}

namespace {
// A contiguous copy of x in `dtype` on x's device, with no autograd history.
Tensor dense_copy(const Tensor& x, DType dtype) {
  Tensor out = Tensor::empty(x.shape(), dtype, x.device());
  copy_strided(x.device(), out.raw(), dtype, out.strides(), x.raw(), x.dtype(), x.strides(), x.shape());
  return out;
}
}  // namespace

int64_t wrap_dim(int64_t d, int64_t ndim, const char* op) {
  int64_t n = std::max<int64_t>(ndim, 1);
  SRA_CHECK(d >= -n && d < n, "[", op, "] dim ", d, " out of range for a tensor of ", ndim, " dims");
  return d < 0 ? d + n : d;
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  for (int64_t s : shape) SRA_CHECK(s >= 0, "[empty] negative size in shape ", shape_str(shape));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(size_t(shape_numel(shape)) * dtype_size(dtype), device);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  if (device.is_cpu()) {
    std::memset(t.raw(), 0, t.storage()->nbytes);
  } else {
    cuda::memset_zero(t.raw(), t.storage()->nbytes, device.index);
  }
  return t;
}

Tensor Tensor::ones(const Shape& shape, DType dtype, Device device) {
  return full(shape, 1.0, dtype, device);
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.fill_(value);
  return t;
}

Tensor Tensor::scalar(double value, DType dtype) {
  return full({}, value, dtype);
}

Tensor Tensor::arange(int64_t n, DType dtype) {
  Tensor t = empty({n}, DType::f64);
  double* p = t.data<double>();
  for (int64_t i = 0; i < n; ++i) p[i] = double(i);
  return dtype == DType::f64 ? t : dense_copy(t, dtype);
}

template <typename T>
Tensor Tensor::from_vector(const std::vector<T>& values, const Shape& shape) {
  SRA_CHECK(int64_t(values.size()) == shape_numel(shape), "[from_vector] ", values.size(),
            " values do not fill shape ", shape_str(shape));
  Tensor t = empty(shape, dtype_of<T>());
  if (!values.empty()) std::memcpy(t.raw(), values.data(), values.size() * sizeof(T));
  return t;
}
template Tensor Tensor::from_vector(const std::vector<float>&, const Shape&);
template Tensor Tensor::from_vector(const std::vector<double>&, const Shape&);
template Tensor Tensor::from_vector(const std::vector<int32_t>&, const Shape&);
template Tensor Tensor::from_vector(const std::vector<int64_t>&, const Shape&);
template Tensor Tensor::from_vector(const std::vector<uint8_t>&, const Shape&);
template Tensor Tensor::from_vector(const std::vector<bf16>&, const Shape&);

Tensor Tensor::make_view(const Tensor& base, const Shape& shape, const Shape& strides, int64_t offset) {
  SRA_ASSERT(shape.size() == strides.size());
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base.storage();
  impl->shape = shape;
  impl->strides = strides;
  impl->offset = offset;
  impl->dtype = base.dtype();
  // bounds: the largest reachable element must lie inside the storage
  if (shape_numel(shape) > 0) {
    int64_t lo = offset, hi = offset;
    for (size_t d = 0; d < shape.size(); ++d) {
      int64_t span = (shape[d] - 1) * strides[d];
      (span < 0 ? lo : hi) += span;
    }
    SRA_ASSERT(lo >= 0 && size_t(hi + 1) * dtype_size(base.dtype()) <= base.storage()->nbytes,
               "view out of bounds");
  }
  return Tensor(std::move(impl));
}

int64_t Tensor::size(int64_t d) const {
  return impl_->shape[wrap_dim(d, dim(), "size")];
}
int64_t Tensor::stride(int64_t d) const {
  return impl_->strides[wrap_dim(d, dim(), "stride")];
}

bool Tensor::is_contiguous() const {
  if (numel() == 0) return true;
  int64_t expect = 1;
  for (int64_t d = dim() - 1; d >= 0; --d) {
    if (impl_->shape[d] == 1) continue;
    if (impl_->strides[d] != expect) return false;
    expect *= impl_->shape[d];
  }
  return true;
}

template <typename T>
T* Tensor::data() const {
  SRA_CHECK(defined(), "[data] undefined tensor");
  SRA_CHECK(impl_->dtype == dtype_of<T>(), "[data] tensor has dtype ", dtype_name(impl_->dtype),
            ", accessed as ", dtype_name(dtype_of<T>()));
  SRA_CHECK(device().is_cpu(), "[data] host access to a tensor on ", device().str());
  return reinterpret_cast<T*>(impl_->storage->data) + impl_->offset;
}
template float* Tensor::data<float>() const;
template double* Tensor::data<double>() const;
template bf16* Tensor::data<bf16>() const;
template int32_t* Tensor::data<int32_t>() const;
template int64_t* Tensor::data<int64_t>() const;
template uint8_t* Tensor::data<uint8_t>() const;

void* Tensor::raw() const {
  return static_cast<char*>(impl_->storage->data) + impl_->offset * int64_t(dtype_size(impl_->dtype));
}

template <typename T>
std::vector<T> Tensor::to_vector() const {
  Tensor c = to(Device::cpu());
  std::vector<T> out(static_cast<size_t>(numel()));
  copy_strided(out.data(), dtype_of<T>(), contiguous_strides(shape()), c.raw(), c.dtype(), c.strides(),
               shape());
  return out;
}
template std::vector<float> Tensor::to_vector() const;
template std::vector<double> Tensor::to_vector() const;
template std::vector<int32_t> Tensor::to_vector() const;
template std::vector<int64_t> Tensor::to_vector() const;
template std::vector<uint8_t> Tensor::to_vector() const;

double Tensor::item() const {
  SRA_CHECK(numel() == 1, "[item] tensor of shape ", shape_str(shape()), " has ", numel(),
            " elements, expected 1");
  return to_vector<double>()[0];
}

Tensor& Tensor::set_requires_grad(bool on) {
  SRA_CHECK(!on || is_floating(dtype()), "[requires_grad] only floating tensors can require grad (got ",
            dtype_name(dtype()), ")");
  SRA_CHECK(is_leaf(), "[requires_grad] can only be set on leaf tensors");
  impl_->requires_grad = on;
  return *this;
}

Tensor Tensor::detach() const {
  return make_view(*this, shape(), strides(), offset());
}

Tensor& Tensor::fill_(double value) {
  fill_strided(device(), raw(), dtype(), strides(), shape(), value);
  bump_version();
  return *this;
}

Tensor& Tensor::copy_(const Tensor& src) {
  Tensor s = src.device() == device() ? src : src.to(device());
  Shape ss = broadcast_strides(s, shape(), "copy_");
  copy_strided(device(), raw(), dtype(), strides(), s.raw(), s.dtype(), ss, shape());
  bump_version();
  return *this;
}

Tensor Tensor::to(Device d) const {
  if (d == device()) return *this;
  Tensor src = is_contiguous() ? *this : dense_copy(*this, dtype());
  Tensor out = empty(shape(), dtype(), d);
  size_t n = size_t(numel()) * dtype_size(dtype());
  if (d.is_cuda() && src.device().is_cpu()) {
    cuda::memcpy_h2d(out.raw(), src.raw(), n, d.index);
  } else if (d.is_cpu() && src.device().is_cuda()) {
    cuda::memcpy_d2h(out.raw(), src.raw(), n, src.device().index);
  } else {
    SRA_CHECK(false, "[to] copies between ", src.device().str(), " and ", d.str(), " are not supported");
  }
  return out;
}

// ---- printing ------------------------------------------------------------------------------------
namespace {
void print_rec(std::ostringstream& os, const std::vector<double>& v, const Shape& shape, size_t d,
               int64_t base, int64_t stride_after, int64_t max_per_dim, bool is_float, int indent) {
  if (shape.empty()) {
    os << v[0];
    return;
  }
  int64_t n = shape[d];
  int64_t step = 1;
  for (size_t k = d + 1; k < shape.size(); ++k) step *= shape[k];
  os << "[";
  for (int64_t i = 0; i < n; ++i) {
    if (n > max_per_dim && i == max_per_dim / 2) {
      os << (d + 1 == shape.size() ? "..., " : "...,\n" + std::string(indent + 1, ' '));
      i = n - max_per_dim / 2 - 1;
      continue;
    }
    if (d + 1 == shape.size()) {
      double x = v[base + i];
      if (is_float) {
        os << std::setprecision(4) << x;
      } else {
        os << int64_t(x);
      }
    } else {
      print_rec(os, v, shape, d + 1, base + i * step, stride_after, max_per_dim, is_float, indent + 1);
    }
    if (i + 1 < n) os << (d + 1 == shape.size() ? ", " : ",\n" + std::string(indent + 1, ' '));
  }
  os << "]";
}
}  // namespace

std::string Tensor::str(int64_t max_per_dim) const {
  if (!defined()) return "Tensor(undefined)";
  std::ostringstream os;
  os << "Tensor(shape=" << shape_str(shape()) << ", dtype=" << dtype_name(dtype())
     << ", device=" << device().str();
  if (requires_grad()) os << ", requires_grad";
  os << ")\n";
  if (device().is_cpu()) {
    std::vector<double> v = to_vector<double>();
    print_rec(os, v, shape(), 0, 0, 1, std::max<int64_t>(max_per_dim, 2), is_floating(dtype()), 0);
  } else {
    os << "<on " << device().str() << ">";
  }
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) {
  return os << t.str();
}

}  // namespace sra
