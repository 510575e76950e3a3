// Tests for data/jsonl, data/example, data/math_datasets, data/synthetic and data/packing: JSONL
// file:line errors and skip_bad_lines; GSM8K / MATH loading from the real files and their tokenized
// loss masks; the synthetic generator (determinism, hop counts, answers and hops recomputed by parsing
// the prompt text, critical spans, split disjointness, critical-token flags); packing into rows, batches,
// token shard round trips and corruption errors; the sampler (permutations, rank slices, cursor resume).
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "data/example.h"
#include "data/jsonl.h"
#include "data/math_datasets.h"
#include "data/packing.h"
#include "data/synthetic.h"
#include "data_test_util.h"

using namespace sra;
using sra::testing::error_of;
using sra::testing::slurp;
using sra::testing::temp_dir;
using sra::testing::write_text;

namespace {

std::string data_file(const std::string& rel) {
  return resolve_data_dir("") + "/" + rel;
}

}  // namespace

// ---- JSONL -------------------------------------------------------------------------------------

TEST_CASE("data: jsonl reads values with line numbers, skips blank lines, CR and a BOM") {
  auto dir = temp_dir("jsonl");
  auto path = (dir / "a.jsonl").string();
  write_text(path, "\xEF\xBB\xBF{\"a\": 1}\r\n\n  \t\n[1, 2]\n\"s\"");
  std::vector<int64_t> lines;
  std::vector<Json> values;
  JsonlStats st = for_each_jsonl(path, [&](const Json& v, int64_t line) {
    values.push_back(v);
    lines.push_back(line);
  });
  CHECK(lines == std::vector<int64_t>{1, 4, 5});
  REQUIRE(values.size() == 3);
  CHECK(values[0]["a"].as_int() == 1);
  CHECK(values[1].size() == 2);
  CHECK(values[2].as_string() == "s");
  CHECK(st.lines == 3);
  CHECK(st.good == 3);
  CHECK(st.bad == 0);
  CHECK(st.summary(path).empty());
  CHECK(read_jsonl(path).size() == 3);
  CHECK(error_of([&] { read_jsonl((dir / "none.jsonl").string()); }) ==
        "[data] cannot open '" + (dir / "none.jsonl").string() + "'");
}

TEST_CASE("data: a malformed jsonl line is FILE:LINE, fatal by default, counted with skip_bad_lines") {
  auto dir = temp_dir("jsonl_bad");
  auto path = (dir / "b.jsonl").string();
  write_text(path, "{\"a\": 1}\n{\"a\": 2}\n{\"a\": \n{\"a\": 4}\n\nnot json\n{\"a\": 6}\n");
  std::string msg = error_of([&] { read_jsonl(path); });
  CHECK(msg.find("[data] " + path + ":3: [json] ") == 0);
  JsonlOptions opt;
  opt.skip_bad_lines = true;
  JsonlStats st;
  std::vector<Json> v = read_jsonl(path, opt, &st);
  REQUIRE(v.size() == 4);
  CHECK(v[3]["a"].as_int() == 6);
  CHECK(st.lines == 6);
  CHECK(st.good == 4);
  CHECK(st.bad == 2);
  REQUIRE(st.errors.size() == 2);
  CHECK(st.errors[0].find("[data] " + path + ":3: ") == 0);
  CHECK(st.errors[1].find("[data] " + path + ":6: ") == 0);
  CHECK(st.summary(path).find("[data] " + path + ": skipped 2 bad line(s) of 6; first: [data] " + path +
                              ":3:") == 0);
}

// ---- GSM8K / MATH ------------------------------------------------------------------------------

TEST_CASE("data: GSM8K train and test load into prompt/target/answer examples") {
  LoadedExamples train = load_gsm8k(data_file("gsm8k/train.jsonl"));
  CHECK(train.examples.size() == 7473);
  CHECK(train.stats.bad == 0);
  const TextExample& ex = train.examples[0];
  CHECK(ex.prompt ==
        "Question: Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in "
        "May. "
        "How many clips did Natalia sell altogether in April and May?\nAnswer:");
  CHECK(ex.target ==
        " Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips "
        "altogether "
        "in April and May.\n#### 72");
  CHECK(ex.answer == "72");
  CHECK(ex.critical.empty());
  for (const TextExample& e : train.examples) {
    REQUIRE(!e.answer.empty());
    REQUIRE(e.target.ends_with(e.answer));
  }
  LoadedExamples test = load_gsm8k(data_file("gsm8k/test.jsonl"));
  CHECK(test.examples.size() == 1319);
}

TEST_CASE("data: MATH train and test load into prompt/target/answer examples") {
  LoadedExamples train = load_math(data_file("math/train.jsonl"));
  CHECK(train.examples.size() == 7500);
  const TextExample& ex = train.examples[0];
  CHECK(ex.prompt.find("Problem: Let \\[f(x) = \\left\\{\n") == 0);
  CHECK(ex.prompt.ends_with("\nSolution:"));
  CHECK(ex.target.find(" For the piecewise function to be continuous") == 0);
  CHECK(ex.target.ends_with("=-3+3=\\boxed{0}$."));
  CHECK(ex.answer == "0");
  CHECK(train.examples[1].answer == "8+4i");
  CHECK(load_math(data_file("math/test.jsonl")).examples.size() == 5000);
  CHECK(load_math(data_file("math/math500_test.jsonl")).examples.size() == 500);
}

