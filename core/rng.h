// Counter-based RNG: Philox4x32-10 (Salmon et al., SC'11). Element i of a draw uses the block
// philox(key = seed, counter = (offset + i, stream)), so a value depends only on (seed, stream,
// offset + i): the same numbers on CPU and CUDA, whatever the thread count or launch shape.
//
// A Generator is (seed, offset); each draw of n elements reserves offsets [offset, offset + n).
// Its state is two integers, saved in checkpoints for exact resume.
#pragma once
#include <array>
#include <cstdint>

#include "core/philox.h"

namespace sra {

// The block's four words (core/philox.h, which also defines uniform_open_f32 / uniform_open_f64: the
// one copy that the CPU and the CUDA kernels share).
std::array<uint32_t, 4> philox4x32(uint64_t counter, uint64_t stream, uint64_t key);

class Generator {
 public:
  explicit Generator(uint64_t seed = 0, uint64_t stream = 0) : seed_(seed), stream_(stream) {}
  uint64_t seed() const { return seed_; }
  uint64_t stream() const { return stream_; }
  uint64_t offset() const { return offset_; }
  void set_state(uint64_t seed, uint64_t offset) {
    seed_ = seed;
    offset_ = offset;
  }
  // Reserves n counters and returns the first.
  uint64_t reserve(uint64_t n) {
    uint64_t o = offset_;
    offset_ += n;
    return o;
  }
  // One value at a time (host-side sampling, shuffles): uses one counter per call.
  double next_uniform();  // (0, 1)
  uint64_t next_u64();
  uint64_t next_below(uint64_t n);  // [0, n), unbiased

 private:
  uint64_t seed_;
  uint64_t stream_;
  uint64_t offset_ = 0;
};

}  // namespace sra
