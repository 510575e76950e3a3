// Paired tests and selected-ratio matching for `sra eval --compare` (see compare.h).
#include "eval/compare.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ostream>

#include "core/check.h"
#include "model/router.h"

namespace sra::eval {

namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string cell_label(const std::string& label) {
  std::string s = label;
  for (char& ch : s)
    if (ch == '|') ch = '/';
  return s;
}

}  // namespace

double mcnemar_p(int64_t b, int64_t c, std::string* method) {
  SRA_CHECK(b >= 0 && c >= 0, "[eval] McNemar: negative counts ", b, ", ", c);
  const int64_t m = b + c;
  if (m <= kMcNemarExactMax) {
    if (method) *method = "exact";
    if (m == 0) return 1.0;
    const int64_t k_max = std::min(b, c);
    double tail = 0;  // Σ_{k <= k_max} C(m, k) 2^-m, each term in log space
    for (int64_t k = 0; k <= k_max; ++k)
      tail += std::exp(std::lgamma(double(m + 1)) - std::lgamma(double(k + 1)) -
                       std::lgamma(double(m - k + 1)) - double(m) * std::log(2.0));
    return std::min(1.0, 2.0 * tail);
  }
  if (method) *method = "chi2";
  const double d = std::max(0.0, std::fabs(double(b - c)) - 1.0);
  const double chi2 = d * d / double(m);
  return std::erfc(std::sqrt(chi2 / 2.0));
}

McNemar mcnemar(const std::vector<bool>& a, const std::vector<bool>& b) {
  SRA_CHECK(a.size() == b.size(), "[eval] McNemar: ", a.size(), " and ", b.size(), " answers");
  McNemar r;
  r.n = int64_t(a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] && b[i]) ++r.both;
    if (a[i] && !b[i]) ++r.only_a;
    if (!a[i] && b[i]) ++r.only_b;
    if (!a[i] && !b[i]) ++r.neither;
  }
  r.p_value = mcnemar_p(r.only_a, r.only_b, &r.method);
  return r;
}

McNemar mcnemar(const EvalResult& a, const EvalResult& b) {
  SRA_CHECK(a.samples.size() == b.samples.size(), "[eval] McNemar: '", a.label, "' has ", a.samples.size(),
            " samples and '", b.label, "' ", b.samples.size());
  std::vector<bool> ca, cb;
  for (size_t i = 0; i < a.samples.size(); ++i) {
    SRA_CHECK(a.samples[i].index == b.samples[i].index, "[eval] McNemar: '", a.label, "' and '", b.label,
              "' were evaluated on different problems (sample ", i, ": ", a.samples[i].index, " vs ",
              b.samples[i].index, ")");
    ca.push_back(a.samples[i].score.correct);
    cb.push_back(b.samples[i].score.correct);
  }
  return mcnemar(ca, cb);
}

std::string paired_table(const std::vector<EvalResult>& rows) {
  if (rows.size() < 2) return "";
  std::string s =
      "| A | B | n | both correct | only A | only B | neither | Δ accuracy (B − A) | p (McNemar) |\n"
      "|---|---|---|---|---|---|---|---|---|\n";
  for (size_t i = 0; i < rows.size(); ++i) {
    for (size_t j = i + 1; j < rows.size(); ++j) {
      const McNemar m = mcnemar(rows[i], rows[j]);
      const double delta = m.n == 0 ? 0.0 : 100.0 * double(m.only_b - m.only_a) / double(m.n);
      s += "| " + cell_label(rows[i].label) + " | " + cell_label(rows[j].label) + " | " +
           std::to_string(m.n) + " | " + std::to_string(m.both) + " | " + std::to_string(m.only_a) + " | " +
           std::to_string(m.only_b) + " | " + std::to_string(m.neither) + " | " + fmt("%+.1f", delta) +
           " | " + fmt("%.3g", m.p_value) + " (" + m.method + ") |\n";
    }
  }
  return s;
}

Json paired_json(const std::vector<EvalResult>& rows) {
  Json all = Json::array();
  for (size_t i = 0; i < rows.size(); ++i) {
    for (size_t j = i + 1; j < rows.size(); ++j) {
      const McNemar m = mcnemar(rows[i], rows[j]);
      all.push_back(Json::object({{"a", rows[i].label},
                                  {"b", rows[j].label},
                                  {"n", m.n},
                                  {"both", m.both},
                                  {"only_a", m.only_a},
                                  {"only_b", m.only_b},
                                  {"neither", m.neither},
                                  {"p_value", m.p_value},
                                  {"method", m.method}}));
    }
  }
  return all;
}

