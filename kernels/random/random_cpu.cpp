#include <cmath>
#include <numbers>
#include <type_traits>

#include "core/parallel.h"
#include "core/rng.h"
#include "kernels/random/random.h"

namespace sra::kern {

namespace {

// The first uniform of a block in T's resolution, widened to double.
template <typename T>
double first_uniform(const std::array<uint32_t, 4>& w) {
  if constexpr (std::is_same_v<T, float>) {
    return double(uniform_open_f32(w[0]));
  } else {
    return uniform_open_f64(w[0], w[1]);
  }
}

template <typename T>
double second_uniform(const std::array<uint32_t, 4>& w) {
  if constexpr (std::is_same_v<T, float>) {
    return double(uniform_open_f32(w[1]));
  } else {
    return uniform_open_f64(w[2], w[3]);
  }
}

}  // namespace

template <typename T>
void random_cpu(Noise kind, T* out, int64_t n, uint64_t base, uint64_t stream, uint64_t key) {
  parallel_for(n, 8192, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      std::array<uint32_t, 4> w = philox4x32(base + uint64_t(i), stream, key);
      double u = first_uniform<T>(w);
      double y = 0;
      switch (kind) {
        case Noise::uniform:
          y = u;
          break;
        case Noise::normal:
          y = std::sqrt(-2.0 * std::log(u)) * std::cos(2.0 * std::numbers::pi * second_uniform<T>(w));
          break;
        case Noise::gumbel:
          y = -std::log(-std::log(u));
          break;
        case Noise::logistic:
          y = std::log(u) - std::log1p(-u);
          break;
      }
      out[i] = T(y);
    }
  });
}

template void random_cpu<float>(Noise, float*, int64_t, uint64_t, uint64_t, uint64_t);
template void random_cpu<double>(Noise, double*, int64_t, uint64_t, uint64_t, uint64_t);

}  // namespace sra::kern
