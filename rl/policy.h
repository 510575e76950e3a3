// The RL stage's policy: the routers' selection decisions as independent Bernoulli draws (docs/sra.md,
// "RL: the router as a policy").
//
// For every fed token j (prompt and generated) and every SRA layer l, in layer order:
//   x_lj = (s_lj − θ_l) / τ          s the router score of the layer's input (causal: it depends on the
//                                    tokens ≤ j and on the decisions of earlier layers), θ_l the router's
//                                    threshold buffer (fixed during RL), τ the policy temperature
//   z_lj ~ Bernoulli(p_lj),  p_lj = σ(x_lj)
// Per rollout (sums over l and j; σ(−x) = 1 − σ(x); q = σ(x⁰) the initial router's probability on the
// same state):
//   log π(z)  = Σ z log σ(x) + (1 − z) log σ(−x)        = Σ log σ(x) − (1 − z)·x
//   H         = Σ −p log p − (1 − p) log(1 − p)          = Σ −log σ(x) + (1 − p)·x
//   KL(π‖π⁰)  = Σ p log(p/q) + (1 − p) log((1−p)/(1−q))  = Σ log σ(x) − log σ(x⁰) − (1 − p)·(x − x⁰)
// with the stable log σ(x) = −relu(−x) − log(1 + exp(−|x|)), |x| = relu(x) + relu(−x) (existing ops,
// differentiable in x; x⁰ is a constant).
//
// Sampling (rollouts): z = 1[u < p], u ∈ (0, 1) from Philox(key = `key`, stream = the sequence's index
// in the batch given to generate(), counter = position · n_sra_layers + sra_layer). A decision depends only
// on (key, sequence, position, layer) and the score, never on the order of evaluation, so a step's
// rollouts are reproducible and resumable: the trainer derives `key` from (rl.seed, step).
//
// Replay (gradients): one full forward pass over the fed tokens (the prompt, then every generated token
// but the last) with Transformer::run(ids, {}, &forced), forced = the rollout's decisions (one (1, T) u8
// tensor per SRA layer, from the audit trail). Selection is causal, so the replay's hidden states, logits
// and scores equal the decode-time ones (up to float rounding); the scores come out differentiable. The
// hidden states depend on the routers only through the discrete decisions, so ∇ log π computed on the
// replay is exactly the score-function gradient. With the LM trained too (answer tokens sampled at
// temperature T), log π also gets Σ_k log softmax(logits_{P−1+k} / T)[a_k] over the generated tokens a_k.
// The replay runs on the policy's device (the reference must be on the same one): token ids, positions
// and decisions are copied there once per rollout.
#pragma once
#include <cstdint>
#include <vector>

#include "autograd/ops.h"
#include "model/generate.h"
#include "model/transformer.h"

namespace sra::rl {

// A 64-bit mix of (a, b) (splitmix64 finaliser over a ⊕ golden·(b + 1)); keys derived from seeds.
uint64_t mix_key(uint64_t a, uint64_t b);

// The uniform draw of decision (sequence, position, sra_layer) under `key`.
double decision_uniform(uint64_t key, uint64_t sequence, int64_t position, size_t sra_layer,
                        size_t n_sra_layers);
// p = σ((s − θ)/τ) from the context's score, threshold and temperature.
double decision_probability(const SelectionContext& ctx);
// The sampling policy for generate(): z = 1[decision_uniform(...) < decision_probability(ctx)]. It answers
// from its SelectionContext alone, so GenerateConfig::select_stateless may be set (one-pass prefill).
SelectionFn sampling_policy(uint64_t key, size_t n_sra_layers);

// Sets τ on every router (the value SelectionContext::temperature reports during generation).
void set_router_temperature(Transformer& m, double tau);

// Stable log σ(x), elementwise.
Tensor log_sigmoid(const Tensor& x);
// Σ over all elements; x the logits (s − θ)/τ, z u8 decisions of the same shape; 0-d results.
Tensor bernoulli_log_prob(const Tensor& x, const Tensor& z);
Tensor bernoulli_entropy(const Tensor& x);
Tensor bernoulli_expected_count(const Tensor& x);  // Σ σ(x): the expected number of selected decisions
Tensor bernoulli_kl(const Tensor& x, const Tensor& x_ref);  // KL(σ(x) ‖ σ(x_ref)); x_ref no gradient

// The fed tokens of a generated sequence (from its audit trail) and its decisions: one (1, T) u8 tensor
// per SRA layer, on `device`. T = prompt + generated − 1 (the last generated token is never fed).
std::vector<int64_t> fed_tokens(const SequenceResult& r);
std::vector<Tensor> rollout_decisions(const SequenceResult& r, Device device = Device::cpu());
// Selected decisions and all decisions (SRA layers × fed tokens) of a rollout.
std::pair<int64_t, int64_t> decision_counts(const SequenceResult& r);

struct ReplayOptions {
  double tau = 1.0;                 // the policy temperature
  bool answer_log_prob = false;     // add the generated tokens' log-probs (router + LM training)
  double answer_temperature = 1.0;  // the temperature they were sampled at
};

struct Replay {
  Tensor log_prob;             // 0-d: log π of the decisions (+ answer tokens with answer_log_prob)
  Tensor entropy;              // 0-d: Σ of the per-decision entropies
  Tensor kl;                   // 0-d: Σ of the per-decision KL to the reference (undefined without one)
  Tensor expected_selected;    // 0-d: Σ of the decisions' probabilities p = σ(x)
  Tensor logits;               // (1, T, V)
  std::vector<Tensor> scores;  // per SRA layer, (1, T)
  int64_t decisions = 0;       // SRA layers × T
};

// Replays a rollout of `policy` (see above); `ref` (optional, e.g. the initial model) is run on the same
// tokens and decisions without gradients for the KL term. Runs in the models' current modes.
Replay replay_rollout(Transformer& policy, Transformer* ref, const SequenceResult& r, const ReplayOptions& o);

}  // namespace sra::rl