TEST_CASE("data: missing or mistyped fields are FILE:LINE errors, skippable") {
  auto dir = temp_dir("gsm_bad");
  auto path = (dir / "g.jsonl").string();
  write_text(path,
             "{\"question\": \"q1\", \"answer\": \"a\\n#### 1\"}\n"
             "{\"question\": \"q2\"}\n"
             "{\"question\": 3, \"answer\": \"#### 3\"}\n"
             "{\"question\": \"q4\", \"answer\": \"no marker\"}\n"
             "[1]\n"
             "{\"question\": \"q6\", \"answer\": \"#### 6\"}\n");
  CHECK(error_of([&] { load_gsm8k(path); }) == "[data] " + path + ":2: missing string field 'answer'");
  JsonlOptions skip;
  skip.skip_bad_lines = true;
  LoadedExamples got = load_gsm8k(path, skip);
  REQUIRE(got.examples.size() == 2);
  CHECK(got.examples[0].answer == "1");
  CHECK(got.examples[1].answer == "6");
  CHECK(got.stats.bad == 4);
  REQUIRE(got.stats.errors.size() == 4);
  CHECK(got.stats.errors[1] == "[data] " + path + ":3: 'question' must be a string, got int");
  CHECK(got.stats.errors[2] == "[data] " + path + ":4: GSM8K answer has no '#### N' line");
  CHECK(got.stats.errors[3] == "[data] " + path + ":5: expected a JSON object, got array");

  auto mpath = (dir / "m.jsonl").string();
  write_text(mpath,
             "{\"problem\": \"p\", \"solution\": \"s\", \"answer\": \"1\"}\n{\"problem\": \"p\", \"answer\": "
             "\"1\"}\n");
  CHECK(error_of([&] { load_math(mpath); }) == "[data] " + mpath + ":2: missing string field 'solution'");
}

TEST_CASE("data: tokenized examples are [BOS] prompt target [EOS] with the mask on target and EOS") {
  Tokenizer tok = Tokenizer::load(sra::testing::bpe_model_path());
  std::vector<TextExample> examples = {load_gsm8k(data_file("gsm8k/test.jsonl")).examples[0],
                                       load_math(data_file("math/test.jsonl")).examples[0]};
  for (const TextExample& ex : examples) {
    TokenizedExample t = tokenize_example(tok, ex);
    std::vector<int32_t> p = tok.encode(ex.prompt), g = tok.encode(ex.target);
    REQUIRE(t.ids.size() == p.size() + g.size() + 2);
    CHECK(t.mask.size() == t.ids.size());
    CHECK(t.critical.empty());
    CHECK(t.ids.front() == tok.bos_id());
    CHECK(t.ids.back() == tok.eos_id());
    CHECK(std::equal(p.begin(), p.end(), t.ids.begin() + 1));
    CHECK(std::equal(g.begin(), g.end(), t.ids.begin() + 1 + long(p.size())));
    for (size_t i = 0; i < t.ids.size(); ++i) CHECK(int(t.mask[i]) == (i <= p.size() ? 0 : 1));
    CHECK(tok.decode(t.ids) == ex.prompt + ex.target);
  }
}

// ---- synthetic ---------------------------------------------------------------------------------

namespace {

// An independent reading of a synthetic prompt: its assignments, question variable and sentence count.
struct Parsed {
  struct Assign {
    std::string source;  // "" for a constant
    char op = 0;
    int64_t operand = 0;
  };
  std::map<std::string, Assign> vars;
  std::map<std::string, std::string> sentence_of;  // var → its sentence (with '.')
  std::string asked;
  int other_sentences = 0;
};

Parsed parse_prompt(const std::string& prompt) {
  Parsed out;
  size_t q = prompt.find("\nQuestion: What is the value of ");
  REQUIRE(q != std::string::npos);
  size_t qv = q + std::string("\nQuestion: What is the value of ").size();
  size_t qe = prompt.find("?\nAnswer:", qv);
  REQUIRE(qe != std::string::npos);
  REQUIRE(qe + 9 == prompt.size());
  out.asked = prompt.substr(qv, qe - qv);
  std::string context = prompt.substr(0, q);
  size_t pos = 0;
  while (pos < context.size()) {
    size_t dot = context.find('.', pos);
    REQUIRE(dot != std::string::npos);
    std::string s = context.substr(pos, dot - pos);
    std::string sentence = s + ".";
    pos = dot + 2;  // ". "
    std::string var, expr;
    if (s.rfind("Let ", 0) == 0) {
      size_t eq = s.find(" = ");
      var = s.substr(4, eq - 4);
      expr = s.substr(eq + 3);
    } else if (s.rfind("Set ", 0) == 0) {
      size_t to = s.find(" to ");
      var = s.substr(4, to - 4);
      expr = s.substr(to + 4);
    } else if (s.rfind("The value of ", 0) == 0) {
      size_t is = s.find(" is ");
      var = s.substr(13, is - 13);
      expr = s.substr(is + 4);
    } else {
      ++out.other_sentences;
      continue;
    }
    REQUIRE(out.vars.count(var) == 0);
    Parsed::Assign a;
    size_t sp = expr.find(' ');
    if (sp == std::string::npos) {
      a.operand = std::stoll(expr);
    } else {
      a.source = expr.substr(0, sp);
      a.op = expr[sp + 1];
      a.operand = std::stoll(expr.substr(sp + 3));
      REQUIRE(out.vars.count(a.source) == 1);  // defined before use
    }
    out.vars[var] = a;
    out.sentence_of[var] = sentence;
  }
  return out;
}

int64_t eval_var(const Parsed& p, const std::string& v, int* depth) {
  const Parsed::Assign& a = p.vars.at(v);
  if (a.source.empty()) return a.operand;
  ++*depth;
  int64_t x = eval_var(p, a.source, depth);
  if (a.op == '+') return x + a.operand;
  if (a.op == '-') return x - a.operand;
  if (a.op == '*') return x * a.operand;
  REQUIRE(a.op == '/');
  REQUIRE(x % a.operand == 0);
  return x / a.operand;
}

}  // namespace

