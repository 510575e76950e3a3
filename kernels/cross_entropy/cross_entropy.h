// Fused cross-entropy over logits x (N, V) and targets t (N) (i64, each in [0, V) or == ignore_index;
// checked by the op). Row n is kept when t[n] != ignore_index.
//   forward   mx[n] = max_v x[n, v],  ls[n] = log Σ_v exp(x[n, v] − mx[n])  (the sum in double), for every
//             row (logsumexp = mx + ls, kept in two parts so f32 keeps its precision at large logits);
//             returns Σ_{kept n} ((mx[n] − x[n, t[n]]) + ls[n]) summed in row order (double).
//             log_softmax is never materialised.
//   backward  gx[n, v] = (exp((x[n, v] − mx[n]) − ls[n]) − [v == t[n]]) · scale for kept rows, 0 for
//             ignored rows (scale = upstream grad / number of kept rows).
// T = float or double.
#pragma once
#include <cstdint>

namespace sra::kern {

template <typename T>
double cross_entropy_cpu(T* mx, T* ls, const T* x, const int64_t* t, int64_t n, int64_t v,
                         int64_t ignore_index);
template <typename T>
void cross_entropy_backward_cpu(T* gx, const T* x, const T* mx, const T* ls, const int64_t* t, int64_t n,
                                int64_t v, int64_t ignore_index, double scale);

}  // namespace sra::kern
