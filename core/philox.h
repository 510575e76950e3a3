// Philox4x32-10 (Salmon et al., SC'11) and the (0, 1) uniforms built from its words, as inline functions
// that compile for the host and, in .cu files, for the device: core/rng.h (the CPU) and the CUDA noise and
// dropout kernels call this one copy, so both produce the same 32-bit words and the same uniforms bit for
// bit. No CUDA header: under nvcc (__CUDACC__) SRA_HOST_DEVICE marks the functions __host__ __device__.
//   block = philox4x32_block(counter, stream, key): counter words (c0, c1) = counter, (c2, c3) = stream,
//   key words (k0, k1) = key; 10 rounds with the Random123 multipliers and Weyl increments.
#pragma once
#include <cstdint>

#if defined(__CUDACC__)
#define SRA_HOST_DEVICE __host__ __device__
#else
#define SRA_HOST_DEVICE
#endif

namespace sra {

struct PhiloxBlock {
  uint32_t w[4];
};

SRA_HOST_DEVICE inline PhiloxBlock philox4x32_block(uint64_t counter, uint64_t stream, uint64_t key) {
  uint32_t c0 = uint32_t(counter), c1 = uint32_t(counter >> 32);
  uint32_t c2 = uint32_t(stream), c3 = uint32_t(stream >> 32);
  uint32_t k0 = uint32_t(key), k1 = uint32_t(key >> 32);
  const uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
  for (int r = 0; r < 10; ++r) {
    uint64_t p0 = uint64_t(M0) * c0, p1 = uint64_t(M1) * c2;
    uint32_t n0 = uint32_t(p1 >> 32) ^ c1 ^ k0;
    uint32_t n1 = uint32_t(p1);
    uint32_t n2 = uint32_t(p0 >> 32) ^ c3 ^ k1;
    uint32_t n3 = uint32_t(p0);
    c0 = n0, c1 = n1, c2 = n2, c3 = n3;
    k0 += W0, k1 += W1;
  }
  return {{c0, c1, c2, c3}};
}

// u32 → (0, 1): never 0 or 1 exactly, so log(u) and log(1-u) are finite. Exact arithmetic in both
// (24 and 53 significant bits; the products are by powers of two), so host and device agree.
SRA_HOST_DEVICE inline float uniform_open_f32(uint32_t u) {
  return (float(u >> 8) + 0.5f) * (1.0f / 16777216.0f);
}
SRA_HOST_DEVICE inline double uniform_open_f64(uint32_t hi, uint32_t lo) {
  uint64_t v = (uint64_t(hi) << 21) ^ (lo >> 11);  // 53 bits
  return (double(v & ((1ull << 53) - 1)) + 0.5) * (1.0 / 9007199254740992.0);
}

}  // namespace sra
