#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/kth_smallest/kth_smallest.h"
#include "kernels/kth_smallest/sort_key.h"

namespace sra::kern {

template <typename T>
T kth_smallest_cpu(const T* x, int64_t n, int64_t k) {
  using Key = typename SortKey<T>::Key;
  std::vector<Key> keys(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) keys[size_t(i)] = SortKey<T>::of(x[i]);
  std::nth_element(keys.begin(), keys.begin() + k, keys.end());
  return SortKey<T>::value(keys[size_t(k)]);
}

template float kth_smallest_cpu<float>(const float*, int64_t, int64_t);
template double kth_smallest_cpu<double>(const double*, int64_t, int64_t);

}  // namespace sra::kern