TEST_CASE("data: synthetic problems are deterministic functions of (options, split, index)") {
  SyntheticOptions opt;
  opt.seed = 7;
  SyntheticProblem a = generate_synthetic(opt, Split::kTrain, 12);
  SyntheticProblem b = generate_synthetic(opt, Split::kTrain, 12);
  CHECK(a.prompt == b.prompt);
  CHECK(a.step_target == b.step_target);
  CHECK(a.critical == b.critical);
  std::vector<SyntheticProblem> range = generate_synthetic_range(opt, Split::kTrain, 10, 5);
  CHECK(range[2].prompt == a.prompt);
  CHECK(range[2].index == 12);
  CHECK(generate_synthetic(opt, Split::kTrain, 13).prompt != a.prompt);
  CHECK(generate_synthetic(opt, Split::kTest, 12).prompt != a.prompt);
  opt.seed = 8;
  CHECK(generate_synthetic(opt, Split::kTrain, 12).prompt != a.prompt);
}

TEST_CASE("data: synthetic answers, hops and critical spans agree with an independent parse") {
  SyntheticOptions opt;
  opt.seed = 3;
  opt.max_value = 50;
  std::set<int> hops_seen;
  std::set<char> ops_seen;
  for (uint64_t i = 0; i < 400; ++i) {
    SyntheticProblem p = generate_synthetic(opt, Split::kVal, i);
    CAPTURE(p.prompt);
    REQUIRE(p.hops >= 2);
    REQUIRE(p.hops <= 6);
    hops_seen.insert(p.hops);
    REQUIRE(int(p.chain.size()) == p.hops + 1);
    for (size_t k = 1; k < p.chain.size(); ++k) ops_seen.insert(p.chain[k].op);
    REQUIRE(p.prompt.substr(0, p.context.size()) == p.context);

    Parsed parsed = parse_prompt(p.prompt);
    CHECK(int(parsed.vars.size()) == p.hops + 1 + opt.unused_variables);
    CHECK(parsed.other_sentences == p.num_distractors);
    CHECK(p.num_distractors >= opt.min_distractors);
    CHECK(p.num_distractors <= opt.max_distractors);
    for (const auto& [var, a] : parsed.vars) {
      int d = 0;
      int64_t v = eval_var(parsed, var, &d);
      CHECK(v >= 0);
      CHECK(v <= opt.max_value);
    }
    int depth = 0;
    int64_t answer = eval_var(parsed, parsed.asked, &depth);
    CHECK(answer == p.answer);
    CHECK(depth == p.hops);

    // The critical spans are the sentences on the asked variable's dependency chain, in chain order.
    std::vector<std::string> chain;
    for (std::string v = parsed.asked; !v.empty(); v = parsed.vars.at(v).source)
      chain.insert(chain.begin(), v);
    REQUIRE(chain.size() == p.critical.size());
    for (size_t k = 0; k < chain.size(); ++k) {
      const TextSpan& s = p.critical[k];
      CHECK(p.prompt.substr(size_t(s.begin), size_t(s.end - s.begin)) == parsed.sentence_of.at(chain[k]));
      CHECK(p.chain[k].var == chain[k]);
      if (k > 0) CHECK(p.critical[k - 1].end < s.begin);
    }

    // Both forms end in "#### answer"; the step form lists every chain step with its value.
    std::string tail = " #### " + std::to_string(p.answer);
    CHECK(p.direct_target == tail);
    REQUIRE(p.step_target.size() > tail.size());
    CHECK(p.step_target.ends_with(tail));
    std::string expect;
    int64_t value = parsed.vars.at(chain[0]).operand;
    expect += " " + chain[0] + " = " + std::to_string(value) + ".";
    for (size_t k = 1; k < chain.size(); ++k) {
      const Parsed::Assign& a = parsed.vars.at(chain[k]);
      value = a.op == '+'   ? value + a.operand
              : a.op == '-' ? value - a.operand
              : a.op == '*' ? value * a.operand
                            : value / a.operand;
      expect += " " + chain[k] + " = " + a.source + " " + a.op + " " + std::to_string(a.operand) + " = " +
                std::to_string(value) + ".";
    }
    CHECK(p.step_target == expect + tail);
    // The trace form: each chain variable's definition from the asked one back, then the values forward.
    std::string trace;
    for (size_t k = chain.size(); k-- > 0;) {
      const Parsed::Assign& a = parsed.vars.at(chain[k]);
      trace += " " + chain[k] + " = " +
               (a.source.empty() ? std::to_string(a.operand)
                                 : a.source + " " + a.op + " " + std::to_string(a.operand)) +
               ".";
    }
    int64_t v = parsed.vars.at(chain[0]).operand;
    for (size_t k = 1; k < chain.size(); ++k) {
      const Parsed::Assign& a = parsed.vars.at(chain[k]);
      const int64_t next = a.op == '+'   ? v + a.operand
                           : a.op == '-' ? v - a.operand
                           : a.op == '*' ? v * a.operand
                                         : v / a.operand;
      trace += " " + chain[k] + " = " + std::to_string(v) + " " + a.op + " " + std::to_string(a.operand) +
               " = " + std::to_string(next) + ".";
      v = next;
    }
    CHECK(p.trace_target == trace + tail);
    CHECK(p.example(SyntheticForm::kTrace).target == p.trace_target);
    CHECK(p.example(SyntheticForm::kDirect).target == p.direct_target);
    CHECK(p.example(SyntheticForm::kStepByStep).target == p.step_target);
    CHECK(p.example(SyntheticForm::kStepByStep).answer == std::to_string(p.answer));
  }
  CHECK(hops_seen == std::set<int>{2, 3, 4, 5, 6});
  CHECK(ops_seen == std::set<char>{'+', '-', '*', '/'});
}

