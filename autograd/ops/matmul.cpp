// matmul: (…, M, K) @ (…, K, N) → (…, M, N), batch dims broadcast. linear: x · wᵀ (+ bias), its own node
// (dW written in w's layout, below).
// Backward: dA = dC · Bᵀ, dB = Aᵀ · dC (summed over broadcast batch dims). Transposed operands are
// passed to BLAS as transposes, not copied. A (…, M, K) @ B (K, N) folds the batch into M. A batch whose
// matrices sit at equal distances in each operand (contiguous or broadcast) is one strided-batched GEMM,
// else one GEMM per matrix.
// Under an AutocastGuard(DType::bf16) (autograd/autocast.h) f32 operands of all three GEMMs are rounded to
// bf16 and the GEMMs accumulate in fp32 with f32 results; the bf16 copies of A and B are what backward
// saves.
#include "kernels/matmul/matmul.h"

#include "autograd/autocast.h"
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

// Distance between consecutive entries when offs is an arithmetic progression with a step >= 0, else -1.
int64_t uniform_step(const std::vector<int64_t>& offs) {
  int64_t step = offs.size() > 1 ? offs[1] - offs[0] : 0;
  if (step < 0) return -1;
  for (size_t i = 1; i < offs.size(); ++i)
    if (offs[i] - offs[0] != int64_t(i) * step) return -1;
  return step;
}

// C = A @ B for operands of one dtype: f32 or f64 (C alike), or bf16 (C in f32, fp32 accumulation; in bf16
// with out_bf16, each element rounded from its fp32 sum).
Tensor matmul_forward(const Tensor& a, const Tensor& b, bool out_bf16 = false) {
  const int64_t m = a.size(-2), k = a.size(-1), n = b.size(-1);
  Shape ba(a.shape().begin(), a.shape().end() - 2), bb(b.shape().begin(), b.shape().end() - 2);
  Shape batch = broadcast_shapes(ba, bb, "matmul");
  Shape out_shape = batch;
  out_shape.push_back(m);
  out_shape.push_back(n);
  SRA_ASSERT(!out_bf16 || a.dtype() == DType::bf16, "a bf16 product needs bf16 operands");
  const DType out_dtype = out_bf16 ? DType::bf16 : a.dtype() == DType::bf16 ? DType::f32 : a.dtype();
  Tensor out = Tensor::empty(out_shape, out_dtype, a.device());
  if (out.numel() == 0) return out;
  if (k == 0) return out.zero_();
  MatView va = mat_view(a), vb = mat_view(b);
  // batch offsets of each operand (broadcast dims → stride 0)
  int64_t nb = shape_numel(batch);
  auto batch_offsets = [&](const Tensor& t) {
    std::vector<int64_t> offs(static_cast<size_t>(nb));
    int64_t lead = int64_t(batch.size()) - (t.dim() - 2);
    for (int64_t i = 0; i < nb; ++i) {
      int64_t idx = i, off = 0;
      for (int64_t d = int64_t(batch.size()) - 1; d >= 0; --d) {
        int64_t j = idx % batch[d];
        idx /= batch[d];
        int64_t td = d - lead;
        if (td >= 0 && t.size(td) != 1) off += j * t.stride(td);
      }
      offs[size_t(i)] = off;
    }
    return offs;
  };
  std::vector<int64_t> oa = batch_offsets(va.t), ob = batch_offsets(vb.t);
  const size_t esize = dtype_size(a.dtype()), out_esize = dtype_size(out_dtype);
  auto at = [esize](const Tensor& t, int64_t elems) {
    return static_cast<const char*>(t.raw()) + elems * esize;
  };
  char* c = static_cast<char*>(out.raw());
  kern::GemmArgs g{a.dtype(),       va.trans, vb.trans,        m,     n,   k, 1.0,
                   at(va.t, oa[0]), va.ld,    at(vb.t, ob[0]), vb.ld, 0.0, c, n};
  g.c_bf16 = out_bf16;
  int64_t sa = uniform_step(oa), sb = uniform_step(ob);
  if (nb > 1 && sa >= 0 && sb >= 0) {  // one strided-batched GEMM
    g.batch = nb;
    g.stride_a = sa;
    g.stride_b = sb;
    g.stride_c = m * n;
    kern::gemm(a.device(), g);
    return out;
  }
  for (int64_t i = 0; i < nb; ++i) {
    g.a = at(va.t, oa[size_t(i)]);
    g.b = at(vb.t, ob[size_t(i)]);
    g.c = c + i * m * n * out_esize;
    kern::gemm(a.device(), g);
  }
  return out;
}

