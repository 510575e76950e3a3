// Layers (math in kernels/embedding, kernels/rmsnorm, kernels/rope, kernels/dropout).
//   embedding(weight (V, C), ids (…))   out (…, C) = weight[ids]; gw = Σ over positions of g rows, by id
//   rmsnorm(x (…, C), w (C), eps)        y = x·r·w, r = 1/√(mean(x²) + eps)
//                                        gx = r·(gy·w) − x·r³·mean(gy·w·x);  gw = Σ_rows gy·x·r
//   rope(x (B, H, T, D), pos (T)|(B, T)) y = x·cos + rotate_half(x)·sin, angle = pos·theta^(−2i/D)
//                                        gx = the rotation by −angle applied to gy
//   dropout(x, p, gen, training)         y = x·mask/(1 − p), mask[i] = (u_i ≥ p) from Philox counters
//                                        gen.reserve(numel) onwards; gx = gy·mask/(1 − p); identity when
//                                        !training or p = 0
// Index inputs (ids, positions) are i64 or i32 and get no gradient. Every op runs on its inputs' device
// (they must share one): outputs, saved tensors and kernel scratch are allocated there and the kernels
// are reached through their dispatchers. Embedding ids are range-checked on the host on the CPU only
// (kernels/embedding/embedding.h says where CUDA ids are validated).

#include "autograd/autocast.h"
#include "autograd/ops/common.h"
#include "kernels/dropout/dropout.h"
#include "kernels/embedding/embedding.h"
#include "kernels/rmsnorm/rmsnorm.h"
#include "kernels/rope/rope.h"

