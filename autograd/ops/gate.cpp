// straight_through(hard, soft): y = hard (values), ∂L/∂soft = ∂L/∂y (identity), hard gets no gradient.
// Used for the router's gate: the forward pass sees the hard 0/1 decision, the backward pass the
// gradient of the soft Gumbel-sigmoid gate.
#include "autograd/ops/common.h"

namespace sra {

Tensor straight_through(const Tensor& hard, const Tensor& soft) {
  detail::require_same_float("straight_through", hard, soft);
  SRA_CHECK(hard.shape() == soft.shape(), "[straight_through] shapes ", shape_str(hard.shape()), " and ",
            shape_str(soft.shape()), " differ");
  Tensor out = hard.detach().clone();
  if (needs_grad({soft})) {
    record("straight_through", {hard, soft}, {out}, {},
           [](const std::vector<Tensor>& g) -> std::vector<Tensor> {
             return {Tensor(), g[0]};
           });
  }
  return out;
}

}  // namespace sra