TEST_CASE("data: synthetic options control hops, distractors and context length") {
  SyntheticOptions opt;
  opt.min_hops = opt.max_hops = 4;
  opt.min_distractors = opt.max_distractors = 0;
  opt.unused_variables = 0;
  SyntheticProblem p = generate_synthetic(opt, Split::kTrain, 0);
  CHECK(p.hops == 4);
  CHECK(p.num_distractors == 0);
  Parsed parsed = parse_prompt(p.prompt);
  CHECK(parsed.vars.size() == 5);
  CHECK(parsed.other_sentences == 0);

  opt.context_chars = 3000;
  opt.unused_variables = 5;
  for (uint64_t i = 0; i < 20; ++i) {
    p = generate_synthetic(opt, Split::kTrain, i);
    CHECK(int64_t(p.context.size()) >= 3000);
    CHECK(int64_t(p.context.size()) < 3000 + 200);
    CHECK(parse_prompt(p.prompt).vars.size() == 10);
  }

  opt = SyntheticOptions{};
  opt.min_hops = 0;
  CHECK(error_of([&] { generate_synthetic(opt, Split::kTrain, 0); }) ==
        "[data] synthetic: need 1 <= min_hops <= max_hops, got 0 and 6");
  opt = SyntheticOptions{};
  opt.min_distractors = 5;
  opt.max_distractors = 2;
  CHECK(error_of([&] { generate_synthetic(opt, Split::kTrain, 0); }) ==
        "[data] synthetic: need 0 <= min_distractors <= max_distractors, got 5 and 2");
  opt = SyntheticOptions{};
  opt.unused_variables = 300;
  CHECK(error_of([&] { generate_synthetic(opt, Split::kTrain, 0); }).find("distinct variable names") !=
        std::string::npos);
  CHECK(split_from_name("test") == Split::kTest);
  CHECK(std::string(split_name(Split::kVal)) == "val");
  CHECK(error_of([&] { split_from_name("dev"); }) ==
        "[data] unknown split 'dev' (expected train, val or test)");
  CHECK(synthetic_form_from_name("trace") == SyntheticForm::kTrace);
  CHECK(synthetic_form_from_name("step") == SyntheticForm::kStepByStep);
  CHECK(synthetic_form_from_name("direct") == SyntheticForm::kDirect);
  CHECK(error_of([&] { synthetic_form_from_name("cot"); }) ==
        "[data] unknown synthetic form 'cot' (expected direct, step or trace)");
}

TEST_CASE("data: synthetic train, val and test problems never coincide") {
  SyntheticOptions opt;  // the smallest problems (fewest random choices) are the likeliest to collide
  opt.min_hops = 2;
  opt.max_hops = 2;
  opt.min_distractors = 0;
  opt.max_distractors = 1;
  opt.unused_variables = 0;
  std::set<std::string> train;
  for (uint64_t i = 0; i < 3000; ++i) train.insert(generate_synthetic(opt, Split::kTrain, i).prompt);
  CHECK(train.size() > 2990);  // even these tiny problems rarely repeat within a split
  std::set<uint64_t> seeds = {synthetic_split_seed(opt.seed, Split::kTrain),
                              synthetic_split_seed(opt.seed, Split::kVal),
                              synthetic_split_seed(opt.seed, Split::kTest)};
  CHECK(seeds.size() == 3);
  int clashes = 0;
  for (uint64_t i = 0; i < 3000; ++i) {
    clashes += int(train.count(generate_synthetic(opt, Split::kTest, i).prompt));
    clashes += int(train.count(generate_synthetic(opt, Split::kVal, i).prompt));
  }
  CHECK(clashes == 0);
}

