// Statistics of `sra eval --compare`: paired significance of accuracy differences between rows evaluated
// on the same problems, and the threshold offset that puts an SRA model at a given selected ratio.
//
// McNemar's test (paired, two-sided) for rows A and B on the same n problems: b = problems only A
// answers correctly, c = only B. Under H0 (equal accuracy) each discordant problem is A's with
// probability 1/2, so with m = b + c:
//   exact  (m <= kMcNemarExactMax)  p = min(1, 2 · Σ_{k=0}^{min(b,c)} C(m, k) / 2^m)   (binomial, log space)
//   chi2   (m >  kMcNemarExactMax)  χ² = (|b − c| − 1)² / m (continuity-corrected), p = erfc(√(χ²/2))
//   m = 0: p = 1. Samples are paired by their problem index; rows whose problems differ are refused.
// paired_table: one line per pair of rows (i < j): both correct, only i, only j, neither, Δ accuracy
//   (j − i, points), p and the method; paired_json the same as objects.
//
// match_selected_ratio: finds d with ratio_at(d) ≈ target for a ratio that falls as the offset d rises
// (z = 1[s > θ + d]). Bracket [lo, hi] from [−1, 1], doubling each end (at most 8 times) until
// ratio_at(lo) >= target >= ratio_at(hi); then bisection until |ratio − target| <= tolerance or
// max_evaluations calls in all; returns the evaluated offset whose ratio is closest to the target, with
// every (offset, ratio) tried. A target outside [ratio(lo), ratio(hi)] after the doubling: the nearest end.
//
// calibrate_threshold_offset (--match-ratio ROW:SHIFTED): ROW's model at row_offset is evaluated on the
// calibration task (greedy, as the table's rows are) for the target, its mean selected ratio; then
// SHIFTED's model, loaded once (CPU, then `device`), has every distinct SRA router's θ set to its
// checkpoint value + d for each d that match_selected_ratio tries (tolerance max(0.001, 0.02 · target),
// at most kCalibrationEvaluations evaluations); progress lines go to `log`.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/json.h"
#include "eval/evaluate.h"

namespace sra::eval {

inline constexpr int64_t kMcNemarExactMax = 50;

struct McNemar {
  int64_t n = 0, both = 0, only_a = 0, only_b = 0, neither = 0;
  double p_value = 1;
  std::string method;  // "exact" | "chi2"
};
// p of McNemar's two-sided test for b and c discordant counts (method set to "exact" or "chi2").
double mcnemar_p(int64_t b, int64_t c, std::string* method = nullptr);
// a[i], b[i]: problem i answered correctly by A and by B (same length).
McNemar mcnemar(const std::vector<bool>& a, const std::vector<bool>& b);
McNemar mcnemar(const EvalResult& a, const EvalResult& b);  // "[eval] ..." if their problems differ

std::string paired_table(const std::vector<EvalResult>& rows);  // Markdown, "" for fewer than two rows
Json paired_json(const std::vector<EvalResult>& rows);

struct RatioMatch {
  double offset = 0, ratio = 0, target = 0;
  std::vector<std::pair<double, double>> tried;  // (offset, ratio) in call order
  Json to_json() const;
};
RatioMatch match_selected_ratio(const std::function<double(double offset)>& ratio_at, double target,
                                double tolerance, int max_evaluations);

inline constexpr int kCalibrationEvaluations = 14;
RatioMatch calibrate_threshold_offset(const std::string& row_checkpoint, double row_offset,
                                      const EvalTask& row_task, const std::string& shifted_checkpoint,
                                      const EvalTask& shifted_task, int64_t max_new_tokens, int64_t batch,
                                      const Device& device, std::ostream& log);

}  // namespace sra::eval
