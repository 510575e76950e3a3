// eval/compare.h: McNemar's paired test (exact binomial and continuity-corrected chi-square) and the
// bisection that matches a selected ratio by a threshold offset.
#include <doctest/doctest.h>

#include <cmath>

#include "eval/compare.h"

using namespace sra::eval;

TEST_CASE("compare: McNemar's p, exact for few discordant answers, chi-square beyond") {
  std::string method;
  CHECK(mcnemar_p(0, 0, &method) == 1.0);
  CHECK(method == "exact");
  CHECK(mcnemar_p(0, 6) == doctest::Approx(2.0 / 64));           // both tails of Binomial(6, 1/2)
  CHECK(mcnemar_p(1, 9) == doctest::Approx(2.0 * 11.0 / 1024));  // C(10,0) + C(10,1)
  CHECK(mcnemar_p(9, 1) == doctest::Approx(mcnemar_p(1, 9)));    // symmetric
  CHECK(mcnemar_p(5, 5) == 1.0);                                 // capped at 1
  CHECK(mcnemar_p(10, 50, &method) == doctest::Approx(4.78e-7).epsilon(0.02));  // χ² = 39² / 60
  CHECK(method == "chi2");
  CHECK(mcnemar_p(30, 31) == doctest::Approx(1.0));  // (|1| − 1)² = 0

  McNemar m = mcnemar({true, true, false, false, true}, {true, false, true, false, false});
  CHECK(m.n == 5);
  CHECK(m.both == 1);
  CHECK(m.only_a == 2);
  CHECK(m.only_b == 1);
  CHECK(m.neither == 1);
  CHECK(m.p_value == doctest::Approx(1.0));
  CHECK_THROWS(mcnemar({true}, {true, false}));
}

TEST_CASE("compare: paired rows must be the same problems") {
  EvalResult a, b;
  a.label = "A", b.label = "B";
  for (int i = 0; i < 3; ++i) {
    EvalSample s;
    s.index = i;
    s.score.correct = i != 0;
    a.samples.push_back(s);
    s.score.correct = true;
    s.index = i == 2 ? 7 : i;
    b.samples.push_back(s);
  }
  CHECK_THROWS_WITH(mcnemar(a, b), doctest::Contains("different problems"));
  b.samples[2].index = 2;
  CHECK(mcnemar(a, b).only_b == 1);
  const std::string t = paired_table({a, b});
  CHECK(t.find("| A | B | 3 | 2 | 0 | 1 | 0 | +33.3 | 1 (exact) |") != std::string::npos);
  CHECK(paired_json({a, b})[0]["only_b"].as_int() == 1);
  CHECK(paired_table({a}).empty());
}

TEST_CASE("compare: match_selected_ratio finds the offset of a target ratio by bracketing and bisection") {
  int calls = 0;
  auto ratio = [&](double d) {  // falls from 1 to 0 as d rises, 0.5 at d = 3
    ++calls;
    return 1.0 / (1.0 + std::exp(d - 3.0));
  };
  RatioMatch m = match_selected_ratio(ratio, 0.2, 0.002, 30);
  CHECK(std::fabs(m.ratio - 0.2) <= 0.002);
  CHECK(m.offset == doctest::Approx(3.0 + std::log(4.0)).epsilon(0.01));
  CHECK(int(m.tried.size()) == calls);
  // negative offsets when the target is above ratio(0)
  m = match_selected_ratio(ratio, 0.99, 0.001, 30);
  CHECK(m.offset < -1.0);
  CHECK(std::fabs(m.ratio - 0.99) <= 0.001);
  // the evaluation budget is a hard cap; the closest point tried is returned
  calls = 0;
  m = match_selected_ratio(ratio, 0.2, 0.0, 5);
  CHECK(calls == 5);
  for (const auto& [d, r] : m.tried) CHECK(std::fabs(m.ratio - 0.2) <= std::fabs(r - 0.2));
  // an unreachable target: the nearest end
  m = match_selected_ratio([](double) { return 0.5; }, 0.1, 0.001, 12);
  CHECK(m.ratio == 0.5);
  CHECK(m.tried.size() == 12);
}