// matmul under bf16 autocast: the three GEMMs on bf16 copies (autocast.h); backward keeps the copies,
// and only the one each gradient needs (dA needs B, dB needs A).
Tensor matmul_bf16(const Tensor& a, const Tensor& b) {
  Tensor a16 = autocast_bf16_operand(a), b16 = autocast_bf16_operand(b);
  Tensor out = matmul_forward(a16, b16);
  if (needs_grad({a, b})) {
    Tensor keep_a = b.requires_grad() ? a16 : Tensor(), keep_b = a.requires_grad() ? b16 : Tensor();
    Shape sa = a.shape(), sb = b.shape();
    record("matmul", {a, b}, {out}, {},
           [keep_a, keep_b, sa, sb](const std::vector<Tensor>& g) -> std::vector<Tensor> {
             Tensor g16 = autocast_bf16_operand(g[0]);
             Tensor ga, gb;
             if (keep_b.defined()) ga = sum_to(matmul_forward(g16, transpose(keep_b, -1, -2)), sa);
             if (keep_a.defined()) gb = sum_to(matmul_forward(transpose(keep_a, -1, -2), g16), sb);
             return {ga, gb};
           });
  }
  return out;
}

// linear's node, x (M, K) and w (N, K) → x · wᵀ (M, N): the GEMMs of matmul(x, transpose(w)) (on bf16
// copies under autocast, as matmul_bf16), but dW is computed as dCᵀ · x, in w's own layout, so the tape
// takes it as w's gradient as it is; through matmul and transpose it was a transposed view, copied into a
// dense .grad for every weight of every step (x · Wᵀ: dW = (xᵀ · dC)ᵀ = dCᵀ · x, the same products).
// A bf16 w (a frozen weight held in bf16: train.base_dtype) takes the bf16 path with or without a guard,
// as it is (x rounded to bf16; no gradient for w).
// out16: under bf16 operands, the output in bf16 (linear_bf16_out)
Tensor linear_2d(const Tensor& x, const Tensor& w, bool out16 = false) {
  const bool bf16 = w.dtype() == DType::bf16 || (x.dtype() == DType::f32 && autocast_dtype() == DType::bf16);
  Tensor x_op = bf16 ? autocast_bf16_operand(x) : x, w_op = bf16 ? autocast_bf16_operand(w) : w;
  Tensor out = matmul_forward(x_op, transpose(w_op, 0, 1), bf16 && out16);
  if (needs_grad({x, w})) {
    Tensor keep_x = w.requires_grad() ? x_op : Tensor(), keep_w = x.requires_grad() ? w_op : Tensor();
    record("linear", {x, w}, {out}, bf16 ? std::vector<Tensor>{} : std::vector<Tensor>{x, w},
           [keep_x, keep_w, bf16](const std::vector<Tensor>& g) -> std::vector<Tensor> {
             Tensor gy = bf16 ? autocast_bf16_operand(g[0]) : g[0];
             Tensor gx = keep_w.defined() ? matmul_forward(gy, keep_w) : Tensor();
             Tensor gw = keep_x.defined() ? matmul_forward(transpose(gy, 0, 1), keep_x) : Tensor();
             return {gx, gw};
           });
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
  if (a.dtype() == DType::f32 && autocast_dtype() == DType::bf16) return matmul_bf16(a, b);
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

namespace {

Tensor linear_impl(const Tensor& x, const Tensor& w, const Tensor& bias, bool out16) {
  SRA_CHECK(w.dim() == 2, "[linear] weight must be (out, in), got ", shape_str(w.shape()));
  SRA_CHECK(x.dim() >= 1 && x.size(-1) == w.size(1), "[linear] input ", shape_str(x.shape()),
            " does not match weight ", shape_str(w.shape()));
  detail::require_linear_operands("linear", x, w);
  detail::require_same_device("linear", {&x, &w});
  Tensor x2 = x.dim() == 1 ? x.unsqueeze(0) : reshape(x, {-1, x.size(-1)});
  Shape lead(x.shape().begin(), x.shape().end() - 1);
  lead.push_back(w.size(0));
  Tensor y = reshape(linear_2d(x2, w, out16), lead);
  if (bias.defined()) {
    SRA_CHECK(bias.dim() == 1 && bias.size(0) == w.size(0), "[linear] bias ", shape_str(bias.shape()),
              " does not match weight ", shape_str(w.shape()));
    y = add(y, bias);
  }
  return y;
}

}  // namespace

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias) {
  return linear_impl(x, w, bias, false);
}

Tensor linear_bf16_out(const Tensor& x, const Tensor& w) {
  return linear_impl(x, w, Tensor(), true);
}

namespace {

// The gradients g[i] (M, N_i) when they already lie side by side as one (M, N) matrix of dtype dt (swiglu's
// bf16 gradients of a stacked gate and up): that matrix, else an undefined tensor.
Tensor side_by_side(const std::vector<Tensor>& g, const std::vector<int64_t>& offs, int64_t m, int64_t n,
                    DType dt) {
  for (size_t i = 0; i < g.size(); ++i) {
    const Tensor& t = g[i];
    if (t.dtype() != dt || t.dim() != 2 || t.storage() != g[0].storage() || t.stride(1) != 1 ||
        (m > 1 && t.stride(0) != n) || t.offset() != g[0].offset() + offs[i])
      return Tensor();
  }
  return Tensor::make_view(g[0], {m, n}, {n, 1}, g[0].offset());
}

// x (M, K), ws[i] (N_i, K) → the column blocks y_i (M, N_i) of x · [w_0; …; w_{n−1}]ᵀ (linear_stacked; in
// bf16 with out16 when the GEMM runs on bf16 operands).
std::vector<Tensor> linear_stacked_2d(const Tensor& x, const std::vector<Tensor>& ws, bool out16) {
  const Device dev = x.device();
  const DType wt = ws[0].dtype();
  const bool bf16 = wt == DType::bf16 || (x.dtype() == DType::f32 && autocast_dtype() == DType::bf16);
  const DType op_t = bf16 ? DType::bf16 : x.dtype();
  std::vector<int64_t> offs;
  int64_t n = 0;
  for (const Tensor& w : ws) offs.push_back(n), n += w.size(0);
  const int64_t m = x.size(0), k = x.size(1);
  Tensor w_all = Tensor::empty({n, k}, op_t, dev);  // the stacked weights (rounded to bf16 under autocast)
  {
    NoGradGuard g;
    for (size_t i = 0; i < ws.size(); ++i) w_all.narrow(0, offs[i], ws[i].size(0)).copy_(ws[i].detach());
  }
  Tensor x_op = bf16 ? autocast_bf16_operand(x) : x;
  Tensor out = matmul_forward(x_op, transpose(w_all, 0, 1), bf16 && out16);  // (M, N), f32 or bf16
  std::vector<Tensor> ys;
  for (size_t i = 0; i < ws.size(); ++i) ys.push_back(out.narrow(1, offs[i], ws[i].size(0)));
  std::vector<Tensor> inputs = {x};
  inputs.insert(inputs.end(), ws.begin(), ws.end());
  if (!needs_grad(inputs)) return ys;
  bool any_w = false;
  for (const Tensor& w : ws) any_w = any_w || w.requires_grad();
  Tensor keep_x = any_w ? x_op : Tensor(), keep_w = x.requires_grad() ? w_all : Tensor();
  std::vector<bool> want_w;
  for (const Tensor& w : ws) want_w.push_back(w.requires_grad());
  record(
      "linear_stacked", inputs, ys, bf16 ? std::vector<Tensor>{} : inputs,
      [keep_x, keep_w, want_w, offs, m, n, op_t, dev](const std::vector<Tensor>& g) -> std::vector<Tensor> {
        Tensor gy = side_by_side(g, offs, m, n, op_t);  // the gradients as one matrix, in the GEMMs' dtype
        if (!gy.defined()) {
          NoGradGuard guard;
          gy = Tensor::empty({m, n}, op_t, dev);
          for (size_t i = 0; i < g.size(); ++i) {  // a kept bf16 copy when there is one (RoPE's backward)
            Tensor kept = op_t == DType::bf16 ? autocast_find_bf16(g[i]) : Tensor();
            gy.narrow(1, offs[i], g[i].size(1)).copy_(kept.defined() ? kept : g[i].detach());
          }
        }
        std::vector<Tensor> gin(g.size() + 1);
        if (keep_w.defined()) gin[0] = matmul_forward(gy, keep_w);
        if (keep_x.defined()) {
          Tensor gw = matmul_forward(transpose(gy, 0, 1), keep_x);  // (N, K): w's layout, stacked
          for (size_t i = 0; i < g.size(); ++i)
            if (want_w[i]) gin[i + 1] = gw.narrow(0, offs[i], g[i].size(1));
        }
        return gin;
      });
  return ys;
}

std::vector<Tensor> linear_stacked_impl(const Tensor& x, const std::vector<Tensor>& ws, bool out16) {
  SRA_CHECK(!ws.empty(), "[linear_stacked] no weights");
  for (const Tensor& w : ws) {
    SRA_CHECK(w.dim() == 2, "[linear_stacked] weight must be (out, in), got ", shape_str(w.shape()));
    SRA_CHECK(x.dim() >= 1 && x.size(-1) == w.size(1), "[linear_stacked] input ", shape_str(x.shape()),
              " does not match weight ", shape_str(w.shape()));
    SRA_CHECK(w.dtype() == ws[0].dtype(), "[linear_stacked] weights of dtypes ", dtype_name(ws[0].dtype()),
              " and ", dtype_name(w.dtype()));
    detail::require_linear_operands("linear_stacked", x, w);
    detail::require_same_device("linear_stacked", {&x, &w});
  }
  Tensor x2 = x.dim() == 1 ? x.unsqueeze(0) : reshape(x, {-1, x.size(-1)});
  std::vector<Tensor> ys = linear_stacked_2d(x2, ws, out16);
  Shape lead(x.shape().begin(), x.shape().end() - 1);
  for (size_t i = 0; i < ys.size(); ++i) {
    Shape s = lead;
    s.push_back(ws[i].size(0));
    ys[i] = reshape(ys[i], s);
  }
  return ys;
}

}  // namespace

std::vector<Tensor> linear_stacked(const Tensor& x, const std::vector<Tensor>& ws) {
  return linear_stacked_impl(x, ws, false);
}

std::vector<Tensor> linear_stacked_bf16_out(const Tensor& x, const std::vector<Tensor>& ws) {
  return linear_stacked_impl(x, ws, true);
}

}  // namespace sra