Json RatioMatch::to_json() const {
  Json t = Json::array();
  for (const auto& [d, r] : tried) t.push_back(Json::array({Json(d), Json(r)}));
  return Json::object({{"offset", offset}, {"ratio", ratio}, {"target", target}, {"tried", t}});
}

RatioMatch match_selected_ratio(const std::function<double(double offset)>& ratio_at, double target,
                                double tolerance, int max_evaluations) {
  SRA_CHECK(max_evaluations >= 1, "[eval] match_selected_ratio: max_evaluations must be >= 1");
  SRA_CHECK(std::isfinite(target) && tolerance >= 0, "[eval] match_selected_ratio: bad target ", target,
            " or tolerance ", tolerance);
  RatioMatch m;
  m.target = target;
  auto eval_at = [&](double d) {
    const double r = ratio_at(d);
    m.tried.emplace_back(d, r);
    if (m.tried.size() == 1 || std::fabs(r - target) < std::fabs(m.ratio - target)) m.offset = d, m.ratio = r;
    return r;
  };
  auto budget = [&] { return int(m.tried.size()) < max_evaluations; };
  auto done = [&] { return std::fabs(m.ratio - target) <= tolerance; };
  // bracket: lo has ratio >= target, hi has ratio <= target (ratio falls as d rises)
  double lo = 0, hi = 0;
  const double r0 = eval_at(0.0);
  if (r0 > target) {
    hi = 1;
    for (int k = 0; k < 8 && budget() && !done() && eval_at(hi) > target; ++k) lo = hi, hi *= 2;
  } else {
    lo = -1;
    for (int k = 0; k < 8 && budget() && !done() && eval_at(lo) < target; ++k) hi = lo, lo *= 2;
  }
  while (budget() && !done()) {
    const double mid = 0.5 * (lo + hi);
    if (eval_at(mid) > target) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return m;
}

namespace {

// Distinct SRA routers of m (a shared router once) with their thresholds now.
std::vector<std::pair<Router*, double>> router_thresholds(Transformer& m) {
  std::vector<std::pair<Router*, double>> out;
  for (Router* r : m.sra_routers()) {
    bool seen = false;
    for (const auto& [q, theta] : out) seen = seen || q == r;
    if (!seen) out.emplace_back(r, r->threshold());
  }
  return out;
}

void set_offset(const std::vector<std::pair<Router*, double>>& base, double offset) {
  for (const auto& [r, theta] : base) r->set_threshold(theta + offset);
}

}  // namespace

RatioMatch calibrate_threshold_offset(const std::string& row_checkpoint, double row_offset,
                                      const EvalTask& row_task, const std::string& shifted_checkpoint,
                                      const EvalTask& shifted_task, int64_t max_new_tokens, int64_t batch,
                                      const Device& device, std::ostream& log) {
  double target = 0;
  {
    EvalModel row = load_eval_model(row_checkpoint);
    SRA_CHECK(!row.model->sra_routers().empty(), "[config] --match-ratio: ", row_checkpoint,
              " has no SRA layers (its selected ratio is 0)");
    set_offset(router_thresholds(*row.model), row_offset);
    row.model->to(device);
    target = evaluate(*row.model, row.tokenizer, row_task, max_new_tokens, batch).selected_ratio;
  }
  log << "[eval] --match-ratio: " << row_checkpoint << " selects " << fmt("%.4f", target) << " on "
      << row_task.problems.size() << " calibration problems\n";
  EvalModel shifted = load_eval_model(shifted_checkpoint);
  SRA_CHECK(!shifted.model->sra_routers().empty(), "[config] --match-ratio: ", shifted_checkpoint,
            " has no SRA layers (no threshold to shift)");
  const auto base = router_thresholds(*shifted.model);
  shifted.model->to(device);
  auto ratio_at = [&](double d) {
    set_offset(base, d);
    const double r =
        evaluate(*shifted.model, shifted.tokenizer, shifted_task, max_new_tokens, batch).selected_ratio;
    log << "[eval] --match-ratio: offset " << fmt("%+.4f", d) << " -> selected " << fmt("%.4f", r) << "\n";
    log.flush();
    return r;
  };
  RatioMatch m =
      match_selected_ratio(ratio_at, target, std::max(0.001, 0.02 * target), kCalibrationEvaluations);
  log << "[eval] --match-ratio: offset " << fmt("%+.4f", m.offset) << " selects " << fmt("%.4f", m.ratio)
      << " (target " << fmt("%.4f", target) << ", " << m.tried.size() << " evaluations)\n";
  return m;
}

}  // namespace sra::eval
