// `sra bench cpu`: OpenBLAS sgemm GFLOP/s and a tiny-transformer training step's model GFLOP/s,
// measured in the same run, with their ratio (goal: step ≥ 40% of sgemm for d=256, 4 layers, T=256),
// and dense vs sparse attention timings.
#pragma once
#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "core/device.h"
#include "model/transformer.h"

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
  std::string device = "cpu";  // --json: cpu, cuda or cuda:N
  bool json = false;           // one JSON line per length (bench_attention.cpp) instead of the text
  std::vector<int64_t> seqs;   // --json: the lengths (default: seq_len)
  std::string precision;  // --json: f32 | bf16 (AutocastGuard(bf16)); empty: bf16 on CUDA, f32 on the CPU
};

int run_bench_attention(const BenchAttentionOptions& opt, std::ostream& out);
int run_bench_attention_json(const BenchAttentionOptions& opt, std::ostream& out);

// Shared by the JSON benchmarks: today's UTC date (YYYY-MM-DD) and v rounded to `digits` decimals.
std::string utc_date();
double round_to(double v, int digits);
// The benchmarks' Llama-style model (heads = KV heads, untied defaults of TransformerConfig otherwise).
TransformerConfig bench_model(int64_t vocab, int64_t d_model, int64_t n_layers, int64_t n_heads, int64_t d_ff,
                              int64_t max_seq_len);
// --device parsed; a GPU index beyond the visible ones is an error naming it.
Device bench_device(const std::string& spec);

// `sra bench train`: the training step of a dense Llama-style decoder (RMSNorm, RoPE, SwiGLU, untied head)
// with the dimensions of ../shared/bench/torch_reference.py's `train` (its defaults below; its SwiGLU
// hidden size 8·d/3 rounded up to 64 is 2048 for d = 768), one step = forward, backward, clip_grad_norm,
// AdamW step, zero_grad, under AutocastGuard(bf16) for --precision bf16 (bench_train.cpp). Prints one
// JSON line (bench, device, date, config, precision, loss, tokens_per_s, mfu, peak_mem_gib, step_ms, params):
// the median of `steps` timed steps after `warmup` steps, with the reference's FLOPs and peak. With
// --attention sra the FLOPs stay the dense model's (mfu is then dense-equivalent) and the line adds
// attention, window, sinks, target_ratio and selected_ratio (the last step's, read after the timing).
struct BenchTrainOptions {
  std::string device = "cuda";
  std::string precision = "bf16";  // f32 | bf16
  int64_t d_model = 768, n_layers = 12, n_heads = 12, d_ff = 2048, seq_len = 1024, batch = 16, vocab = 32768;
  int64_t steps = 10, warmup = 3;
  // "sra": the layers but the first and the last sparse (configs/long-16k.yaml's layout), routers with
  // target ratio `ratio`, thresholds updated after every step as the trainer does.
  std::string attention = "dense";
  int64_t window = 256, sinks = 4;
  double ratio = 0.10;
  std::string loss = "fused";  // fused | unfused: Transformer::set_fused_loss (the line's "loss" field)
  // Under a launcher (--nproc-per-node, torchrun, ...): the gradients are averaged over the ranks with
  // the trainer's GradSync on this backend, timed as the phase comm_ms (docs/distributed.md).
  std::string backend = "auto";
};

int run_bench_train(const BenchTrainOptions& opt, std::ostream& out);

// `sra bench decode`: greedy decoding tokens/s and KV-cache bytes with a filled context, dense vs every
// layer SRA, the model and call of ../shared/bench/torch_reference.py `decode` (bench_decode.cpp). One JSON
// line per (context, attention).
struct BenchDecodeOptions {
  std::string device = "cuda";
  int64_t d_model = 768, n_layers = 12, n_heads = 12, d_ff = 2048, vocab = 32768;
  int64_t batch = 8, new_tokens = 64, warmup = 4;
  std::vector<int64_t> contexts;  // default 16384
  std::vector<std::string> attention = {"dense", "sra"};
  double ratio = 0.10;
  int64_t window = 256, sinks = 4;
};

int run_bench_decode(const BenchDecodeOptions& opt, std::ostream& out);

}  // namespace sra::cli
