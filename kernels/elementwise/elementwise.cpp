// The elementwise dispatchers: the one switch from a device to its kernel (contracts in elementwise.h).
#include "kernels/elementwise/elementwise.h"

#include "kernels/common/dtype_switch.h"

namespace sra::kern {

void binary(Device d, const BinaryArgs& a) {
  if (d.is_cuda()) return binary_cuda(a, d.index);
  for_float(a.dtype, "binary", "cpu", [&](auto t) {
    using T = decltype(t);
    binary_cpu<T>(a.op, static_cast<T*>(a.out), static_cast<const T*>(a.a), a.a_strides,
                  static_cast<const T*>(a.b), a.b_strides, a.shape);
  });
}

void unary(Device d, const UnaryArgs& a) {
  if (d.is_cuda()) return unary_cuda(a, d.index);
  for_float(a.dtype, "unary", "cpu", [&](auto t) {
    using T = decltype(t);
    unary_cpu<T>(a.op, static_cast<T*>(a.y), static_cast<const T*>(a.x), a.n, a.p);
  });
}

void unary_backward(Device d, const UnaryBackwardArgs& a) {
  if (d.is_cuda()) return unary_backward_cuda(a, d.index);
  for_float(a.dtype, "unary_backward", "cpu", [&](auto t) {
    using T = decltype(t);
    unary_backward_cpu<T>(a.op, static_cast<T*>(a.gx), static_cast<const T*>(a.gy),
                          static_cast<const T*>(a.x), static_cast<const T*>(a.y), a.n, a.p);
  });
}

void axpy_strided(Device d, const AxpyArgs& a) {
  if (d.is_cuda()) return axpy_strided_cuda(a, d.index);
  for_float(a.dtype, "add_", "cpu", [&](auto t) {
    using T = decltype(t);
    axpy_strided_cpu<T>(static_cast<T*>(a.out), a.out_strides, static_cast<const T*>(a.b), a.b_strides,
                        a.shape, a.alpha);
  });
}

}  // namespace sra::kern