TEST_CASE("data: synthetic critical spans map to the prompt tokens that cover them") {
  Tokenizer tok = Tokenizer::load(sra::testing::unigram_model_path());
  SyntheticOptions opt;
  opt.seed = 11;
  for (uint64_t i = 0; i < 30; ++i) {
    SyntheticProblem p = generate_synthetic(opt, Split::kTest, i);
    TextExample ex = p.example(SyntheticForm::kStepByStep);
    TokenizedExample t = tokenize_example(tok, ex);
    REQUIRE(t.critical.size() == t.ids.size());
    CHECK(tok.decode(t.ids) == ex.prompt + ex.target);
    std::vector<TokenSpan> spans = tok.encode_with_offsets(ex.prompt);
    REQUIRE(spans.size() + 1 < t.ids.size());
    CHECK(t.critical[0] == 0);  // BOS
    int64_t flagged_bytes = 0, span_bytes = 0;
    for (const TextSpan& s : ex.critical) span_bytes += s.end - s.begin;
    for (size_t k = 0; k < spans.size(); ++k) {
      bool inside_some = false;
      for (const TextSpan& s : ex.critical) inside_some |= spans[k].begin < s.end && s.begin < spans[k].end;
      CHECK(bool(t.critical[k + 1]) == inside_some);
      if (t.critical[k + 1]) flagged_bytes += spans[k].end - spans[k].begin;
    }
    // Every span is covered, with at most one extra byte (a leading space) per span.
    CHECK(flagged_bytes >= span_bytes);
    CHECK(flagged_bytes <= span_bytes + int64_t(ex.critical.size()));
    for (size_t k = spans.size() + 1; k < t.ids.size(); ++k) CHECK(t.critical[k] == 0);  // the target
  }
  // Empty byte ranges (leading byte pieces of a multi-byte character) take the next token's range.
  std::vector<TokenSpan> toks = {{10, 0, 1}, {11, 1, 1}, {12, 1, 3}, {13, 3, 4}};
  CHECK(tokens_overlapping(toks, {{2, 3}}) == std::vector<uint8_t>{0, 1, 1, 0});
  CHECK(tokens_overlapping(toks, {{0, 1}}) == std::vector<uint8_t>{1, 0, 0, 0});
}

// ---- packing -----------------------------------------------------------------------------------

namespace {

TokenizedExample make_example(std::vector<int32_t> ids, std::vector<uint8_t> mask) {
  TokenizedExample e;
  e.ids = std::move(ids);
  e.mask = std::move(mask);
  return e;
}

TokenStream counting_stream(int64_t n, int64_t vocab) {
  TokenStream s;
  for (int64_t i = 0; i < n; ++i) {
    s.ids.push_back(int32_t((i * 7919) % vocab));
    s.mask.push_back(uint8_t(i % 3 != 0));
  }
  return s;
}

}  // namespace

TEST_CASE("data: concat_examples separates examples with EOS") {
  const int32_t eos = 3;
  TokenStream s = concat_examples({make_example({2, 10, 11, 3}, {0, 0, 1, 1}), make_example({2, 12}, {0, 1}),
                                   make_example({}, {}), make_example({13}, {0})},
                                  eos);
  CHECK(s.ids == std::vector<int32_t>{2, 10, 11, 3, 2, 12, 3, 13, 3});
  CHECK(s.mask == std::vector<uint8_t>{0, 0, 1, 1, 0, 1, 1, 0, 0});
  CHECK(error_of([&] {
          concat_examples({make_example({1, 2}, {1})}, eos);
        }) == "[data] example 0 has 2 ids but 1 mask values");
}

TEST_CASE("data: aligned concat_examples keeps every example that fits within one row") {
  const int32_t eos = 3, pad = 9;
  // T = 4: rows cover stream positions [0, 4], [4, 8], [8, 12], ...
  TokenStream s = concat_examples(
      {make_example({2, 10, 11}, {0, 1, 1}), make_example({2, 12, 13}, {0, 0, 1}),
       make_example({2, 14}, {0, 1}), make_example({2, 1, 1, 1, 1, 1, 1}, {0, 1, 1, 1, 1, 1, 1})},
      eos, 4, pad);
  // ex 0 at [0, 4) fits row 0; ex 1 (4 tokens) at 4 fits row 1 [4, 8]; ex 2 (3 tokens) at 8 fits row 2;
  // ex 3 (8 tokens > T + 1) cannot fit any row: appended as is at 11
  CHECK(s.ids == std::vector<int32_t>{2, 10, 11, 3, 2, 12, 13, 3, 2, 14, 3, 2, 1, 1, 1, 1, 1, 1, 3});
  s = concat_examples({make_example({2, 10}, {0, 1}), make_example({2, 12, 13, 14}, {0, 0, 1, 1})}, eos, 4,
                      pad);
  // ex 1 (5 tokens) at 3 would end at 7 > 4: it starts row 1 at 4 after one PAD
  CHECK(s.ids == std::vector<int32_t>{2, 10, 3, pad, 2, 12, 13, 14, 3});
  CHECK(s.mask == std::vector<uint8_t>{0, 1, 1, 0, 0, 0, 1, 1, 1});
  PackedRows rows(std::make_shared<TokenStream>(s), 4, pad);
  CHECK(rows.num_rows() == 2);
}

