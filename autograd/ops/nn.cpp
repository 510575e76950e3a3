// Layers (math in kernels/embedding, kernels/rmsnorm, kernels/rope, kernels/dropout).
//   embedding(weight (V, C), ids (…))   out (…, C) = weight[ids]; gw = Σ over positions of g rows, by id
//   rmsnorm(x (…, C), w (C), eps)        y = x·r·w, r = 1/√(mean(x²) + eps)
//                                        gx = r·(gy·w) − x·r³·mean(gy·w·x);  gw = Σ_rows gy·x·r
//   rope(x (B, H, T, D), pos (T)|(B, T)) y = x·cos + rotate_half(x)·sin, angle = pos·theta^(−2i/D)
//                                        gx = the rotation by −angle applied to gy
//   dropout(x, p, gen, training)         y = x·mask/(1 − p), mask[i] = (u_i ≥ p) from Philox counters
//                                        gen.reserve(numel) onwards; gx = gy·mask/(1 − p); identity when
//                                        !training or p = 0
// Index inputs (ids, positions) are i64 or i32 and get no gradient.
#include "autograd/ops/common.h"
#include "kernels/dropout/dropout.h"
#include "kernels/embedding/embedding.h"
#include "kernels/rmsnorm/rmsnorm.h"
#include "kernels/rope/rope.h"

