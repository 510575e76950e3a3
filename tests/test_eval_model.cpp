// Model-based evaluation (eval/prompts.h, eval/evaluate.h, `sra eval`): exact zero- and few-shot prompt
// formats and stop strings, scoring of known outputs, an end-to-end evaluation of tiny random checkpoints
// (files, fields, FLOPs equal to model/flops.h's counts of the same generation, selected ratios), the
// comparison table, and errors (usage → exit 2, runtime → exit 1, tokenizer hash mismatch). --device:
// a bad spec is a usage error before any loading; on a GPU (skipped without one) the answers and accuracy
// equal the CPU's, and a checkpoint saved from GPU tensors evaluates on the CPU like the original.
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "core/cuda_runtime.h"
#include "data/data_dir.h"
#include "data_test_util.h"
#include "eval/evaluate.h"
#include "model/flops.h"
#include "model/generate.h"
#include "run/checkpoint.h"
#include "run/model_io.h"

using namespace sra;
using namespace sra::eval;
using sra::testing::error_of;
using sra::testing::slurp;
using sra::testing::temp_dir;

namespace {

EvalProblem problem(int64_t index, const std::string& q, const std::string& reasoning,
                    const std::string& direct, const std::string& gold) {
  EvalProblem p;
  p.index = index;
  p.question = q;
  p.reasoning = reasoning;
  p.direct = direct;
  p.gold = gold;
  return p;
}

// A tiny byte-level model (2 layers: layer 0 dense, layer 1 SRA or dense); max_seq_len 1024 holds a
// 1-shot synthetic prompt (~900 bytes: eval refuses few-shot prompts longer than the context).
RunConfig tiny_config(const std::string& attention) {
  return load_config("configs/tiny-cpu.yaml",
                     {"model.d_model=32", "model.n_layers=2", "model.n_heads=2", "model.n_kv_heads=2",
                      "model.d_ff=64", "model.dense_layers=[0]", "model.window=8", "model.sinks=2",
                      "router.hidden=8", "model.max_seq_len=1024", "model.attention=" + attention});
}

// The router threshold at the median score of a synthetic prompt's tokens, so that about half the
// tokens are critical.
RunConfig with_median_threshold(RunConfig cfg) {
  LoadedModel lm = model_from_config(cfg);
  lm.model->eval();
  NoGradGuard ng;
  std::vector<int64_t> ids;
  for (unsigned char ch :
       generate_synthetic(to_synthetic_options(cfg), Split::kTest, 0).prompt.substr(0, 200))
    ids.push_back(ch);
  std::vector<double> s = lm.model->run(Tensor::from_vector(ids, {1, int64_t(ids.size())}))
                              .selections[0]
                              .scores.to_vector<double>();
  std::sort(s.begin(), s.end());
  cfg.router.init_threshold = s[s.size() / 2];
  return cfg;
}

std::string save_tiny(const std::string& dir, const std::string& attention) {
  RunConfig cfg = attention == "sra" ? with_median_threshold(tiny_config(attention)) : tiny_config(attention);
  LoadedModel lm = model_from_config(cfg);
  Checkpoint ck = model_checkpoint(cfg, *lm.model, 5);
  std::string path = dir + "/" + attention + ".h5";
  save_checkpoint(ck, path);
  return path;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// Runs the `sra` binary built next to this test binary; returns its exit status, output in *out.
int run_sra(const std::string& args, std::string* out, const std::string& dir) {
  std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe").parent_path() / "sra";
  REQUIRE_MESSAGE(std::filesystem::exists(exe), "the sra binary is built next to sra_tests: ", exe.string());
  std::string o = dir + "/cli.out";
  int st = std::system((exe.string() + " " + args + " > " + o + " 2>&1").c_str());
  *out = slurp(o);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

}  // namespace

TEST_CASE("eval prompts: zero-shot prompts are the training formats") {
  EvalProblem g = problem(0, "How many?", "2 + 3 = <<2+3=5>>5\n#### 5", "#### 5", "5");
  EvalProblem m = problem(0, "What is $1+1$?", "It is $\\boxed{2}$.", "$\\boxed{2}$", "2");
  EvalProblem s =
      problem(0, "Let a1 = 3.\nQuestion: What is the value of a1?\nAnswer:", "a1 = 3. #### 3", "#### 3", "3");
  PromptFormat fg = make_prompt_format("gsm8k", {}, true);
  CHECK(fg.shots == 0);
  CHECK(fg.prompt(g) == "Question: How many?\nAnswer:");
  CHECK(fg.stop_strings == std::vector<std::string>{"Question:", "</s>", "<|im_end|>"});
  PromptFormat fm = make_prompt_format("math500", {}, true);
  CHECK(fm.prompt(m) == "Problem: What is $1+1$?\nSolution:");
  CHECK(fm.stop_strings == std::vector<std::string>{"Problem:", "\n\n\n"});
  PromptFormat fs = make_prompt_format("synthetic", {}, false);
  CHECK(fs.prompt(s) == s.question);
  CHECK(fs.stop_strings == std::vector<std::string>{"\n"});
  CHECK(make_prompt_format("synthetic", {}, true).prompt(s) == s.question);  // zero-shot ignores cot/direct
  CHECK_THROWS_WITH_AS(make_prompt_format("mnist", {}, true),
                       "[eval] unknown dataset 'mnist' (expected gsm8k, math, math500 or synthetic)", Error);
}

TEST_CASE(
    "eval prompts: few-shot prompts follow lm-evaluation-harness (GSM8K, Minerva MATH) and the cot/direct "
    "choice") {
  EvalProblem e1 = problem(0, "Q1?", "a = 1\n#### 1", "#### 1", "1");
  EvalProblem e2 = problem(1, "Q2?", "b = 2\n#### 2", "#### 2", "2");
  EvalProblem t = problem(7, "Q3?", "", "", "3");
  PromptFormat cot = make_prompt_format("gsm8k", {e1, e2}, true);
  CHECK(cot.shots == 2);
  CHECK(cot.prompt(t) ==
        "Question: Q1?\nAnswer: a = 1\n#### 1\n\nQuestion: Q2?\nAnswer: b = 2\n#### 2\n\n"
        "Question: Q3?\nAnswer:");
  CHECK(cot.stop_strings == std::vector<std::string>{"Question:", "</s>", "<|im_end|>", "\n\n"});
  PromptFormat direct = make_prompt_format("gsm8k", {e1}, false);
  CHECK(direct.prompt(t) == "Question: Q1?\nAnswer: #### 1\n\nQuestion: Q3?\nAnswer:");

  EvalProblem m1 = problem(0, "P1", "S1 so $\\boxed{4}$.", "$\\boxed{4}$", "4");
  EvalProblem mt = problem(3, "P2", "", "", "");
  CHECK(make_prompt_format("math", {m1}, true).prompt(mt) ==
        "Problem:\nP1\n\nSolution: S1 so $\\boxed{4}$.\nFinal Answer: The final answer is $4$. I hope it is "
        "correct."
        "\n\nProblem:\nP2\n\nSolution:");
  CHECK(make_prompt_format("math", {m1}, false).prompt(mt) ==
        "Problem:\nP1\n\nSolution: $\\boxed{4}$\n\nProblem:\nP2\n\nSolution:");

  EvalProblem s1 =
      problem(0, "Let a1 = 3.\nQuestion: What is the value of a1?\nAnswer:", "a1 = 3. #### 3", "#### 3", "3");
  EvalProblem st = problem(9, "Let b2 = 4.\nQuestion: What is the value of b2?\nAnswer:", "", "", "4");
  CHECK(make_prompt_format("synthetic", {s1}, true).prompt(st) ==
        s1.question + " a1 = 3. #### 3\n\n" + st.question);
  CHECK(make_prompt_format("synthetic", {s1}, false).prompt(st) == s1.question + " #### 3\n\n" + st.question);

  CHECK(cut_at_stop("12 #### 12\n\nQuestion: next", cot.stop_strings) == "12 #### 12");
  CHECK(cut_at_stop("no stop here", cot.stop_strings) == "no stop here");
  CHECK(cut_at_stop("aQuestion:b\n\nc", {"\n\n", "Question:"}) == "a");  // the earliest occurrence
}

TEST_CASE("eval prompts: problems come from the test files, exemplars from the train files / split") {
  const std::string data = resolve_data_dir("");
  std::vector<EvalProblem> g = load_eval_problems("gsm8k", "test", data, 0, 2);
  REQUIRE(g.size() == 2);
  CHECK(g[1].index == 1);
  std::vector<EvalProblem> gx = load_eval_problems("gsm8k", "train", data, 0, 1);
  CHECK(gx[0].question.rfind("Natalia sold clips", 0) == 0);
  CHECK(gx[0].gold == "72");
  CHECK(gx[0].direct == "#### 72");
  CHECK(gx[0].reasoning.substr(gx[0].reasoning.size() - 7) == "#### 72");
  std::vector<EvalProblem> m = load_eval_problems("math500", "test", data, 0, 1);
  CHECK(m[0].direct == "$\\boxed{" + m[0].gold + "}$");
  CHECK(load_eval_problems("math", "train", data, 0, 1)[0].gold == "0");
  CHECK(load_eval_problems("math500", "test", data, 0, 501).size() == 500);  // a limit past the end: all
  CHECK(error_of([&] { load_eval_problems("math500", "test", data, 600, 1); }) ==
        "[eval] " + data + "/math/math500_test.jsonl has 500 problems, none from index 600");

  SyntheticOptions so;
  so.seed = 3;
  std::vector<EvalProblem> s = load_eval_problems("synthetic", "test", "", 0, 2, so);
  std::vector<EvalProblem> sx = load_eval_problems("synthetic", "train", "", 0, 2, so);
  SyntheticProblem p0 = generate_synthetic(so, Split::kTest, 0);
  CHECK(s[0].question == p0.prompt);
  CHECK(s[0].gold == std::to_string(p0.answer));
  CHECK(" " + s[0].reasoning == p0.step_target);
  CHECK(" " + s[0].direct == p0.direct_target);
  CHECK(s[0].question != sx[0].question);

  EvalOptions o;
  o.dataset = "gsm8k";
  o.limit = 3;
  o.shots = 2;
  EvalTask task = make_eval_task(o, so);
  CHECK(task.problems.size() == 3);
  CHECK(task.format.prompt(task.problems[0]).rfind("Question: Natalia sold clips", 0) == 0);
}

TEST_CASE("eval scoring: known outputs are scored correct or incorrect") {
  OutputScore a = score_output("gsm8k", "48 + 24 = 72\n#### 72", "72");
  CHECK(a.correct);
  CHECK(a.correct_flexible);
  CHECK(*a.extracted == "72");
  OutputScore b = score_output("gsm8k", "The answer is 72.", "72");
  CHECK_FALSE(b.correct);     // no "#### N": strict fails ...
  CHECK(b.correct_flexible);  // ... the last number matches
  CHECK(*b.extracted == "[invalid]");
  CHECK_FALSE(score_output("gsm8k", "#### 71", "72").correct);
  CHECK(score_output("synthetic", "k3 = 7. b5 = k3 + 5 = 12. #### 12", "12").correct);
  CHECK_FALSE(score_output("synthetic", "k3 = 7. #### 7", "12").correct);
  OutputScore m = score_output("math", "so the answer is $\\boxed{\\frac12}$.", "\\frac{1}{2}");
  CHECK(m.correct);
  CHECK(*m.extracted == "\\frac12");
  CHECK_FALSE(output_correct("math500", "$\\boxed{3}$", "\\frac{1}{2}"));
  CHECK_FALSE(score_output("math", "no answer", "2").extracted.has_value());
}

TEST_CASE("eval: end-to-end on tiny random checkpoints (files, fields, FLOPs, selected ratio)") {
  const std::string dir = temp_dir("eval_e2e").string();
  const std::string sra_ck = save_tiny(dir, "sra"), dense_ck = save_tiny(dir, "dense");
  EvalRunOptions opt;
  opt.checkpoint = sra_ck;
  opt.baseline = dense_ck;
  opt.eval.dataset = "synthetic";
  opt.eval.limit = 3;
  opt.eval.max_new_tokens = 12;
  opt.eval.batch = 2;
  opt.out_dir = dir + "/out";
  std::ostringstream out, log;
  std::vector<EvalResult> rows = run_eval(opt, out, log);
  REQUIRE(rows.size() == 1);
  const EvalResult& r = rows[0];
  CHECK(r.n == 3);
  CHECK(r.step == 5);
  CHECK(r.attention == "sra");
  REQUIRE(r.baseline_flops.has_value());

  // files
  std::vector<std::string> samples = lines_of(slurp(opt.out_dir + "/samples.jsonl"));
  REQUIRE(samples.size() == 3);
  Json summary = Json::parse(slurp(opt.out_dir + "/summary.json"));
  CHECK(summary["n"].as_int() == 3);
  CHECK(summary["dataset"].as_string() == "synthetic");
  for (const char* key :
       {"strict", "flexible", "selected_ratio", "flops_per_query", "flops_relative", "latency_ms",
        "tokens_per_s", "items_per_s", "baseline_flops_per_query", "prompts_over_max_seq_len"})
    CHECK_MESSAGE(summary.find(key) != nullptr, key);
  CHECK(summary["latency_ms"]["p95"].as_double() >= summary["latency_ms"]["mean"].as_double() * 0.999 - 1e-9);
  CHECK(slurp(opt.out_dir + "/summary.md") == out.str());
  std::vector<std::string> table = lines_of(out.str());
  REQUIRE(table.size() == 3);
  CHECK(table[0].rfind("| Model | n | Synthetic accuracy | Synthetic accuracy (flexible) | Selected ratio |",
                       0) == 0);

  // every sample: the fields, and FLOPs / selected ratio recomputed from the same generation
  EvalModel em = load_eval_model(sra_ck);
  const TransformerConfig& c = em.model->config();
  double flops_sum = 0, ratio_sum = 0;
  for (size_t i = 0; i < samples.size(); ++i) {
    Json s = Json::parse(samples[i]);
    for (const char* key : {"index", "prompt", "output", "extracted", "gold", "correct", "extracted_flexible",
                            "correct_flexible", "prompt_tokens", "answer_tokens", "finish_reason",
                            "selected_ratio", "flops", "latency_ms"})
      CHECK_MESSAGE(s.find(key) != nullptr, key);
    CHECK(s["index"].as_int() == int64_t(i));
    CHECK(s["prompt"].as_string() ==
          generate_synthetic(to_synthetic_options(em.config), Split::kTest, i).prompt);
    GenerateConfig g;
    g.max_new_tokens = 12;
    g.eos_id = 0;
    g.stop_strings = {"\n"};
    g.decode = [](const std::vector<int64_t>& ids) { return decode_answer(Tokenizer(), ids); };
    std::vector<int64_t> prompt = encode_prompt(Tokenizer(), s["prompt"].as_string());
    SequenceResult q = generate(*em.model, {prompt}, g)[0];
    CHECK(s["prompt_tokens"].as_int() == int64_t(prompt.size()));
    CHECK(s["answer_tokens"].as_int() == int64_t(q.ids.size()));
    const int64_t fed = int64_t(q.audit.size());
    CHECK(fed == int64_t(prompt.size() + q.ids.size()) - 1);
    std::vector<std::vector<uint8_t>> sel(1);
    int64_t crit = 0;
    for (const TokenAudit& a : q.audit) {
      REQUIRE(a.critical.size() == 1);
      sel[0].push_back(a.critical[0]);
      crit += a.critical[0];
    }
    MacCount macs = sequence_macs(c, fed, sel, /*all_logits=*/false);
    macs.lm_head += (int64_t(q.ids.size()) - 1) * c.d_model * c.vocab_size;  // logits at each decode step
    CHECK(s["flops"].as_double() == doctest::Approx(2.0 * double(macs.total())).epsilon(1e-12));
    double ratio = s["selected_ratio"].as_double();
    CHECK(ratio == doctest::Approx(double(crit) / double(fed)));
    CHECK(ratio > 0.05);  // the threshold sits at a median score
    CHECK(ratio < 0.95);
    CHECK(s["latency_ms"].as_double() > 0);
    CHECK(s["output"].as_string() == cut_at_stop(decode_answer(Tokenizer(), q.ids), {"\n"}));
    flops_sum += s["flops"].as_double();
    ratio_sum += ratio;
  }
  CHECK(r.flops_per_query == doctest::Approx(flops_sum / 3));
  CHECK(summary["selected_ratio"].as_double() == doctest::Approx(ratio_sum / 3));
  // the dense baseline: closed form, on the same prompts; the SRA model does fewer multiply-adds per token
  CHECK(*r.baseline_flops > 0);
  CHECK(summary["flops_relative"].as_double() == doctest::Approx(r.flops_per_query / *r.baseline_flops));
}

TEST_CASE("eval: a sentencepiece checkpoint is evaluated with its tokenizer; a hash mismatch is refused") {
  const std::string dir = temp_dir("eval_spm").string();
  const std::string& spm = sra::testing::unigram_model_path();
  Tokenizer tok = Tokenizer::load(spm);
  RunConfig cfg = tiny_config("sra");
  cfg.model.vocab_size = 512;
  LoadedModel lm = model_from_config(cfg);
  Checkpoint ck = model_checkpoint(cfg, *lm.model, 1);
  ck.meta["tokenizer"] = spm;
  ck.meta["tokenizer_hash"] = tok.hash();
  save_checkpoint(ck, dir + "/ok.h5");
  ck.meta["tokenizer_hash"] = "0123456789abcdef";
  save_checkpoint(ck, dir + "/bad.h5");

  EvalModel em = load_eval_model(dir + "/ok.h5");
  CHECK(em.tokenizer.loaded());
  EvalOptions o;
  o.dataset = "synthetic";
  o.limit = 2;
  EvalTask task = make_eval_task(o, to_synthetic_options(em.config));
  EvalResult r = evaluate(*em.model, em.tokenizer, task, 6, 2);
  CHECK(r.n == 2);
  std::vector<int64_t> ids = encode_prompt(em.tokenizer, r.samples[0].prompt);
  CHECK(ids[0] == tok.bos_id());
  CHECK(r.samples[0].prompt_tokens == int64_t(ids.size()));
  CHECK(r.samples[0].prompt_tokens < int64_t(r.samples[0].prompt.size()));  // pieces, not bytes

  CHECK(error_of([&] { load_eval_model(dir + "/bad.h5"); }) ==
        "[eval] " + dir + "/bad.h5: tokenizer '" + spm + "' has hash " + tok.hash() +
            ", but the checkpoint was trained with tokenizer hash 0123456789abcdef");
}

TEST_CASE("eval: --compare gives one row per checkpoint; usage and runtime errors") {
  const std::string dir = temp_dir("eval_cmp").string();
  const std::string sra_ck = save_tiny(dir, "sra"), dense_ck = save_tiny(dir, "dense");
  EvalRunOptions opt;
  opt.compare = {dense_ck, dense_ck, sra_ck};
  opt.labels = {"Standard", "CoT", "SRA"};
  opt.modes = {"direct", "cot", "cot"};
  opt.eval.dataset = "synthetic";
  opt.eval.limit = 2;
  opt.eval.shots = 1;
  opt.eval.max_new_tokens = 4;
  opt.out_dir = dir + "/cmp";
  std::ostringstream out, log;
  std::vector<EvalResult> rows = run_eval(opt, out, log);
  std::vector<std::string> table = lines_of(out.str());
  REQUIRE(table.size() == 13);  // the table, then McNemar for the 3 pairs
  CHECK(table[6] == "Paired answers (McNemar's test, two-sided):");
  CHECK(table[10].rfind("| Standard | CoT | 2 |", 0) == 0);
  CHECK(table[12].rfind("| CoT | SRA | 2 |", 0) == 0);
  CHECK(table[2].rfind("| Standard | 2 |", 0) == 0);
  CHECK(table[3].rfind("| CoT | 2 |", 0) == 0);
  CHECK(table[4].rfind("| SRA | 2 |", 0) == 0);
  CHECK(table[2].find("| 1.00x |") != std::string::npos);  // relative to the first row
  CHECK_FALSE(rows[0].cot);
  CHECK(rows[0].samples[0].prompt != rows[1].samples[0].prompt);  // direct vs step-by-step exemplar
  CHECK(rows[1].samples[0].prompt == rows[2].samples[0].prompt);
  CHECK(Json::parse(slurp(dir + "/cmp/summary.json"))["rows"].as_array().size() == 3);
  CHECK(std::filesystem::exists(dir + "/cmp/SRA/samples.jsonl"));
  CHECK(slurp(dir + "/cmp/summary.md") == out.str());

  EvalRunOptions bad = opt;
  bad.labels = {"a"};
  CHECK(error_of([&] { run_eval(bad, out, log); }) == "[config] --labels has 1 labels for 3 checkpoints");
  bad = opt;
  bad.checkpoint = sra_ck;
  CHECK(error_of([&] { run_eval(bad, out, log); }) ==
        "[config] give exactly one of --checkpoint or --compare");
  bad = opt;
  bad.compare = {dir + "/missing.h5"};
  bad.labels.clear();
  bad.modes.clear();
  CHECK(error_of([&] { run_eval(bad, out, log); }) == "[checkpoint] " + dir + "/missing.h5: no such file");

  // the CLI: exit codes and the table
  std::string o;
  CHECK(run_sra("eval --dataset synthetic", &o, dir) == 2);
  CHECK(o.find("--checkpoint or --compare") != std::string::npos);
  CHECK(run_sra("eval --checkpoint " + sra_ck + " --dataset mnist", &o, dir) == 2);
  CHECK(run_sra("eval --checkpoint " + sra_ck + " --dataset synthetic --shots -1", &o, dir) == 2);
  CHECK(run_sra("eval --checkpoint " + sra_ck + " --dataset synthetic --direct --cot", &o, dir) == 2);
  CHECK(run_sra("eval --checkpoint " + dir + "/missing.h5 --dataset synthetic", &o, dir) == 1);
  CHECK(o.find("error: [checkpoint] " + dir + "/missing.h5: no such file") != std::string::npos);
  CHECK(run_sra("eval --compare " + dense_ck + " " + sra_ck +
                    " --labels dense,sra --dataset synthetic --limit 2 --max-new-tokens 3",
                &o, dir) == 0);
  std::vector<std::string> cli_table;
  for (const std::string& line : lines_of(o))
    if (line.rfind("|", 0) == 0) cli_table.push_back(line);
  REQUIRE(cli_table.size() == 7);  // the table, then the paired (McNemar) table of its one pair
  CHECK(cli_table[2].rfind("| dense | 2 |", 0) == 0);
  CHECK(cli_table[3].rfind("| sra | 2 |", 0) == 0);
  CHECK(cli_table[6].rfind("| dense | sra | 2 |", 0) == 0);
  CHECK(run_sra("eval score --dataset gsm8k --predictions " + dir + "/none.jsonl", &o, dir) == 1);
  CHECK(run_sra("eval score --dataset gsm8k", &o, dir) == 2);
}

TEST_CASE(
    "eval: --threshold-offset raises or lowers every SRA router's threshold, per checkpoint or for all") {
  const std::string dir = temp_dir("eval_offset").string();
  const std::string sra_ck = save_tiny(dir, "sra"), dense_ck = save_tiny(dir, "dense");
  EvalRunOptions opt;
  opt.compare = {sra_ck, sra_ck, sra_ck, dense_ck};
  opt.threshold_offsets = {0, 100, -100, 100};
  opt.eval.dataset = "synthetic";
  opt.eval.limit = 2;
  opt.eval.max_new_tokens = 4;
  opt.out_dir = dir + "/cmp";
  std::ostringstream out, log;
  std::vector<EvalResult> rows = run_eval(opt, out, log);
  REQUIRE(rows.size() == 4);
  CHECK(rows[0].selected_ratio > 0.05);  // the threshold at a median score
  CHECK(rows[0].selected_ratio < 0.95);
  CHECK(rows[1].selected_ratio == 0.0);  // θ + 100: nothing is critical
  CHECK(rows[2].selected_ratio == 1.0);  // θ − 100: everything is
  CHECK(rows[1].attention_flops_per_query < rows[0].attention_flops_per_query);
  CHECK(rows[0].attention_flops_per_query < rows[2].attention_flops_per_query);
  CHECK(rows[0].label.ends_with("/sra (sra, zero-shot)"));
  CHECK(rows[1].label.ends_with("/sra (sra, zero-shot, θ+100)"));
  CHECK(rows[2].label.ends_with("/sra (sra, zero-shot, θ-100)"));
  CHECK(rows[3].label.ends_with("/dense (dense, zero-shot)"));  // dense models have no threshold
  Json summary = Json::parse(slurp(dir + "/cmp/summary.json"));
  CHECK(summary["rows"][1]["threshold_offset"].as_double() == 100.0);
  // the checkpoint itself is unchanged: a plain evaluation selects as row 0 did
  opt.compare.clear();
  opt.checkpoint = sra_ck;
  opt.threshold_offsets.clear();
  opt.out_dir.clear();
  CHECK(run_eval(opt, out, log)[0].selected_ratio == rows[0].selected_ratio);
  // one value applies to every model
  opt.threshold_offsets = {100};
  CHECK(run_eval(opt, out, log)[0].selected_ratio == 0.0);

  EvalRunOptions bad = opt;
  bad.checkpoint.clear();
  bad.compare = {sra_ck, sra_ck, sra_ck};
  bad.threshold_offsets = {0, 1};
  CHECK(error_of([&] { run_eval(bad, out, log); }) ==
        "[config] --threshold-offset has 2 values for 3 checkpoints (give one, or one per checkpoint)");
  std::string o;
  CHECK(run_sra("eval --compare " + sra_ck + " " + sra_ck +
                    " --threshold-offset 0,100 --dataset synthetic --limit 1 --max-new-tokens 2",
                &o, dir) == 0);
  CHECK(o.find("θ+100)") != std::string::npos);
  CHECK(run_sra("eval --checkpoint " + sra_ck + " --threshold-offset x --dataset synthetic", &o, dir) == 2);
}

TEST_CASE("eval: --match-ratio sets the shifted row's threshold offset to the other row's selected ratio") {
  const std::string dir = temp_dir("eval_match").string();
  const std::string sra_ck = save_tiny(dir, "sra"), dense_ck = save_tiny(dir, "dense");
  EvalRunOptions opt;
  opt.compare = {sra_ck, sra_ck};
  opt.labels = {"budget", "shift"};
  opt.threshold_offsets = {-0.3, 0};  // row 1's budget; row 2's offset is replaced by the calibration
  opt.match_ratio = "budget:shift";
  opt.calibration_problems = 3;
  opt.eval.dataset = "synthetic";
  opt.eval.limit = 2;
  opt.eval.max_new_tokens = 3;
  opt.out_dir = dir + "/cmp";
  std::ostringstream out, log;
  std::vector<EvalResult> rows = run_eval(opt, out, log);
  REQUIRE(rows.size() == 2);
  REQUIRE(!rows[1].calibration.is_null());
  const double target = rows[1].calibration["target"].as_double();
  CHECK(target > 0);
  CHECK(rows[1].threshold_offset < 0);  // more tokens than at θ: a lower threshold
  CHECK(std::fabs(rows[1].calibration["ratio"].as_double() - target) <= std::max(0.001, 0.02 * target));
  CHECK(rows[1].threshold_offset == rows[1].calibration["offset"].as_double());
  CHECK(rows[1].calibration["split"].as_string() == "val");
  CHECK(rows[0].calibration.is_null());
  Json summary = Json::parse(slurp(dir + "/cmp/summary.json"));
  CHECK(summary["rows"][1]["calibration"]["problems"].as_int() == 3);
  CHECK(summary["paired"][0]["a"].as_string() == "budget");
  CHECK(summary["rows"][0]["kv_cache_bytes"].as_double() > 0);
  CHECK(out.str().find("Paired answers (McNemar") != std::string::npos);

  EvalRunOptions bad = opt;
  for (const char* spec : {"budget", "budget:nope", "3:1", "shift:shift"}) {
    bad.match_ratio = spec;
    CHECK_THROWS_WITH(run_eval(bad, out, log), doctest::Contains("[config] --match-ratio"));
  }
  bad.match_ratio = "1:2";  // row numbers work too; a dense row has no threshold to shift
  bad.compare = {sra_ck, dense_ck};
  CHECK_THROWS_WITH(run_eval(bad, out, log), doctest::Contains("has no SRA layers"));
  std::string o;
  CHECK(run_sra("eval --compare " + sra_ck + " " + sra_ck +
                    " --match-ratio 1:2 --calibration-problems 0 "
                    "--dataset synthetic",
                &o, dir) == 2);
}

TEST_CASE("eval: --device picks where the models run; a bad spec is refused before any loading") {
  const std::string dir = temp_dir("eval_device").string();
  EvalRunOptions opt;
  opt.checkpoint = dir + "/missing.h5";  // never opened: the device is checked first
  opt.eval.dataset = "synthetic";
  std::ostringstream out, log;
  for (const char* bad : {"gpu", "cuda:", "cuda:x", "CPU", ""}) {
    opt.device = bad;
    CHECK(error_of([&] { run_eval(opt, out, log); }) ==
          "[config] device: must be cpu, cuda or cuda:N (N = a GPU index), got '" + std::string(bad) + "'");
  }
  std::string o;
  CHECK(run_sra("eval --checkpoint " + opt.checkpoint + " --dataset synthetic --device gpu", &o, dir) == 2);
  CHECK(o.find("error: [config] device: must be cpu, cuda or cuda:N (N = a GPU index), got 'gpu'") !=
        std::string::npos);
  if (!cuda::available()) {
    CHECK(run_sra("eval --checkpoint " + opt.checkpoint + " --dataset synthetic --device cuda", &o, dir) ==
          2);
    CHECK(o.find("error: [config] device cuda: ") != std::string::npos);
  }
  // the default, cpu, evaluates
  opt.checkpoint = save_tiny(dir, "dense");
  opt.device = "cpu";
  opt.eval.limit = 1;
  opt.eval.max_new_tokens = 2;
  CHECK(run_eval(opt, out, log)[0].n == 1);
}

TEST_CASE(
    "cuda: sra eval --device cuda gives the CPU's answers; a GPU-saved checkpoint evaluates on the CPU" *
    doctest::skip(!cuda::available())) {
  const std::string dir = temp_dir("eval_cuda").string();
  const std::string sra_ck = save_tiny(dir, "sra"), dense_ck = save_tiny(dir, "dense");
  EvalRunOptions opt;
  opt.compare = {sra_ck, dense_ck};
  opt.eval.dataset = "synthetic";
  opt.eval.limit = 5;
  opt.eval.max_new_tokens = 12;
  opt.eval.batch = 3;  // a group of three, then two
  std::ostringstream out, log;
  const std::vector<EvalResult> cpu = run_eval(opt, out, log);
  opt.device = "cuda";
  const std::vector<EvalResult> gpu = run_eval(opt, out, log);
  CHECK(log.str().find("[eval] running on cuda:0") != std::string::npos);
  auto check_same = [](const EvalResult& a, const EvalResult& b) {
    CHECK(a.n == b.n);
    CHECK(a.correct == b.correct);
    CHECK(a.correct_flexible == b.correct_flexible);
    CHECK(a.selected_ratio == b.selected_ratio);
    CHECK(a.flops_per_query == b.flops_per_query);
    REQUIRE(a.samples.size() == b.samples.size());
    for (size_t i = 0; i < a.samples.size(); ++i) {
      INFO("sample " << i);
      CHECK(a.samples[i].output == b.samples[i].output);
      CHECK(a.samples[i].answer_tokens == b.samples[i].answer_tokens);
      CHECK(a.samples[i].finish_reason == b.samples[i].finish_reason);
      CHECK(a.samples[i].selected_ratio == b.samples[i].selected_ratio);
    }
  };
  REQUIRE(gpu.size() == 2);
  check_same(cpu[0], gpu[0]);
  check_same(cpu[1], gpu[1]);

  // a checkpoint written from the model's GPU tensors is the same file content: it evaluates on the CPU alike
  LoadedModel lm = load_model(sra_ck);
  lm.model->to(Device::cuda(0));
  const std::string saved = dir + "/from_gpu.h5";
  save_checkpoint(model_checkpoint(lm.config, *lm.model, 5), saved);
  sra::testing::check_same_tensors(load_checkpoint(sra_ck), load_checkpoint(saved));
  EvalRunOptions one = opt;
  one.compare = {saved};
  one.device = "cpu";
  check_same(cpu[0], run_eval(one, out, log)[0]);
}