TEST_CASE("data: rows of T+1 tokens at stride T make every token but the first a target once") {
  const int32_t pad = 0;
  for (int64_t n : {2, 5, 9, 10, 11, 37}) {
    for (int64_t T : {1, 3, 4, 8}) {
      CAPTURE(n);
      CAPTURE(T);
      auto stream = std::make_shared<TokenStream>(counting_stream(n, 1000));
      for (auto& id : stream->ids) id += 1;  // keep 0 for PAD
      PackedRows rows(stream, T, pad);
      CHECK(rows.num_rows() == (n - 1 + T - 1) / T);
      std::vector<int> seen(size_t(n), 0);
      std::vector<int32_t> ids(size_t(T + 1));
      std::vector<uint8_t> mask(size_t(T + 1));
      for (int64_t r = 0; r < rows.num_rows(); ++r) {
        rows.row(r, ids.data(), mask.data());
        for (int64_t t = 0; t <= T; ++t) {
          int64_t k = r * T + t;
          if (k < n) {
            CHECK(ids[size_t(t)] == stream->ids[size_t(k)]);
            CHECK(mask[size_t(t)] == stream->mask[size_t(k)]);
            if (t > 0) ++seen[size_t(k)];
          } else {
            CHECK(ids[size_t(t)] == pad);
            CHECK(mask[size_t(t)] == 0);
          }
        }
      }
      CHECK(seen[0] == 0);
      for (int64_t k = 1; k < n; ++k) CHECK(seen[size_t(k)] == 1);
    }
  }
  auto tiny = std::make_shared<TokenStream>(counting_stream(1, 10));
  CHECK(PackedRows(tiny, 4, 0).num_rows() == 0);
  CHECK(error_of([&] { PackedRows(tiny, 0, 0); }) == "[data] PackedRows: seq_len must be >= 1, got 0");
}

TEST_CASE("data: RowsWithoutTargets::skip leaves out (and counts) the rows with no target token") {
  // 4 rows of T = 3 at stride 3: targets 1-3 (mask 0 0 0), 4-6 (0 1 0), 7-9 (0 0 0), 10-11 + PAD (0 1 -)
  auto stream = std::make_shared<TokenStream>();
  stream->ids = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  stream->mask = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1};  // the first token's mask is never a target
  PackedRows all(stream, 3, 0);
  CHECK(all.num_rows() == 4);
  CHECK(all.skipped_rows() == 0);
  PackedRows kept(stream, 3, 0, RowsWithoutTargets::skip);
  CHECK(kept.num_rows() == 2);
  CHECK(kept.skipped_rows() == 2);
  std::vector<int32_t> ids(4);
  std::vector<uint8_t> mask(4);
  kept.row(0, ids.data(), mask.data());
  CHECK(ids == std::vector<int32_t>{4, 5, 6, 7});
  CHECK(mask == std::vector<uint8_t>{0, 0, 1, 0});
  kept.row(1, ids.data(), mask.data());
  CHECK(ids == std::vector<int32_t>{10, 11, 12, 0});
  CHECK(mask == std::vector<uint8_t>{0, 0, 1, 0});
  CHECK(error_of([&] { kept.row(2, ids.data(), mask.data()); }) == "[data] row 2 out of range [0, 2)");
  Batch b = make_batch(kept, {1, 0});
  CHECK(b.loss_mask.to_vector<uint8_t>() == std::vector<uint8_t>{0, 1, 0, 0, 1, 0});
  // a stream with no target at all keeps no row
  auto none = std::make_shared<TokenStream>();
  none->ids = {1, 2, 3, 4, 5};
  none->mask = {1, 0, 0, 0, 0};
  PackedRows empty(none, 2, 0, RowsWithoutTargets::skip);
  CHECK(empty.num_rows() == 0);
  CHECK(empty.skipped_rows() == 2);
}

TEST_CASE("data: make_batch gives inputs, targets with ignore_index, and the loss mask") {
  const int32_t eos = 3, pad = 0;
  PackedRows rows = pack_examples(
      {make_example({2, 10, 11, 3}, {0, 0, 1, 1}), make_example({2, 12, 13}, {0, 1, 1})}, 4, eos, pad);
  // stream: 2 10 11 3 2 12 13 3 (8 tokens) → rows [2 10 11 3 2] [2 12 13 3 PAD]
  REQUIRE(rows.num_rows() == 2);
  Batch b = make_batch(rows, {1, 0, 1});
  CHECK(b.inputs.shape() == Shape{3, 4});
  CHECK(b.inputs.dtype() == DType::i64);
  CHECK(b.targets.dtype() == DType::i64);
  CHECK(b.loss_mask.dtype() == DType::u8);
  CHECK(b.inputs.to_vector<int64_t>() == std::vector<int64_t>{2, 12, 13, 3, 2, 10, 11, 3, 2, 12, 13, 3});
  CHECK(b.targets.to_vector<int64_t>() ==
        std::vector<int64_t>{12, 13, 3, -100, -100, 11, 3, -100, 12, 13, 3, -100});
  CHECK(b.loss_mask.to_vector<uint8_t>() == std::vector<uint8_t>{1, 1, 1, 0, 0, 1, 1, 0, 1, 1, 1, 0});
  CHECK(make_batch(rows, {0}, -1).targets.to_vector<int64_t>() == std::vector<int64_t>{-1, 11, 3, -1});
  CHECK(error_of([&] { make_batch(rows, {2}); }) == "[data] row 2 out of range [0, 2)");
}

