// Generation with a KV cache for dense and SRA models, on the model's device, in eval mode and without
// autograd.
//
// decode_step feeds one token at the cache's next position through every layer exactly as
// DecoderLayer::forward does (the same ops on a (1, 1) input), appends its post-RoPE k, v (and, in SRA
// layers, its eval-mode selection z = 1[s > θ] from the router applied to the layer's input) to the cache,
// and attends to the cached set: all earlier tokens (dense) or sinks ∪ window ∪ critical (SRA, gate = 1).
// Selection is causal (docs/sra.md), so the logits equal those of one full forward pass at every position.
// decode_batch does the same for B sequences at once, each with its own cache and position: the
// matrix products (projections, MLP, router, lm_head) run over B rows and attention is one
// decode_attention launch per layer over every sequence's cache parts (no copy of the caches); every
// row equals decode_step on that sequence up to float rounding.
// prefill feeds a prompt and returns the last token's step (with logits). On an empty cache and without
// a SelectionFn it runs one full forward pass over the prompt (the ops of Transformer::run, eval mode)
// and fills the cache from its k, v and selections: the same logits, audit and MAC counts as feeding
// the prompt token by token through decode_step, up to float rounding (a router score within rounding
// of θ may decide differently). With a SelectionFn, or on a non-empty cache, it feeds the prompt token
// by token through decode_step (the hook is called position by position, SRA layers in order).
//
// Sampling: temperature 0 = greedy (argmax, lowest id on ties); else softmax(logits / temperature),
// then top-k (k largest, 0 = off), then top-p (the smallest set of most likely tokens whose probability
// reaches top_p, 1 = off), renormalised; one uniform per token from the counter-based
// Generator(seed, stream = index of the sequence in the batch), so a seed reproduces a run.
// Stopping: eos_id; stop_sequences (token-id sequences matched at the end of the generated ids);
// stop_strings, checked on decode(generated ids) when a decoder is given (stop strings without a
// decoder are an error). The token that stops generation is kept in `ids`.
// Batches: generate() takes the prompts in groups of cfg.batch (0 = all at once): each prompt is
// prefilled on its own cache, then the group's unfinished sequences are decoded together, one
// decode_batch per step. A prompt gives the same result alone or in a batch (same stream index; equal
// up to float rounding of the batched products). With cfg.select set (and not select_stateless), every
// sequence is generated on its own, token by token: the hook sees sequence 0 to the end, then sequence 1,
// ..., each token's SRA layers in order.
// Devices: everything runs on the model's device (that of its embedding): token ids and positions are
// copied there, the KV caches live there, and the host reads back once per decode step: every SRA
// layer's router scores (B per layer), with the logits (B·V, sampling) or only their argmax (B ids,
// greedy). z of the step's tokens is decided on the host from those scores (z = 1[s > θ], or the
// SelectionFn) after the step: a token is inside its own window, so its z matters from the next step on
// (model/kv_cache.h, set_critical). A one-pass prefill reads back once too (z = 1[s > θ] decided on the
// device, scores, z and the last logits together); with a SelectionFn, also each SRA layer's scores before
// the layer's attention, for the hook. θ and τ are read once per call (generate, decode_batch, prefill).
// Greedy ties go to the lowest id (a NaN logit wins).
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

// Selection policy hook: decides z for one token in one SRA layer (default, no hook: z = 1[s > θ]).
// The RL stage samples z ~ Bernoulli(σ((s − θ)/τ)) here. `sequence` is the prompt's index in the batch
// given to generate() (for decode_step / prefill called directly: their `sequence` argument, default 0;
// decode_batch: sequences[b], default b).
struct SelectionContext {
  size_t sequence = 0;
  size_t sra_layer = 0;  // index among the SRA layers (0 = the first SRA layer)
  int64_t position = 0;
  double score = 0;        // router score s
  double threshold = 0;    // the router's θ
  double temperature = 1;  // the router's τ
};
using SelectionFn = std::function<bool(const SelectionContext&)>;

struct GenerateConfig {
  SamplingConfig sampling;
  int64_t max_new_tokens = 32;
  int64_t eos_id = -1;  // < 0: none
  std::vector<std::vector<int64_t>> stop_sequences;
  std::vector<std::string> stop_strings;
  std::function<std::string(const std::vector<int64_t>&)> decode;  // needed by stop_strings
  SelectionFn select;                                              // empty: deterministic z = 1[s > θ]
  // Called with every generated token as it is accepted (stopping token included), before the next
  // decode step; `sequence` is the prompt's index. For streaming output; may be empty.
  std::function<void(size_t sequence, int64_t token)> on_token;

  // true: `select` answers from its SelectionContext alone (e.g. counter-based random draws), so the calls
  // may come in any order: generate then prefills in one pass (the hook called layer by layer, positions
  // ascending) and decodes the sequences together, as without a hook.
  bool select_stateless = false;
  int64_t batch = 8;  // sequences decoded together (0 = all prompts at once); results do not depend on it
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
  double prefill_ms = 0;  // wall time of this sequence's prefill
  double decode_ms = 0;   // wall time of the decode steps (shared by its group) up to its last token
};

// One token at position cache.length(). The model must be in eval mode.
StepResult decode_step(Transformer& m, KVCache& cache, int64_t token, bool want_logits = true,
                       const SelectionFn* select = nullptr, size_t sequence = 0);
// tokens[b] at position caches[b]->length() for every b (B >= 1 distinct caches); sequences[b] (optional,
// default b) is the index the SelectionFn sees. Returns one step per sequence.
std::vector<StepResult> decode_batch(Transformer& m, const std::vector<KVCache*>& caches,
                                     const std::vector<int64_t>& tokens, bool want_logits = true,
                                     const SelectionFn* select = nullptr,
                                     const std::vector<size_t>* sequences = nullptr);
// decode_batch reading back only each row's next greedy token (the logits' argmax, lowest id on ties,
// taken on the device) instead of B·V logits.
std::vector<int64_t> decode_batch_greedy(Transformer& m, const std::vector<KVCache*>& caches,
                                         const std::vector<int64_t>& tokens);
// Feeds the prompt (non-empty); returns the last token's step (with logits); appends every token's
// audit to `audit` and adds the prompt's multiply-adds to `macs` when given.
StepResult prefill(Transformer& m, KVCache& cache, const std::vector<int64_t>& prompt,
                   std::vector<TokenAudit>* audit = nullptr, MacCount* macs = nullptr,
                   const SelectionFn* select = nullptr, size_t sequence = 0);

// The distribution sampled from (after temperature, top-k, top-p; zeros outside the kept set).
// temperature must be > 0.
std::vector<double> sampling_distribution(const std::vector<double>& logits, const SamplingConfig& s);
int64_t sample_token(const std::vector<double>& logits, const SamplingConfig& s, Generator& gen);

// Where the model runs: its embedding's device (Module::to moves every parameter and buffer together).
Device model_device(const Transformer& m);

// Switches the model to eval mode for the call (restoring its mode after) and runs under NoGradGuard.
std::vector<SequenceResult> generate(Transformer& m, const std::vector<std::vector<int64_t>>& prompts,
                                     const GenerateConfig& cfg);

}  // namespace sra
