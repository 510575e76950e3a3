// Rewards, group advantages and the REINFORCE loss (see rl/reinforce.h).
#include "rl/reinforce.h"

#include <algorithm>

#include "autograd/ops.h"
#include "core/check.h"
#include "eval/evaluate.h"

namespace sra::rl {

Baseline baseline_from_name(const std::string& name) {
  if (name == "rloo") return Baseline::kRloo;
  if (name == "mean") return Baseline::kMean;
  throw Error("[rl] unknown baseline '" + name + "' (use rloo or mean)");
}

std::vector<double> group_advantages(const std::vector<double>& rewards, int64_t group_size, Baseline b,
                                     double clip) {
  SRA_CHECK(group_size >= 2, "[rl] the group size must be >= 2, got ", group_size);
  SRA_CHECK(rewards.size() % size_t(group_size) == 0, "[rl] ", rewards.size(),
            " rewards are not whole groups of ", group_size);
  SRA_CHECK(clip >= 0, "[rl] the advantage clip must be >= 0, got ", clip);
  const size_t G = size_t(group_size);
  std::vector<double> adv(rewards.size());
  for (size_t g0 = 0; g0 < rewards.size(); g0 += G) {
    double total = 0;
    for (size_t i = 0; i < G; ++i) total += rewards[g0 + i];
    for (size_t i = 0; i < G; ++i) {
      const double r = rewards[g0 + i];
      double a = b == Baseline::kRloo ? r - (total - r) / double(G - 1) : r - total / double(G);
      if (clip > 0) a = std::clamp(a, -clip, clip);
      adv[g0 + i] = a;
    }
  }
  return adv;
}

double lambda_at(int64_t s, int64_t steps, double lambda, double lambda_final) {
  if (lambda_final < 0) return lambda;
  const double frac = steps > 1 ? double(s) / double(steps - 1) : 0.0;
  return lambda + (lambda_final - lambda) * frac;
}

RewardParts score_rollout(const std::string& dataset, const std::string& output, const std::string& gold,
                          int64_t selected, int64_t decisions, double lambda, double format_reward) {
  RewardParts p;
  p.correct = eval::score_output(dataset, output, gold).correct;
  p.formatted = output.find("####") != std::string::npos;
  p.selected_ratio = decisions > 0 ? double(selected) / double(decisions) : 0.0;
  p.task_reward = (p.correct ? 1.0 : 0.0) + (p.formatted ? format_reward : 0.0);
  p.reward = p.task_reward - lambda * p.selected_ratio;
  return p;
}

Tensor rollout_loss(const Tensor& log_prob, double advantage, const Tensor& kl, double kl_weight,
                    const Tensor& entropy, double entropy_weight, const Tensor& expected_selected,
                    double penalty_weight, double scale) {
  Tensor loss;
  auto add_term = [&](const Tensor& t, double w) {
    if (w == 0 || !t.defined() || !t.requires_grad()) return;
    Tensor term = mul(t, w * scale);
    loss = loss.defined() ? add(loss, term) : term;
  };
  add_term(log_prob, -advantage);
  add_term(kl, kl_weight);
  add_term(entropy, -entropy_weight);
  add_term(expected_selected, penalty_weight);
  return loss;
}

}  // namespace sra::rl
