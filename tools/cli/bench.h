// `sra bench cpu`: OpenBLAS sgemm GFLOP/s and a tiny-transformer training step's model GFLOP/s,
// measured in the same run, with their ratio (goal: step ≥ 40% of sgemm for d=256, 4 layers, T=256),
// and dense vs sparse attention timings.
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

// `sra bench attention`: dense causal attention vs SRA sparse attention (sinks + window + a random
// `ratio` of critical tokens), forward and forward+backward, f32 CPU, same run.
struct BenchAttentionOptions {
  int64_t batch = 1, heads = 4, seq_len = 4096, head_dim = 64, window = 256, sinks = 4;
  double ratio = 0.10;
  int64_t reps = 5;
  int threads = 0;
};

int run_bench_attention(const BenchAttentionOptions& opt, std::ostream& out);

}  // namespace sra::cli
