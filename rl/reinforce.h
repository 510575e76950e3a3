// REINFORCE with a group baseline: rewards, advantages and the per-rollout loss (docs/sra.md, "RL").
//
// Reward of a rollout with output text y (cut at the prompt format's stop strings), gold answer g and
// router decisions z (all SRA layers × all fed tokens, N of them):
//   r = 1[y is correct: eval::score_output — for gsm8k and synthetic the strict "#### X" extraction of y
//         matches g (eval/answer_gsm8k.h)] − λ·(Σ z)/N + format_reward·1[y contains "####"]
// Dividing by N makes the penalty a selected *ratio*: shorter answers do not buy a lower penalty.
// λ_s = λ + (λ_final − λ)·s/(steps − 1) (linear; λ_final < 0 means λ_final = λ).
//
// Advantages, per group of G rollouts of one prompt (rewards laid out group by group):
//   rloo  A_i = r_i − (1/(G−1)) Σ_{k≠i} r_k    (leave-one-out: E[A_i ∇log π_i] = ∇E[r], unbiased)
//   mean  A_i = r_i − (1/G) Σ_k r_k             (Dr. GRPO, no std normalisation) = (G−1)/G · A_i^rloo
//   then, when clip > 0, A_i ← clamp(A_i, −clip, clip).
// Loss of one step over R = prompts · G rollouts (each term a sum over the rollout's decisions):
//   L = (1/R) Σ_i [ −A_i·log π_i + β·KL_i − η·H_i ]
// so ∇L = −(1/R) Σ_i A_i ∇log π_i + ..., the REINFORCE estimate of −∇E[r] (β = η = 0).
//
// rl.penalty_gradient "expected" (default "reinforce" above): the advantages come from the rewards
// without the λ term, and the penalty enters the loss through its expectation over the decisions,
//   L_i += (λ/N_i)·Σ_j p_j          (E[Σ_j z_j] = Σ_j p_j, p_j = σ(x_j) on the rollout's states)
// so its gradient (λ/N)·Σ_j ∇p_j is exact instead of sampled: no variance from the penalty, which
// otherwise gives every one of the rollout's ~N decisions the same noisy ±λ·(ratio − baseline)
// credit. It leaves out how a decision moves later tokens' scores (through the hidden states): a
// second-order path the score-function estimate would include; with it gone the penalty term pushes
// each score down in proportion to σ'(x_j), hardest on the tokens nearest the threshold.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace sra::rl {

enum class Baseline { kRloo, kMean };
Baseline baseline_from_name(const std::string& name);  // "rloo" | "mean"; else "[rl] ..." error

// rewards.size() must be a multiple of group_size (>= 2).
std::vector<double> group_advantages(const std::vector<double>& rewards, int64_t group_size, Baseline b,
                                     double clip = 0.0);

// λ at step s (0-based) of `steps`.
double lambda_at(int64_t s, int64_t steps, double lambda, double lambda_final);

struct RewardParts {
  bool correct = false;
  bool formatted = false;  // the output contains "####"
  double selected_ratio = 0;
  // the accuracy and format terms (the advantages' reward for penalty_gradient expected)
  double task_reward = 0;
  double reward = 0;  // task_reward − λ·selected_ratio
};
// dataset: "synthetic" or "gsm8k" (eval::score_output's names).
RewardParts score_rollout(const std::string& dataset, const std::string& output, const std::string& gold,
                          int64_t selected, int64_t decisions, double lambda, double format_reward);

// scale·(−advantage·log_prob + kl_weight·kl − entropy_weight·entropy + penalty_weight·expected_selected);
// kl / entropy / expected_selected may be undefined when their weight is 0 (penalty_weight = λ/N for
// penalty_gradient "expected", else 0). Returns an undefined tensor when nothing in it depends on a
// parameter.
Tensor rollout_loss(const Tensor& log_prob, double advantage, const Tensor& kl, double kl_weight,
                    const Tensor& entropy, double entropy_weight, const Tensor& expected_selected,
                    double penalty_weight, double scale);

}  // namespace sra::rl
