#include "core/rng.h"

namespace sra {

std::array<uint32_t, 4> philox4x32(uint64_t counter, uint64_t stream, uint64_t key) {
  uint32_t c0 = uint32_t(counter), c1 = uint32_t(counter >> 32);
  uint32_t c2 = uint32_t(stream), c3 = uint32_t(stream >> 32);
  uint32_t k0 = uint32_t(key), k1 = uint32_t(key >> 32);
  constexpr uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
  for (int r = 0; r < 10; ++r) {
    uint64_t p0 = uint64_t(M0) * c0, p1 = uint64_t(M1) * c2;
    uint32_t n0 = uint32_t(p1 >> 32) ^ c1 ^ k0;
    uint32_t n1 = uint32_t(p1);
    uint32_t n2 = uint32_t(p0 >> 32) ^ c3 ^ k1;
    uint32_t n3 = uint32_t(p0);
    c0 = n0, c1 = n1, c2 = n2, c3 = n3;
    k0 += W0, k1 += W1;
  }
  return {c0, c1, c2, c3};
}

double Generator::next_uniform() {
  auto r = philox4x32(reserve(1), stream_, seed_);
  return uniform_open_f64(r[0], r[1]);
}

uint64_t Generator::next_u64() {
  auto r = philox4x32(reserve(1), stream_, seed_);
  return (uint64_t(r[0]) << 32) | r[1];
}

uint64_t Generator::next_below(uint64_t n) {
  if (n <= 1) return 0;
  uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  for (;;) {
    uint64_t v = next_u64();
    if (v < limit) return v % n;
  }
}

}  // namespace sra