TEST_CASE("data: token shards round trip in u16 and u32 with the documented layout") {
  auto dir = temp_dir("shard");
  for (int64_t vocab : {500, 65536, 100000}) {
    CAPTURE(vocab);
    TokenStream s = counting_stream(1001, vocab);
    s.ids[5] = int32_t(vocab - 1);
    std::string name = "v";  // (not "v" + to_string(): GCC 12 emits a false -Wrestrict for that)
    name += std::to_string(vocab) + ".tok";
    std::string path = (dir / name).string();
    write_token_shard(path, s, vocab, "0123456789abcdef");
    std::string bytes = slurp(path);
    int id_bytes = vocab <= 65536 ? 2 : 4;
    CHECK(bytes.size() == 36 + 16 + 1001 * size_t(id_bytes + 1) + 4);
    CHECK(bytes.substr(0, 8) == std::string("SRATOK1\0", 8));
    CHECK(uint8_t(bytes[8]) == 2);  // version
    CHECK(uint8_t(bytes[12]) == id_bytes);
    CHECK(uint8_t(bytes[16]) == (1001 & 0xff));
    CHECK(uint8_t(bytes[17]) == (1001 >> 8));
    CHECK(uint8_t(bytes[32]) == 16);  // hash length
    CHECK(bytes.substr(36, 16) == "0123456789abcdef");
    TokenShard back = read_token_shard(path, "0123456789abcdef");
    CHECK(back.stream.ids == s.ids);
    CHECK(back.stream.mask == s.mask);
    CHECK(back.vocab_size == vocab);
    CHECK(back.id_bytes == id_bytes);
    CHECK(back.tokenizer_hash == "0123456789abcdef");
    CHECK_FALSE(std::filesystem::exists(path + ".tmp"));
  }
  TokenStream empty;
  write_token_shard((dir / "empty.tok").string(), empty, 10, "");
  CHECK(read_token_shard((dir / "empty.tok").string()).stream.ids.empty());
}

TEST_CASE("data: corrupt token shards are errors naming the file and position") {
  auto dir = temp_dir("shard_bad");
  TokenStream s = counting_stream(100, 500);
  std::string good = (dir / "good.tok").string();
  write_token_shard(good, s, 500, "hash");
  const std::string bytes = slurp(good);
  auto variant = [&](const std::string& name, const std::string& content) {
    std::string path = (dir / name).string();
    write_text(path, content);
    return path;
  };
  std::string p = variant("magic.tok", "SRATOK2" + bytes.substr(7));
  CHECK(error_of([&] { read_token_shard(p); }) ==
        "[data] shard '" + p + "': bad magic (not an SRA token shard)");
  p = variant("short.tok", "SRA");
  CHECK(error_of([&] { read_token_shard(p); }) ==
        "[data] shard '" + p + "': bad magic (not an SRA token shard)");
  p = variant("header.tok", bytes.substr(0, 20));
  CHECK(error_of([&] { read_token_shard(p); }) == "[data] shard '" + p + "': truncated header (20 bytes)");
  p = variant("trunc.tok", bytes.substr(0, bytes.size() - 1));
  CHECK(error_of([&] { read_token_shard(p); }) ==
        "[data] shard '" + p + "': truncated: header says 100 tokens (344 bytes) but the file has 343 bytes");
  p = variant("trailing.tok", bytes + "xy");
  CHECK(error_of([&] { read_token_shard(p); }) ==
        "[data] shard '" + p + "': 2 unexpected trailing bytes after 100 tokens");
  std::string bad_id = bytes;
  bad_id[40 + 2 * 17] = char(0xf4);  // id 17 → 0x01f4 = 500 (little-endian low byte; high byte is 0x01)
  bad_id[40 + 2 * 17 + 1] = char(0x01);
  p = variant("id.tok", bad_id);
  CHECK(error_of([&] { read_token_shard(p); }) ==
        "[data] shard '" + p + "': token id 500 at position 17 is >= vocab size 500");
  std::string bad_mask = bytes;
  bad_mask[40 + 200 + 42] = 2;
  p = variant("mask.tok", bad_mask);
  CHECK(error_of([&] { read_token_shard(p); }) ==
        "[data] shard '" + p + "': mask value 2 at position 42 is not 0 or 1");
  std::string bad_version = bytes;
  bad_version[8] = 9;
  p = variant("version.tok", bad_version);
  CHECK(error_of([&] { read_token_shard(p); }) ==
        "[data] shard '" + p + "': unsupported version 9 (this build reads 1 and 2)");
  // any flipped byte the other checks let through is caught by the checksum
  std::string flipped = bytes;
  flipped[40 + 2 * 17] ^= 0x01;  // id 17 → 16: still a valid id
  p = variant("flipped.tok", flipped);
  CHECK(error_of([&] { read_token_shard(p); }) ==
        "[data] shard '" + p + "': checksum mismatch (the file is corrupt; run sra data prepare again)");
  // a version 1 shard (no checksum) still loads
  std::string v1 = bytes.substr(0, bytes.size() - 4);
  v1[8] = 1;
  p = variant("v1.tok", v1);
  CHECK(read_token_shard(p, "hash").stream.ids == s.ids);
  CHECK(error_of([&] { read_token_shard(good, "other"); }) ==
        "[data] shard '" + good + "': tokenizer hash 'hash' does not match 'other'");
  std::string missing = (dir / "missing.tok").string();
  CHECK(error_of([&] { read_token_shard(missing); }) == "[data] shard '" + missing + "': cannot open");
  s.ids[3] = 500;
  CHECK(error_of([&] { write_token_shard((dir / "w.tok").string(), s, 500, ""); }) ==
        "[data] shard '" + (dir / "w.tok").string() + "': token id 500 at position 3 is outside [0, 500)");
}

