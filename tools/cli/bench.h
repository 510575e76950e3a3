// `sra bench cpu`: OpenBLAS sgemm GFLOP/s and a tiny-transformer training step's model GFLOP/s,
// measured in the same run, with their ratio (goal: step ≥ 40% of sgemm for d=256, 4 layers, T=256).
#pragma once
#include <cstdint>
#include <iosfwd>

namespace sra::cli {

struct BenchCpuOptions {
  int64_t d_model = 256, n_layers = 4, n_heads = 4, d_ff = 688, seq_len = 256, batch = 8, vocab = 256;
  int64_t steps = 10, warmup = 2;
  int64_t gemm_size = 1024;
  int threads = 0;  // 0 = OpenMP default
};

int run_bench_cpu(const BenchCpuOptions& opt, std::ostream& out);

}  // namespace sra::cli