namespace sra {

using detail::bf16_copy_buffer;
using detail::dense;
using detail::empty_in_order;
using detail::memory_order;
using detail::ptr;

namespace {

// Throws naming the first position of ids (i64, contiguous, on the CPU) outside [0, v).
void check_ids(const Tensor& ids, const Tensor& idx, const Tensor& weight) {
  int64_t v = weight.size(0), n = idx.numel();
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
}

}  // namespace

Tensor embedding(const Tensor& weight, const Tensor& ids) {
  detail::require_float("embedding", weight, "weight");
  detail::require_index("embedding", ids, "ids");
  detail::require_same_device("embedding", {&weight, &ids});
  SRA_CHECK(weight.dim() == 2, "[embedding] weight must be (V, C), got shape ", shape_str(weight.shape()));
  int64_t v = weight.size(0), c = weight.size(1), n = ids.numel();
  Device dev = weight.device();
  Tensor idx = dense(cast(ids, DType::i64));
  if (dev.is_cpu()) check_ids(ids, idx, weight);  // CUDA: no host read (kernels/embedding/embedding.h)
  Tensor wc = dense(weight);
  Shape os = ids.shape();
  os.push_back(c);
  Tensor out = Tensor::empty(os, weight.dtype(), dev);
  kern::embedding(dev,
                  {weight.dtype(), out.raw(), wc.raw(), static_cast<const int64_t*>(idx.raw()), n, v, c});
  if (needs_grad({weight})) {
    record("embedding", {weight, ids}, {out}, {idx},
           [idx, n, v, c, dev](const std::vector<Tensor>& g) -> std::vector<Tensor> {
             Tensor gy = dense(g[0]);
             Tensor gw = Tensor::empty({v, c}, gy.dtype(), dev);
             detail::Scratch scratch(kern::embedding_backward_scratch_bytes(dev, n, v), dev);
             kern::embedding_backward(
                 dev, {gy.dtype(), gw.raw(), gy.raw(), static_cast<const int64_t*>(idx.raw()), n, v, c,
                       scratch.data(), scratch.size()});
             return {gw, Tensor()};
           });
  }
  return out;
}

Tensor rmsnorm(const Tensor& x, const Tensor& weight, double eps) {
  detail::require_same_float("rmsnorm", x, weight);
  detail::require_same_device("rmsnorm", {&x, &weight});
  SRA_CHECK(x.dim() >= 1 && weight.dim() == 1 && weight.size(0) == x.size(-1), "[rmsnorm] weight shape ",
            shape_str(weight.shape()), " does not match the last dim of input ", shape_str(x.shape()));
  SRA_CHECK(eps >= 0, "[rmsnorm] eps must be >= 0, got ", eps);
  int64_t c = x.size(-1), n = c > 0 ? x.numel() / c : 0;
  Device dev = x.device();
  Tensor xc = dense(x), wc = dense(weight);
  Tensor y = Tensor::empty(x.shape(), x.dtype(), dev);
  Tensor rstd = Tensor::empty({n}, x.dtype(), dev);
  Tensor y16 = bf16_copy_buffer(y);
  kern::rmsnorm(dev, {x.dtype(), y.raw(), rstd.raw(), xc.raw(), wc.raw(), n, c, eps, ptr(y16)});
  if (y16.defined()) autocast_keep_bf16(y, y16);
  if (needs_grad({x, weight})) {
    bool gx_needed = x.requires_grad(), gw_needed = weight.requires_grad();
    record(
        "rmsnorm", {x, weight}, {y}, {xc, wc},
        [xc, wc, rstd, n, c, dev, gx_needed, gw_needed](const std::vector<Tensor>& g) -> std::vector<Tensor> {
          Tensor gy = dense(g[0]);
          Tensor gx = gx_needed ? Tensor::empty(xc.shape(), xc.dtype(), dev) : Tensor();
          Tensor gw = gw_needed ? Tensor::empty({c}, xc.dtype(), dev) : Tensor();
          detail::Scratch scratch(gw_needed ? kern::rmsnorm_backward_scratch_bytes(dev, n, c) : 0, dev);
          kern::rmsnorm_backward(dev, {xc.dtype(), ptr(gx), ptr(gw), gy.raw(), xc.raw(), wc.raw(), rstd.raw(),
                                       n, c, scratch.data(), scratch.size()});
          return {gx, gw};
        });
  }
  return y;
}

Tensor rope(const Tensor& x, const Tensor& positions, double theta, const kern::RopeScaling& scaling) {
  detail::require_float("rope", x);
  detail::require_index("rope", positions, "positions");
  detail::require_same_device("rope", {&x, &positions});
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
  // x is read in place when its last dim is contiguous (the q/k head split of a projection is a transposed
  // view); the output is dense (B, H, T, D) and, under bf16 autocast, comes with its bf16 copy (the
  // attention's operand). The backward writes gx in x's memory order, so that the transpose back to the
  // projection's (B, T, H, D) layout is free.
  Tensor xs = x.stride(3) == 1 || d <= 1 ? x : dense(x);
  auto rotate = [pos, per_batch, b, h, t, d, theta, scaling](const Tensor& in, const Tensor& out,
                                                             bool inverse, const Tensor& out16) {
    kern::rope(in.device(), {in.dtype(),
                             out.raw(),
                             in.raw(),
                             static_cast<const int64_t*>(pos.raw()),
                             per_batch,
                             b,
                             h,
                             t,
                             d,
                             theta,
                             inverse,
                             {in.stride(0), in.stride(1), in.stride(2)},
                             {out.stride(0), out.stride(1), out.stride(2)},
                             ptr(out16),
                             scaling});
  };
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  Tensor y16 = bf16_copy_buffer(y);
  rotate(xs, y, false, y16);
  if (y16.defined()) autocast_keep_bf16(y, y16);
  if (needs_grad({x})) {
    const Shape x_strides = xs.strides();
    record("rope", {x, positions}, {y}, {pos},
           [rotate, x_strides](const std::vector<Tensor>& g) -> std::vector<Tensor> {
             Tensor gy = g[0].stride(3) == 1 || g[0].size(3) <= 1 ? g[0] : dense(g[0]);
             Tensor gx = empty_in_order(gy.shape(), x_strides, gy.dtype(), gy.device());
             // Under bf16 autocast the projection's backward GEMM reads gx in its memory order — the
             // (B, T, H, D) layout when x was the head split — in bf16: the kernel writes that copy too.
             // The cache entry is the memory-order view (contiguous), which the GEMM's operand is.
             const std::vector<int64_t> order = memory_order(gx.strides());
             Tensor gx_mem = gx.permute(order);
             Tensor g16 = gx_mem.is_contiguous() && autocast_keeps_bf16(gx_mem)
                              ? empty_in_order(gx.shape(), gx.strides(), DType::bf16, gx.device())
                              : Tensor();
             rotate(gy, gx, true, g16);
             if (g16.defined()) autocast_keep_bf16(gx_mem, g16.permute(order));
             return {gx, Tensor()};
           });
  }
  return y;
}

Tensor dropout(const Tensor& x, double p, Generator& gen, bool training) {
  detail::require_float("dropout", x);
  SRA_CHECK(p >= 0 && p < 1, "[dropout] p must be in [0, 1), got ", p);
  if (!training || p == 0) return x;
  int64_t n = x.numel();
  Device dev = x.device();
  uint64_t base = gen.reserve(uint64_t(n));
  Tensor xc = dense(x);
  Tensor y = Tensor::empty(x.shape(), x.dtype(), dev);
  Tensor mask = Tensor::empty(x.shape(), DType::u8, dev);
  kern::dropout(dev, {x.dtype(), y.raw(), static_cast<uint8_t*>(mask.raw()), xc.raw(), n, p, base,
                      gen.stream(), gen.seed()});
  if (needs_grad({x})) {
    double scale = 1.0 / (1.0 - p);
    record("dropout", {x}, {y}, {}, [mask, scale](const std::vector<Tensor>& g) -> std::vector<Tensor> {
      Tensor gy = dense(g[0]);
      Tensor gx = Tensor::empty(gy.shape(), gy.dtype(), gy.device());
      kern::dropout_apply(gy.device(), {gy.dtype(), gx.raw(), gy.raw(),
                                        static_cast<const uint8_t*>(mask.raw()), gy.numel(), scale});
      return {gx};
    });
  }
  return y;
}

}  // namespace sra