// ---- sampler -----------------------------------------------------------------------------------

TEST_CASE("data: epoch orders are seeded permutations") {
  std::vector<int64_t> a = SequenceSampler::epoch_order(1000, 5, 0);
  std::vector<int64_t> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 1000; ++i) REQUIRE(sorted[size_t(i)] == i);
  CHECK(SequenceSampler::epoch_order(1000, 5, 0) == a);
  CHECK(SequenceSampler::epoch_order(1000, 5, 1) != a);
  CHECK(SequenceSampler::epoch_order(1000, 6, 0) != a);
  int fixed = 0;
  for (int64_t i = 0; i < 1000; ++i) fixed += a[size_t(i)] == i;
  CHECK(fixed < 10);  // a shuffle, not the identity
}

TEST_CASE("data: rank slices are disjoint and cover each epoch") {
  for (int64_t n : {40, 43}) {
    const int64_t W = 4;
    CAPTURE(n);
    for (int64_t epoch = 0; epoch < 3; ++epoch) {
      std::vector<int64_t> order = SequenceSampler::epoch_order(n, 9, epoch);
      std::vector<int> count(size_t(n), 0);
      for (int64_t r = 0; r < W; ++r) {
        SequenceSampler s(n, 9, W, r);
        CHECK(s.per_rank() == n / W);
        s.set_cursor({epoch, 0});
        for (int64_t k = 0; k < s.per_rank(); ++k) ++count[size_t(s.next())];
      }
      for (int64_t p = 0; p < n; ++p) {
        // Positions [0, W·(n/W)) of the order are taken exactly once, the rest not at all.
        CHECK(count[size_t(order[size_t(p)])] == (p < W * (n / W) ? 1 : 0));
      }
    }
  }
  CHECK(error_of([] { SequenceSampler(10, 0, 4, 4); }) ==
        "[data] sampler: rank 4 out of range for world size 4");
  CHECK(error_of([] { SequenceSampler(3, 0, 4, 0); }) ==
        "[data] sampler: 3 sequences are too few for world size 4");
}

TEST_CASE("data: a sampler restored from its saved cursor continues exactly") {
  const int64_t n = 23, W = 2;
  for (int64_t r = 0; r < W; ++r) {
    SequenceSampler full(n, 77, W, r);
    std::vector<int64_t> expect = full.next_batch(60);  // crosses several epochs (11 per epoch)
    for (int64_t stop : {0, 1, 11, 12, 37, 59}) {
      CAPTURE(stop);
      SequenceSampler first(n, 77, W, r);
      std::vector<int64_t> got = first.next_batch(stop);
      std::string saved = first.state().dump();
      SequenceSampler resumed(n, 77, W, r);
      resumed.load_state(Json::parse(saved));
      CHECK(resumed.cursor() == first.cursor());
      std::vector<int64_t> rest = resumed.next_batch(60 - stop);
      got.insert(got.end(), rest.begin(), rest.end());
      CHECK(got == expect);
    }
  }
  SequenceSampler s(n, 77, W, 0);
  s.next_batch(30);
  CHECK(s.cursor() == SamplerCursor{2, 8});
  CHECK(s.cursor().to_json().dump() == "{\"epoch\":2,\"position\":8}");
  CHECK(SamplerCursor::from_json(Json::parse("{\"epoch\":2,\"position\":8}")) == SamplerCursor{2, 8});
  CHECK(error_of([] { SamplerCursor::from_json(Json::parse("{\"epoch\":1}")); }) ==
        "[data] sampler cursor: missing integer field 'position' in {\"epoch\":1}");
  SequenceSampler other(n + 1, 77, W, 0);
  CHECK(error_of([&] { other.load_state(s.state()); }) ==
        "[data] sampler state was saved for 23 sequences, this run has 24");
  SequenceSampler other_rank(n, 77, W, 1);
  CHECK(error_of([&] { other_rank.load_state(s.state()); }) ==
        "[data] sampler state was saved for rank 0 of 2, this run is rank 1 of 2");
  SequenceSampler other_seed(n, 78, W, 0);
  CHECK(error_of([&] { other_seed.load_state(s.state()); }) ==
        "[data] sampler state was saved with seed 77, this run has 78");
  CHECK(error_of([&] {
          s.set_cursor({0, 12});
        }) == "[data] sampler: cursor {epoch 0, position 12} out of range (11 sequences per rank per epoch)");
}