namespace sra {

using detail::dense;
using detail::dispatch_float;

namespace {

}  // namespace

Tensor embedding(const Tensor& weight, const Tensor& ids) {
  detail::require_float("embedding", weight, "weight");
  detail::require_index("embedding", ids, "ids");
  detail::require_cpu("embedding", {&weight, &ids});
  SRA_CHECK(weight.dim() == 2, "[embedding] weight must be (V, C), got shape ", shape_str(weight.shape()));
  int64_t v = weight.size(0), c = weight.size(1), n = ids.numel();
  Tensor idx = dense(cast(ids, DType::i64));
  const int64_t* ip = idx.data<int64_t>();
  for (int64_t j = 0; j < n; ++j) {
    if (ip[j] >= 0 && ip[j] < v) continue;
    Shape pos(static_cast<size_t>(ids.dim()));
    int64_t rest = j;
    for (int64_t d = ids.dim() - 1; d >= 0; --d) {
      pos[d] = rest % ids.size(d);
      rest /= ids.size(d);
    }
    SRA_CHECK(false, "[embedding] id ", ip[j], " at position ", shape_str(pos), " is out of range [0, ", v,
              ") for weight ", shape_str(weight.shape()));
  }
  Tensor wc = dense(weight);
  Shape os = ids.shape();
  os.push_back(c);
  Tensor out = Tensor::empty(os, weight.dtype());
  dispatch_float(weight.dtype(), "embedding", [&](auto t) {
    using T = decltype(t);
    if (out.numel() > 0) kern::embedding_cpu<T>(out.data<T>(), wc.data<T>(), ip, n, c);
  });
  if (needs_grad({weight})) {
    record("embedding", {weight, ids}, {out}, {idx},
           [idx, n, v, c](const std::vector<Tensor>& g) -> std::vector<Tensor> {
             Tensor gy = dense(g[0]);
             Tensor gw = Tensor::empty({v, c}, gy.dtype());
             dispatch_float(gy.dtype(), "embedding", [&](auto t) {
               using T = decltype(t);
               if (gw.numel() > 0)
                 kern::embedding_backward_cpu<T>(gw.data<T>(), gy.data<T>(), idx.data<int64_t>(), n, v, c);
             });
             return {gw, Tensor()};
           });
  }
  return out;
}

Tensor rmsnorm(const Tensor& x, const Tensor& weight, double eps) {
  detail::require_same_float("rmsnorm", x, weight);
  detail::require_cpu("rmsnorm", {&x, &weight});
  SRA_CHECK(x.dim() >= 1 && weight.dim() == 1 && weight.size(0) == x.size(-1), "[rmsnorm] weight shape ",
            shape_str(weight.shape()), " does not match the last dim of input ", shape_str(x.shape()));
  SRA_CHECK(eps >= 0, "[rmsnorm] eps must be >= 0, got ", eps);
  int64_t c = x.size(-1), n = c > 0 ? x.numel() / c : 0;
  Tensor xc = dense(x), wc = dense(weight);
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  Tensor rstd = Tensor::empty({n}, x.dtype());
  dispatch_float(x.dtype(), "rmsnorm", [&](auto t) {
    using T = decltype(t);
    if (y.numel() > 0)
      kern::rmsnorm_cpu<T>(y.data<T>(), rstd.data<T>(), xc.data<T>(), wc.data<T>(), n, c, eps);
  });
  if (needs_grad({x, weight})) {
    bool gx_needed = x.requires_grad(), gw_needed = weight.requires_grad();
    record("rmsnorm", {x, weight}, {y}, {xc, wc},
           [xc, wc, rstd, n, c, gx_needed, gw_needed](const std::vector<Tensor>& g) -> std::vector<Tensor> {
             Tensor gy = dense(g[0]);
             Tensor gx = gx_needed ? Tensor::empty(xc.shape(), xc.dtype()) : Tensor();
             Tensor gw = gw_needed ? Tensor::empty({c}, xc.dtype()) : Tensor();
             dispatch_float(xc.dtype(), "rmsnorm", [&](auto t) {
               using T = decltype(t);
               if (n == 0) {
                 if (gw_needed) gw.zero_();
                 return;
               }
               kern::rmsnorm_backward_cpu<T>(gx_needed ? gx.data<T>() : nullptr,
                                             gw_needed ? gw.data<T>() : nullptr, gy.data<T>(), xc.data<T>(),
                                             wc.data<T>(), rstd.data<T>(), n, c);
             });
             return {gx, gw};
           });
  }
  return y;
}

Tensor rope(const Tensor& x, const Tensor& positions, double theta) {
  detail::require_float("rope", x);
  detail::require_index("rope", positions, "positions");
  detail::require_cpu("rope", {&x, &positions});
  SRA_CHECK(x.dim() == 4 && x.size(3) % 2 == 0, "[rope] input must be (B, H, T, D) with D even, got shape ",
            shape_str(x.shape()));
  int64_t b = x.size(0), h = x.size(1), t = x.size(2), d = x.size(3);
  bool per_batch = positions.dim() == 2;
  SRA_CHECK((positions.dim() == 1 && positions.size(0) == t) ||
                (per_batch && positions.size(0) == b && positions.size(1) == t),
            "[rope] positions shape ", shape_str(positions.shape()), " does not match input ",
            shape_str(x.shape()), " (expected [", t, "] or [", b, ", ", t, "])");
  SRA_CHECK(theta > 0, "[rope] theta must be > 0, got ", theta);
  Tensor pos = dense(cast(positions, DType::i64));
  Tensor xc = dense(x);
  auto rotate = [pos, per_batch, b, h, t, d, theta](const Tensor& in, bool inverse) {
    Tensor out = Tensor::empty(in.shape(), in.dtype());
    dispatch_float(in.dtype(), "rope", [&](auto tag) {
      using T = decltype(tag);
      if (out.numel() > 0)
        kern::rope_cpu<T>(out.data<T>(), in.data<T>(), pos.data<int64_t>(), per_batch, b, h, t, d, theta,
                          inverse);
    });
    return out;
  };
  Tensor y = rotate(xc, false);
  if (needs_grad({x})) {
    record("rope", {x, positions}, {y}, {pos}, [rotate](const std::vector<Tensor>& g) -> std::vector<Tensor> {
      return {rotate(dense(g[0]), true), Tensor()};
    });
  }
  return y;
}

Tensor dropout(const Tensor& x, double p, Generator& gen, bool training) {
  detail::require_float("dropout", x);
  detail::require_cpu("dropout", {&x});
  SRA_CHECK(p >= 0 && p < 1, "[dropout] p must be in [0, 1), got ", p);
  if (!training || p == 0) return x;
  int64_t n = x.numel();
  uint64_t base = gen.reserve(uint64_t(n));
  Tensor xc = dense(x);
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  Tensor mask = Tensor::empty(x.shape(), DType::u8);
  dispatch_float(x.dtype(), "dropout", [&](auto t) {
    using T = decltype(t);
    kern::dropout_cpu<T>(y.data<T>(), mask.data<uint8_t>(), xc.data<T>(), n, p, base, gen.stream(),
                         gen.seed());
  });
  if (needs_grad({x})) {
    double scale = 1.0 / (1.0 - p);
    record("dropout", {x}, {y}, {}, [mask, scale](const std::vector<Tensor>& g) -> std::vector<Tensor> {
      Tensor gy = dense(g[0]);
      Tensor gx = Tensor::empty(gy.shape(), gy.dtype());
      dispatch_float(gy.dtype(), "dropout", [&](auto t) {
        using T = decltype(t);
        kern::dropout_apply_cpu<T>(gx.data<T>(), gy.data<T>(), mask.data<uint8_t>(), gy.numel(), scale);
      });
      return {gx};
    });
  }
  return y;
}

}  // namespace sra
