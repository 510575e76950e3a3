// matmul: (…, M, K) @ (…, K, N) → (…, M, N), batch dims broadcast. linear: x · wᵀ (+ bias).
// Backward: dA = dC · Bᵀ, dB = Aᵀ · dC (summed over broadcast batch dims). Transposed operands are
// passed to BLAS as transposes, not copied. A (…, M, K) @ B (K, N) folds the batch into M.
#include "kernels/matmul/matmul.h"

#include "autograd/ops/common.h"

namespace sra {

namespace {

// How one operand's trailing two dims map onto BLAS: stored as given (ld = row stride) or transposed.
struct MatView {
  Tensor t;  // possibly a contiguous copy
  bool trans = false;
  int64_t ld = 0;
};

MatView mat_view(const Tensor& x) {
  int64_t r = x.size(-2), c = x.size(-1);
  int64_t sr = x.stride(-2), sc = x.stride(-1);
  if ((sc == 1 || c == 1) && (sr >= std::max<int64_t>(c, 1) || r == 1))
    return {x, false, std::max<int64_t>({sr, c, 1})};
  if ((sr == 1 || r == 1) && (sc >= std::max<int64_t>(r, 1) || c == 1))
    return {x, true, std::max<int64_t>({sc, r, 1})};
  Tensor cx = x.contiguous();
  return {cx, false, std::max<int64_t>(c, 1)};
}

Tensor matmul_forward(const Tensor& a, const Tensor& b) {
  const int64_t m = a.size(-2), k = a.size(-1), n = b.size(-1);
  Shape ba(a.shape().begin(), a.shape().end() - 2), bb(b.shape().begin(), b.shape().end() - 2);
  Shape batch = broadcast_shapes(ba, bb, "matmul");
  Shape out_shape = batch;
  out_shape.push_back(m);
  out_shape.push_back(n);
  Tensor out = Tensor::empty(out_shape, a.dtype(), a.device());
  if (out.numel() == 0) return out;
  if (k == 0) return out.zero_();
  MatView va = mat_view(a), vb = mat_view(b);
  // batch offsets of each operand (broadcast dims → stride 0)
  int64_t nb = shape_numel(batch);
  auto batch_offset = [&](const Tensor& t, int64_t idx) {
    int64_t off = 0;
    int64_t lead = int64_t(batch.size()) - (t.dim() - 2);
    for (int64_t d = int64_t(batch.size()) - 1; d >= 0; --d) {
      int64_t i = idx % batch[d];
      idx /= batch[d];
      int64_t td = d - lead;
      if (td >= 0 && t.size(td) != 1) off += i * t.stride(td);
    }
    return off;
  };
  const size_t esize = dtype_size(a.dtype());
  auto at = [esize](const Tensor& t, int64_t elems) {
    return static_cast<const char*>(t.raw()) + elems * esize;
  };
  for (int64_t i = 0; i < nb; ++i) {
    kern::gemm(a.device(), {a.dtype(), va.trans, vb.trans, m, n, k, 1.0, at(va.t, batch_offset(va.t, i)),
                            va.ld, at(vb.t, batch_offset(vb.t, i)), vb.ld, 0.0,
                            static_cast<char*>(out.raw()) + i * m * n * esize, n});
  }
  return out;
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  detail::require_same_float("matmul", a, b);
  detail::require_same_device("matmul", {&a, &b});
  SRA_CHECK(a.dim() >= 2 && b.dim() >= 2, "[matmul] operands need at least 2 dims, got ",
            shape_str(a.shape()), " and ", shape_str(b.shape()));
  SRA_CHECK(a.size(-1) == b.size(-2), "[matmul] inner dimensions differ: ", shape_str(a.shape()), " @ ",
            shape_str(b.shape()));
  if (b.dim() == 2 && a.dim() > 2) {  // fold the batch into M: one GEMM, and one for each gradient
    Shape lead(a.shape().begin(), a.shape().end() - 1);
    Tensor a2 = reshape(a, {-1, a.size(-1)});
    Tensor c2 = matmul(a2, b);
    lead.push_back(b.size(-1));
    return reshape(c2, lead);
  }
  Tensor out = matmul_forward(a, b);
  if (needs_grad({a, b})) {
    record("matmul", {a, b}, {out}, {a, b}, [a, b](const std::vector<Tensor>& g) -> std::vector<Tensor> {
      Tensor ga, gb;
      if (a.requires_grad()) ga = sum_to(matmul_forward(g[0], transpose(b, -1, -2)), a.shape());
      if (b.requires_grad()) gb = sum_to(matmul_forward(transpose(a, -1, -2), g[0]), b.shape());
      return {ga, gb};
    });
  }
  return out;
}

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias) {
  SRA_CHECK(w.dim() == 2, "[linear] weight must be (out, in), got ", shape_str(w.shape()));
  SRA_CHECK(x.dim() >= 1 && x.size(-1) == w.size(1), "[linear] input ", shape_str(x.shape()),
            " does not match weight ", shape_str(w.shape()));
  Tensor y = matmul(x.dim() == 1 ? x.unsqueeze(0) : x, transpose(w, 0, 1));
  if (x.dim() == 1) y = y.squeeze(0);
  if (bias.defined()) {
    SRA_CHECK(bias.dim() == 1 && bias.size(0) == w.size(0), "[linear] bias ", shape_str(bias.shape()),
              " does not match weight ", shape_str(w.shape()));
    y = add(y, bias);
  }
  return y;
}

}  // namespace sra
