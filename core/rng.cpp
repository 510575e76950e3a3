#include "core/rng.h"

namespace sra {

std::array<uint32_t, 4> philox4x32(uint64_t counter, uint64_t stream, uint64_t key) {
  PhiloxBlock b = philox4x32_block(counter, stream, key);
  return {b.w[0], b.w[1], b.w[2], b.w[3]};
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
