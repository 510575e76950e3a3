// decode_attention (autograd/ops.h, kernels/decode_attention/) against attention(q, K, V, causal = false)
// over the same keys gathered by position: sequences with their keys split over two parts (a fixed part
// and a ring, as model/kv_cache.h hands them over) in buffers with spare capacity, different key counts
// per sequence, a sequence whose first part is empty, grouped-query heads, f64 (≤ 1e-12) and f32 (≤ 1e-5).
// On the GPU (skipped without one): the same cases, long sequences that cross many split-K chunks, and a
// repeat run that must match bitwise. Errors: no keys, mismatched buffers, q that requires grad.
#include <doctest/doctest.h>

#include <array>
#include <vector>

#include "autograd/ops.h"
#include "compare_util.h"
#include "core/cuda_runtime.h"
#include "core/rng.h"

using namespace sra;
using sra::test::host_values;
using sra::test::rel_err;

namespace {

struct Case {
  int64_t H, Hkv, D;
  std::vector<std::array<int64_t, 2>> rows;  // per sequence: rows of the two parts
};

struct Built {
  Tensor q;
  std::vector<std::array<KVPart, 2>> parts;
  std::vector<Tensor> k_all, v_all;  // per sequence (1, Hkv, S, D): the parts' rows in order
};

// Buffers (Hkv, rows + 3, D) per part (3 spare rows of garbage the kernel must not read).
Built build(const Case& c, DType dt, Device dev, uint64_t seed) {
  Generator gen(seed);
  Built b;
  const int64_t B = int64_t(c.rows.size());
  b.q = randn({B, c.H, c.D}, gen, dt).to(dev);
  b.parts.resize(size_t(B));
  for (int64_t s = 0; s < B; ++s) {
    std::vector<Tensor> ks, vs;
    for (int p = 0; p < 2; ++p) {
      const int64_t r = c.rows[size_t(s)][size_t(p)];
      Tensor k = randn({c.Hkv, r + 3, c.D}, gen, dt).to(dev), v = randn({c.Hkv, r + 3, c.D}, gen, dt).to(dev);
      b.parts[size_t(s)][size_t(p)] = KVPart{k, v, r};
      if (r > 0) {
        ks.push_back(k.narrow(1, 0, r));
        vs.push_back(v.narrow(1, 0, r));
      }
    }
    b.k_all.push_back(concat(ks, 1).unsqueeze(0));
    b.v_all.push_back(concat(vs, 1).unsqueeze(0));
  }
  return b;
}

// The oracle: dense non-causal attention per sequence over the concatenated keys, (B, H, D).
Tensor oracle(const Built& b) {
  std::vector<Tensor> outs;
  for (size_t s = 0; s < b.parts.size(); ++s) {
    const Tensor qs = b.q.narrow(0, int64_t(s), 1).unsqueeze(2);  // (1, H, 1, D)
    outs.push_back(attention(qs, b.k_all[s], b.v_all[s], /*causal=*/false).squeeze(2));
  }
  return concat(outs, 0);
}

const std::vector<Case> kCases = {
    {4, 2, 16, {{5, 7}, {0, 3}, {12, 0}}},
    {3, 3, 64, {{1, 0}}},
    {8, 2, 40, {{40, 33}, {2, 64}}},
};

}  // namespace

TEST_CASE("decode_attention equals attention over the concatenated parts (CPU, f64 and f32)") {
  for (DType dt : {DType::f64, DType::f32}) {
    for (const Case& c : kCases) {
      const Built b = build(c, dt, Device::cpu(), 7);
      const double err = rel_err(decode_attention(b.q, b.parts), oracle(b));
      CHECK(err <= (dt == DType::f64 ? 1e-12 : 1e-5));
    }
  }
}

TEST_CASE("decode_attention errors name the sequence and part") {
  const Built b = build({2, 1, 8, {{3, 0}, {0, 2}}}, DType::f32, Device::cpu(), 3);
  auto parts = b.parts;
  parts[1][1].rows = 0;
  CHECK_THROWS_WITH_AS(decode_attention(b.q, parts),
                       "[decode_attention] sequence 1 has no cached keys to attend to", Error);
  parts = b.parts;
  parts[0][0].rows = 9;  // more rows than the buffer holds
  CHECK_THROWS_AS(decode_attention(b.q, parts), Error);
  parts = b.parts;
  parts.pop_back();
  CHECK_THROWS_WITH_AS(decode_attention(b.q, parts),
                       "[decode_attention] q has 2 sequences but 1 sets of cache parts were given", Error);
  Tensor qg = b.q.detach();
  qg.set_requires_grad(true);
  CHECK_THROWS_WITH_AS(decode_attention(qg, b.parts),
                       "[decode_attention] has no gradient: q must not require grad", Error);
}

TEST_CASE("cuda decode_attention matches the CPU and repeats bitwise" * doctest::skip(!cuda::available())) {
  std::vector<Case> cases = kCases;
  cases.push_back({12, 12, 64, {{3000, 256}, {17, 200}, {70000, 0}}});  // many split-K chunks
  cases.push_back({16, 4, 128, {{9000, 256}}});
  cases.push_back({2, 1, 256, {{300, 5}}});
  for (DType dt : {DType::f64, DType::f32}) {
    for (const Case& c : cases) {
      const Built cpu = build(c, dt, Device::cpu(), 11);
      const Built gpu = build(c, dt, Device::cuda(0), 11);
      const Tensor want = decode_attention(cpu.q, cpu.parts);
      const Tensor got = decode_attention(gpu.q, gpu.parts);
      CHECK(rel_err(got, want) <= (dt == DType::f64 ? 1e-12 : 1e-5));
      CHECK(host_values(got) == host_values(decode_attention(gpu.q, gpu.parts)));
    }
  }
}
