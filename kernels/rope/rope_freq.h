// RoPE frequencies, shared by the CPU reference and the CUDA kernel (one expression on both):
//   inv_freq[i] = theta^(−2i/D), i < D/2
// With Llama 3 scaling (Hugging Face rope_type "llama3": factor f, low_freq_factor l, high_freq_factor h,
// original_max_position_embeddings L), by the wavelength λ = 2π / inv_freq:
//   λ < L/h  (high frequencies)   inv_freq unchanged
//   λ > L/l  (low frequencies)    inv_freq / f
//   otherwise                     (1 − s)·inv_freq/f + s·inv_freq,  s = (L/λ − l) / (h − l)
// computed in double (Hugging Face computes it in f32: equal up to f32 rounding of the frequencies).
#pragma once
#include <cmath>
#include <cstdint>

#include "kernels/common/host_device.h"

namespace sra::kern {

struct RopeScaling {
  bool llama3 = false;
  double factor = 8.0, low_freq_factor = 1.0, high_freq_factor = 4.0, original_max_position = 8192.0;
};

SRA_HOST_DEVICE inline double rope_inv_freq(int64_t i, int64_t d, double theta, const RopeScaling& s) {
  double inv = 1.0 / pow(theta, double(2 * i) / double(d));
  if (!s.llama3) return inv;
  const double kPi = 3.14159265358979323846;
  double wavelen = 2.0 * kPi / inv;
  double low_wavelen = s.original_max_position / s.low_freq_factor;
  double high_wavelen = s.original_max_position / s.high_freq_factor;
  if (wavelen < high_wavelen) return inv;
  if (wavelen > low_wavelen) return inv / s.factor;
  double smooth =
      (s.original_max_position / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
  return (1.0 - smooth) * inv / s.factor + smooth * inv;
}

}  // namespace sra::kern
