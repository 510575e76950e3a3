// The attention ops on the model's layout: q, k, v are head splits of (B, T, heads·D) projections
// (reshape to (B, T, heads, D), transpose to (B, heads, T, D)) and dout arrives the same way from the
// output projection. Under bf16 autocast on CUDA the tensor-core kernels read those rows in place, write
// out in (B, T, H, D) order and the gradients in q, k, v's layouts (kernels/common/row_strides.h); every
// other path takes dense copies. The oracle is the same op on dense inputs holding the same values: the
// kernels' arithmetic is the same, only the addresses differ, so out and every gradient must be equal bit
// for bit, on the GPU and on the CPU (where the rows path is never taken), for dense attention and SRA.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "autograd/autocast.h"
#include "autograd/ops.h"
#include "autograd/sparse_attention.h"
#include "autograd/tape.h"
#include "compare_util.h"
#include "core/rng.h"

using namespace sra;
using sra::test::no_gpu;
using sra::test::same_values;

namespace {

struct RowsCase {
  int64_t B, H, Hkv, T, D;
  bool sparse;
};

std::string describe(const RowsCase& c) {
  return std::string(c.sparse ? "sparse" : "dense") + " B=" + std::to_string(c.B) +
         " H=" + std::to_string(c.H) + " Hkv=" + std::to_string(c.Hkv) + " T=" + std::to_string(c.T) +
         " D=" + std::to_string(c.D);
}

// (B, T, heads·D) → (B, heads, T, D), a view.
Tensor heads_of(const Tensor& x, int64_t heads, int64_t d) {
  return x.reshape({x.size(0), x.size(1), heads, d}).transpose(1, 2);
}

struct RowsResult {
  std::vector<Tensor> t;  // out, dq, dk, dv (dense (B, heads, T, D) copies on the CPU), dgate when sparse
  bool out_in_projection_order = false;
};

// The op with q, k, v as head splits of projections (split) or as dense tensors of the same values.
RowsResult run(const RowsCase& c, bool split, Device dev) {
  Generator gen(uint64_t(17 + c.T));
  const Tensor xq = randn({c.B, c.T, c.H * c.D}, gen), xk = randn({c.B, c.T, c.Hkv * c.D}, gen);
  const Tensor xv = randn({c.B, c.T, c.Hkv * c.D}, gen), xo = randn({c.B, c.T, c.H * c.D}, gen);
  std::vector<uint8_t> sel(size_t(c.B * c.T));
  std::vector<float> gate(sel.size());
  for (size_t i = 0; i < sel.size(); ++i) sel[i] = i % 7 == 3, gate[i] = 0.25f + float(i % 5) * 0.4f;
  AutocastGuard guard(DType::bf16);
  auto leaf = [&](const Tensor& x) {
    Tensor l = x.to(dev).detach();
    l.set_requires_grad(true);
    return l;
  };
  // split: the leaves are the projections; dense: the leaves are dense (B, heads, T, D) copies
  const int64_t hs[3] = {c.H, c.Hkv, c.Hkv};
  tape_clear();
  std::vector<Tensor> leaves, ops;
  for (int i = 0; i < 3; ++i) {
    const Tensor& x = i == 0 ? xq : i == 1 ? xk : xv;
    leaves.push_back(leaf(split ? x : contiguous(heads_of(x, hs[i], c.D))));
    ops.push_back(split ? heads_of(leaves.back(), hs[i], c.D) : leaves.back());
  }
  Tensor g = leaf(Tensor::from_vector(gate, {c.B, c.T}));
  Tensor s = Tensor::from_vector(sel, {c.B, c.T}).to(dev);
  Tensor out = c.sparse ? sparse_attention(ops[0], ops[1], ops[2], s, g, /*window=*/40, /*n_sinks=*/3)
                        : attention(ops[0], ops[1], ops[2], /*causal=*/true);
  Tensor dout = split ? heads_of(xo.to(dev), c.H, c.D) : contiguous(heads_of(xo, c.H, c.D)).to(dev);
  backward(out, dout);
  RowsResult r;
  r.out_in_projection_order = out.transpose(1, 2).is_contiguous();
  r.t.push_back(contiguous(out).to(Device::cpu()));
  for (int i = 0; i < 3; ++i) {
    const Tensor gi = split ? heads_of(leaves[size_t(i)].grad(), hs[i], c.D) : leaves[size_t(i)].grad();
    r.t.push_back(contiguous(gi).to(Device::cpu()));
  }
  if (c.sparse) r.t.push_back(g.grad().to(Device::cpu()));
  tape_clear();
  return r;
}

const RowsCase kRowsCases[] = {{2, 4, 2, 200, 64, false},
                               {1, 2, 2, 130, 128, false},
                               {2, 4, 2, 200, 64, true},
                               {1, 2, 1, 150, 128, true}};

void check_rows(Device dev) {
  for (const RowsCase& c : kRowsCases) {
    INFO(describe(c) << " on " << dev.str());
    const RowsResult split = run(c, true, dev), dense = run(c, false, dev);
    REQUIRE(split.t.size() == dense.t.size());
    for (size_t i = 0; i < split.t.size(); ++i) {
      INFO("output " << i);
      CHECK(split.t[i].shape() == dense.t[i].shape());
      CHECK(same_values(split.t[i], dense.t[i]));
    }
    // on CUDA the kernels wrote out in the output projection's (B, T, H, D) order
    if (dev.is_cuda()) CHECK(split.out_in_projection_order);
  }
}

}  // namespace

TEST_CASE("attention rows: head splits of projections give the dense inputs' bits (CPU, bf16 autocast)") {
  check_rows(Device::cpu());
}

TEST_CASE(
    "cuda: bf16 attention and SRA read head splits in place: the dense inputs' bits, out in (B, T, H, D)" *
    doctest::skip(no_gpu())) {
  check_rows(Device::cuda(0));
}
