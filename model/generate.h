// Generation with a KV cache for dense and SRA models, on CPU, in eval mode and without autograd.
//
// decode_step feeds one token at the cache's next position through every layer exactly as
// DecoderLayer::forward does (the same ops on a (1, 1) input), appends its post-RoPE k, v (and, in SRA
// layers, its eval-mode selection z = 1[s > θ] from the router applied to the layer's input) to the cache,
// and attends to the cached set: all earlier tokens (dense) or sinks ∪ window ∪ critical (SRA, gate = 1).
// Selection is causal (docs/sra.md), so the logits equal those of one full forward pass at every position.
// prefill feeds a prompt token by token through the same step (logits only for the last token).
//
// Sampling: temperature 0 = greedy (argmax, lowest id on ties); else softmax(logits / temperature),
// then top-k (k largest, 0 = off), then top-p (the smallest set of most likely tokens whose probability
// reaches top_p, 1 = off), renormalised; one uniform per token from the counter-based
// Generator(seed, stream = index of the sequence in the batch), so a seed reproduces a run.
// Stopping: eos_id; stop_sequences (token-id sequences matched at the end of the generated ids);
// stop_strings, checked on decode(generated ids) when a decoder is given (stop strings without a
// decoder are an error). The token that stops generation is kept in `ids`.
// Batches: each sequence has its own cache and is generated on its own (a loop), so a prompt gives the
// same result alone or in a batch (same stream index).
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "model/flops.h"
#include "model/kv_cache.h"
#include "model/transformer.h"

namespace sra {

struct SamplingConfig {
  double temperature = 0.0;  // 0 = greedy
  int64_t top_k = 0;         // 0 = off
  double top_p = 1.0;        // 1 = off
  uint64_t seed = 0;
};

struct GenerateConfig {
  SamplingConfig sampling;
  int64_t max_new_tokens = 32;
  int64_t eos_id = -1;  // < 0: none
  std::vector<std::vector<int64_t>> stop_sequences;
  std::vector<std::string> stop_strings;
  std::function<std::string(const std::vector<int64_t>&)> decode;  // needed by stop_strings
};

// What the routers decided for one fed token (the audit trail): one entry per SRA layer, in layer order.
struct TokenAudit {
  int64_t position = 0;
  int64_t token = 0;
  std::vector<uint8_t> critical;
  std::vector<double> scores;
};

struct StepResult {
  std::vector<double> logits;  // (V), empty when not requested
  TokenAudit audit;
  MacCount macs;  // of this step
};

struct SequenceResult {
  int64_t prompt_length = 0;
  std::vector<int64_t> ids;       // generated tokens (the stopping token included)
  std::vector<TokenAudit> audit;  // every fed token: the prompt, then each generated token but the last
  std::string finish_reason;      // "eos", "stop" or "length"
  int64_t cache_bytes = 0;        // at the end
  MacCount prefill_macs, decode_macs;
};

// One token at position cache.length(). The model must be in eval mode.
StepResult decode_step(Transformer& m, KVCache& cache, int64_t token, bool want_logits = true);
// Feeds the prompt (non-empty); returns the last token's step (with logits); appends every token's
// audit to `audit` when given.
StepResult prefill(Transformer& m, KVCache& cache, const std::vector<int64_t>& prompt,
                   std::vector<TokenAudit>* audit = nullptr, MacCount* macs = nullptr);

// The distribution sampled from (after temperature, top-k, top-p; zeros outside the kept set).
// temperature must be > 0.
std::vector<double> sampling_distribution(const std::vector<double>& logits, const SamplingConfig& s);
int64_t sample_token(const std::vector<double>& logits, const SamplingConfig& s, Generator& gen);

// Switches the model to eval mode for the call (restoring its mode after) and runs under NoGradGuard.
std::vector<SequenceResult> generate(Transformer& m, const std::vector<std::vector<int64_t>>& prompts,
                                     const GenerateConfig& cfg);

}  // namespace sra
