// Faults and bad input (issue 13): runaway requests end fast or are bounded, bad input is a clear error
// naming the flag / key / file:line with exit 2 (usage) or 1 (runtime), never a crash or a hang. Most
// cases run the real `sra` binary (tests/cli_test_util.h); the pieces behind them (the JSONL line limit,
// activity labels, the warning splitter, the context budget, streaming) are also tested directly.
#include <doctest/doctest.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <fstream>
#include <functional>
#include <sstream>

#include "cli_test_util.h"
#include "data/jsonl.h"
#include "model/generate.h"
#include "run/activity.h"
#include "run/checkpoint.h"
#include "run/data_prep.h"
#include "run/model_io.h"
#include "tools/cli/generate_run.h"
#include "tools/cli/log_split.h"

namespace fs = std::filesystem;
using sra::testing::error_line;
using sra::testing::error_of;
using sra::testing::Run;
using sra::testing::run_sra;
using sra::testing::temp_dir;
using sra::testing::write_text;

namespace {

// A small byte-level model: fast to build and run.
const std::vector<std::string> kSmall = {"model.d_model=32",   "model.n_layers=2", "model.n_heads=2",
                                         "model.n_kv_heads=2", "model.d_ff=64",    "model.max_seq_len=64",
                                         "data.seq_len=32"};

std::vector<std::string> with_sets(std::vector<std::string> args, const std::vector<std::string>& sets) {
  for (const std::string& s : sets) args.insert(args.end(), {"--set", s});
  return args;
}

double seconds_of(const std::function<void()>& fn) {
  auto t0 = std::chrono::steady_clock::now();
  fn();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

TEST_CASE("cli faults: usage errors exit 2 with a readable message naming the flag or the command") {
  struct Case {
    std::vector<std::string> args;
    std::string err;  // the whole "error: ..." line
  };
  const std::vector<Case> cases = {
      {{"train", "--config", "configs/tiny-cpu.yaml", "--out", "x", "--max-steps", "-5"},
       "error: --max-steps: must be an integer >= 0, got -5"},
      {{"rl", "--config", "c", "--init", "i", "--out", "o", "--max-steps", "-1"},
       "error: --max-steps: must be an integer >= 0, got -1"},
      {{"generate", "--config", "configs/tiny-cpu.yaml", "--prompt", ""},
       "error: --prompt: must not be empty"},
      {{"generate", "--config", "configs/tiny-cpu.yaml", "--prompt", "a", "--top-p", "0"},
       "error: --top-p: must be a finite number in (0, 1], got 0"},
      {{"generate", "--config", "configs/tiny-cpu.yaml", "--prompt", "a", "--temperature", "nan"},
       "error: --temperature: must be a finite number >= 0, got nan"},
      {{"generate", "--config", "configs/tiny-cpu.yaml", "--prompt", "a", "--max-new-tokens",
        "99999999999999999999"},
       "error: --max-new-tokens: must fit in a 64-bit integer, got 99999999999999999999"},
      {{"generate", "--config", "configs/tiny-cpu.yaml", "--prompt", "a", "--top-k", "-1"},
       "error: --top-k: must be an integer >= 0, got -1"},
      {{"demo", "--seconds", "-1"}, "error: --seconds: must be a finite number > 0, got -1"},
      {{"demo", "--lr", "inf"}, "error: --lr: must be a finite number > 0, got inf"},
      {{"demo", "--seq-len", "1"}, "error: --seq-len: must be an integer in [2, 4096], got 1"},
      {{"demo", "--d-model", "30"}, "error: --d-model: must be a multiple of the 4 heads, got 30"},
      {{"bench", "cpu", "--steps", "0"}, "error: --steps: must be an integer >= 1, got 0"},
      {{"bench", "attention", "--ratio", "2"}, "error: --ratio: must be a finite number in [0, 1], got 2"},
      {{"eval", "--checkpoint", "c", "--dataset", "synthetic", "--shots", "-1"},
       "error: --shots: must be an integer >= 0, got -1"},
      {{"eval", "--checkpoint", "c", "--dataset", "synthetic", "--threshold-offset", "0,nan"},
       "error: --threshold-offset: must be a finite number (not nan or inf), got nan"},
      {{"eval", "--checkpoint", "c", "--dataset", "synthetic", "--calibration-problems", "0"},
       "error: --calibration-problems: must be an integer >= 1, got 0"},
      {{"tokenizer", "train", "--dataset", "synthetic", "--out", "x", "--max-lines", "-2"},
       "error: --max-lines: must be an integer >= 0, got -2"},
      {{},
       "error: 'sra' needs a command: demo, bench, train, generate, eval, tokenizer, data, rl, convert, "
       "logits"},
      {{"trian"},
       "error: unknown command 'trian' for 'sra'; did you mean 'train'? (commands: demo, bench, train, "
       "generate, eval, tokenizer, data, rl, convert, logits)"},
      {{"bench", "cpux"},
       "error: unknown command 'cpux' for 'sra bench'; did you mean 'cpu'? (commands: cpu, "
       "attention, decode, train)"},
      {{"eval", "scroe"},
       "error: unknown command 'scroe' for 'sra eval'; did you mean 'score'? (commands: "
       "score)"},
      {{"frobnicate"},
       "error: unknown command 'frobnicate' for 'sra' (commands: demo, bench, train, generate, "
       "eval, tokenizer, data, rl, convert, logits)"},
      {{"bench"}, "error: 'sra bench' needs a command: cpu, attention, decode, train"},
      {{"bench", "train", "--precision", "fp16"}, "error: --precision: fp16 not in {f32,bf16}"},
      {{"bench", "train", "--device", "gpu"}, "error: --device: must be cpu, cuda or cuda:N, got 'gpu'"},
      {{"convert"}, "error: 'sra convert' needs a command: hf-to-sra, sra-to-hf"},
      {{"convert", "hf-to-sr"},
       "error: unknown command 'hf-to-sr' for 'sra convert'; did you mean 'hf-to-sra'? (commands: hf-to-sra, "
       "sra-to-hf)"},
      {{"convert", "hf-to-sra", "--in", "d"}, "error: --out is required"},
      {{"convert", "sra-to-hf", "--in", "c", "--out", "o", "--dtype", "f16"},
       "error: --dtype: f16 not in {f32,bf16}"},
      {{"logits", "--ids", "1,2"}, "error: --checkpoint or --hf is required"},
      {{"logits", "--hf", "d", "--ids", "1,-2"}, "error: --ids: must be an integer >= 0, got -2"},
      {{"logits", "--hf", "d", "--ids", "1", "--greedy", "-1"},
       "error: --greedy: must be an integer >= 0, got -1"},
      {{"logits", "--hf", "d", "--ids", "1", "--precision", "f16"},
       "error: --precision: f16 not in {f32,bf16}"},
      {{"logits", "--hf", "d", "--checkpoint", "c", "--ids", "1"}, "error: --checkpoint excludes --hf"},
      {{"bench", "train", "--loss", "chunked"}, "error: --loss: chunked not in {fused,unfused}"},
      {{"train", "--config", "configs/tiny-cpu.yaml", "--out", "x", "--nproc-per-node", "0"},
       "error: --nproc-per-node: must be an integer in [1, 1024], got 0"},
      {{"eval", "--checkpoint", "c", "--dataset", "synthetic", "--nproc-per-node", "x"},
       "error: --nproc-per-node: must be an integer, got 'x'"},
      {{"bench", "train", "--backend", "gloo"}, "error: --backend: gloo not in {auto,tcp,nccl,mpi}"},
      {{"eval", "--checkpoint", "c", "--dataset", "synthetic", "--dist-timeout", "0"},
       "error: --dist-timeout: must be a finite number > 0, got 0"},
  };
  for (const Case& c : cases) {
    Run r = run_sra(c.args);
    std::string cmd;
    for (const std::string& a : c.args) cmd += a + " ";
    INFO(cmd, "\nstdout: ", r.out, "\nstderr: ", r.err);
    CHECK(r.rc == 2);
    CHECK(error_line(r.err) == c.err);
    CHECK(r.out.empty());
  }
  // sra demo --help shows the demo's own defaults
  Run help = run_sra({"demo", "--help"});
  CHECK(help.rc == 0);
  // (CLI11 2.3 prints "--d-model INT:POSITIVE=128", 2.4 puts the default in brackets: match the line)
  auto help_line = [&](const std::string& flag) {
    size_t at = help.out.find(flag + " ");
    return at == std::string::npos ? std::string() : help.out.substr(at, help.out.find('\n', at) - at);
  };
  CHECK(help_line("--d-model").find("128") != std::string::npos);
  CHECK(help_line("--layers").find("4") != std::string::npos);
}

TEST_CASE("cli faults: sra generate is bounded by the model's context and says so on stderr") {
  // a runaway --max-new-tokens stops at the context: 64 - 2 prompt bytes = 62 tokens
  Run r;
  double s = seconds_of([&] {
    r = run_sra(with_sets({"generate", "--config", "configs/tiny-cpu.yaml", "--prompt", "hi",
                           "--max-new-tokens", "1000000000000"},
                          kSmall));
  });
  INFO(r.out, r.err);
  CHECK(r.rc == 0);
  CHECK(s < 30);
  CHECK(r.out.size() == 2 + 62 + 1);  // bytes: the prompt, 62 generated, a newline
  CHECK(r.err ==
        "warning: --max-new-tokens 1000000000000 capped to 62: the prompt (2 tokens) and the answer must fit "
        "the model's context (model.max_seq_len 64)\n");
  // a prompt that fills the context can never be answered: a usage error naming --prompt
  r = run_sra(
      with_sets({"generate", "--config", "configs/tiny-cpu.yaml", "--prompt", std::string(64, 'a')}, kSmall));
  CHECK(r.rc == 2);
  CHECK(error_line(r.err) ==
        "error: --prompt: the prompt is 64 tokens, which leaves no room for an answer in the model's context "
        "(model.max_seq_len 64)");

  std::ostringstream log;
  CHECK(sra::context_budget(10, 5, 64, log) == 5);
  CHECK(sra::context_budget(10, 54, 64, log) == 54);
  CHECK(log.str().empty());
  CHECK(sra::context_budget(10, 55, 64, log) == 54);
  CHECK(log.str().find("capped to 54") != std::string::npos);
  CHECK_THROWS_AS(sra::context_budget(64, 1, 64, log), CLI::ValidationError);

  // an --html page that cannot be written fails before the model is even loaded
  r = run_sra(with_sets({"generate", "--config", "configs/tiny-cpu.yaml", "--prompt", "a", "--html",
                         "/nonexistent/dir/sel.html"},
                        kSmall));
  CHECK(r.rc == 2);
  CHECK(r.out.empty());
  CHECK(error_line(r.err) == "error: --html: the directory '/nonexistent/dir' does not exist");
}

TEST_CASE("cli faults: streamed generation prints the same text, token by token") {
  sra::GenerateRunOptions opt;
  opt.config = "configs/tiny-cpu.yaml";
  opt.overrides = kSmall;
  opt.prompt = "To be";
  opt.gen.max_new_tokens = 20;
  opt.gen.sampling.temperature = 1.0;
  opt.gen.sampling.seed = 3;
  std::ostringstream plain, streamed, log;
  sra::run_generate(opt, plain, log);
  opt.stream = true;
  sra::run_generate(opt, streamed, log);
  CHECK(streamed.str() == plain.str());
  CHECK(plain.str().size() == 5 + 20 + 1);

  // generate() reports each token as it is accepted, in order, before the next decode step
  sra::LoadedModel lm = sra::model_from_config(sra::load_config("configs/tiny-cpu.yaml", kSmall));
  sra::GenerateConfig gc;
  gc.max_new_tokens = 7;
  std::vector<std::pair<size_t, int64_t>> seen;
  gc.on_token = [&](size_t seq, int64_t tok) { seen.emplace_back(seq, tok); };
  std::vector<sra::SequenceResult> out = sra::generate(*lm.model, {{1, 2, 3}, {4, 5}}, gc);
  REQUIRE(seen.size() == 14);
  std::vector<int64_t> ids0, ids1;
  for (auto [seq, tok] : seen) (seq == 0 ? ids0 : ids1).push_back(tok);
  CHECK(ids0 == out[0].ids);
  CHECK(ids1 == out[1].ids);
}

TEST_CASE("cli faults: sra eval checks --shots against the context before building any prompt") {
  fs::path dir = temp_dir("eval_shots");
  sra::RunConfig cfg = sra::load_config("configs/tiny-cpu.yaml", kSmall);
  sra::LoadedModel lm = sra::model_from_config(cfg);
  const std::string ck = (dir / "m.h5").string();
  sra::save_checkpoint(sra::model_checkpoint(cfg, *lm.model, 1), ck);

  Run r;
  double s = seconds_of([&] {
    r = run_sra({"eval", "--checkpoint", ck, "--dataset", "synthetic", "--limit", "1", "--shots", "100000"},
                sra::testing::address_space_limit(2000000));
  });
  CHECK(s < 10);
  CHECK(r.rc == 2);
  CHECK(error_line(r.err) ==
        "error: [config] --shots 100000 cannot fit the model's context (model.max_seq_len "
        "64 of " +
            ck + "): every exemplar takes at least one token");
  // fewer shots than the context's tokens, but still too long: refused before any generation
  r = run_sra({"eval", "--checkpoint", ck, "--dataset", "synthetic", "--limit", "1", "--shots", "40"});
  CHECK(r.rc == 2);
  CHECK(error_line(r.err).find("error: [config] --shots 40: the prompt of problem 0 is ") == 0);
  CHECK(error_line(r.err).find("only a zero-shot prompt (--shots 0) can fit") != std::string::npos);
  CHECK(r.err.find("problems/s") == std::string::npos);  // nothing was generated

  // an answer longer than the whole context is refused before any generation
  r = run_sra(
      {"eval", "--checkpoint", ck, "--dataset", "synthetic", "--limit", "1", "--max-new-tokens", "100000"});
  CHECK(r.rc == 2);
  CHECK(error_line(r.err) ==
        "error: [config] --max-new-tokens 100000 is more than the model's context (model.max_seq_len 64)");

  // zero-shot prompts past the context are evaluated, with the warning before the first batch
  r = run_sra(
      {"eval", "--checkpoint", ck, "--dataset", "synthetic", "--limit", "2", "--max-new-tokens", "4"});
  INFO(r.err);
  CHECK(r.rc == 0);
  const size_t warn = r.err.find("[eval] warning: 2 of 2 prompts + max_new_tokens exceed");
  CHECK(warn != std::string::npos);
  CHECK(warn < r.err.find("[eval] 2/2 problems"));
}

TEST_CASE("cli faults: JSONL lines over the limit are bad lines, never read whole") {
  fs::path dir = temp_dir("jsonl_limit");
  const std::string file = (dir / "big.jsonl").string();
  const std::string big =
      "{\"question\": \"" + std::string(size_t(2) << 20, 'x') + "\", \"answer\": \"#### 1\"}";
  const std::string row = "{\"question\": \"q\", \"answer\": \"#### 1\"}";
  write_text(file, row + "\n" + big + "\r\n" + row + "\n");
  CHECK(error_of([&] { sra::read_jsonl(file); }) ==
        "[data] " + file +
            ":2: line longer than the limit of 1048576 bytes (GSM8K and MATH lines are under 8 KB)");
  sra::JsonlOptions skip;
  skip.skip_bad_lines = true;
  sra::JsonlStats st;
  std::vector<sra::Json> rows = sra::read_jsonl(file, skip, &st);
  REQUIRE(rows.size() == 2);
  CHECK(rows[1].dump() == sra::Json::parse(row).dump());
  CHECK(st.bad == 1);
  // the limit is an option: a small one makes ordinary lines too long
  sra::JsonlOptions tight;
  tight.max_line_bytes = row.size() - 1;
  CHECK(error_of([&] { sra::read_jsonl(file, tight); }) ==
        "[data] " + file + ":1: line longer than the limit of " + std::to_string(row.size() - 1) +
            " bytes (GSM8K and MATH lines are under 8 KB)");
  tight.max_line_bytes = row.size();  // exactly the line: fine
  CHECK(error_of([&] { sra::read_jsonl(file, tight); }).find(file + ":2:") != std::string::npos);
  CHECK(error_of([&] { sra::read_jsonl(dir.string()); }) ==
        "[data] '" + dir.string() + "' is a directory, not a JSONL file");

  // through the CLI: sra data prepare names the file and line, exit 1
  write_text(dir / "run.yaml", "model:\n  vocab_size: 256\ndata:\n  dataset: gsm8k\n  path: " + file + "\n");
  Run r =
      run_sra({"data", "prepare", "--config", (dir / "run.yaml").string(), "--out", (dir / "out").string()});
  CHECK(r.rc == 1);
  CHECK(error_line(r.err) ==
        "error: [data] " + file +
            ":2: line longer than the limit of 1048576 bytes (GSM8K and MATH lines are under 8 KB)");

  // tokenized text: a line over the limit is refused, naming FILE:LINE
  const std::string text = (dir / "big.txt").string();
  write_text(text, "a line\n" + std::string((size_t(1) << 20) + 1, 'y') + "\nlast\n");
  sra::RunConfig cfg = sra::load_config(
      "configs/tiny-cpu.yaml", {"data.dataset=text", "data.path=" + text,
                                "data.tokenizer=" + sra::testing::bpe_model_path(), "model.vocab_size=512"});
  CHECK(error_of([&] { sra::load_training_data(cfg, ""); }) ==
        "[data] " + text +
            ":2: line of 1048577 bytes is longer than the limit of 1048576 bytes for tokenized "
            "text (each line is encoded on its own; split the line)");
}

TEST_CASE("cli faults: out of memory is an error saying what was being done") {
  // a reservation far beyond a 1 GB address-space limit: std::bad_alloc inside load_training_data
  // (a CUDA build's runtime reserves far more address space than the limit: the CPU build runs this part)
  fs::path dir = temp_dir("oom");
  if (!sra::cuda::built_with_cuda()) {
    Run r =
        run_sra({"data", "prepare", "--config", "configs/tiny-cpu.yaml", "--set", "data.dataset=synthetic",
                 "--set", "data.synthetic.train_problems=100000000", "--out", (dir / "out").string()},
                sra::testing::address_space_limit(1000000));
    CHECK(r.rc == 1);
    CHECK(error_line(r.err) ==
          "error: out of memory in 'sra data prepare' while loading the training data (data.dataset "
          "synthetic, bytes)");
  }

  // the labels: the innermost scope an exception leaves records the stack; a new scope clears it
  try {
    sra::ActivityScope a("outer");
    CHECK(sra::current_activity() == "outer");
    sra::ActivityScope b("inner");
    CHECK(sra::current_activity() == "outer: inner");
    throw std::bad_alloc();
  } catch (const std::bad_alloc&) {
    CHECK(sra::failed_activity() == "outer: inner");
  }
  CHECK(sra::current_activity().empty());
  { sra::ActivityScope c("next"); }
  CHECK(sra::failed_activity().empty());
}

TEST_CASE("cli faults: warnings go to stderr, logs to stdout, line by line") {
  std::ostringstream log, warn;
  {
    sra::cli::WarningSplitStream s(log, warn);
    s << "step 1\n"
      << "warning: the config differs\n"
      << "warn is not a warning\n";
    s << "\r\x1b[K1/3 [##] " << std::flush;  // a progress bar: passed on at the flush
    CHECK(log.str().ends_with("[##] "));
    s << "\r\x1b[Kwarning: after a progress bar\n"
      << "war" << std::flush;  // "war" waits: undecided
    CHECK(!log.str().ends_with("war"));
    s << "ning: last\n";
  }
  CHECK(log.str() == "step 1\nwarn is not a warning\n\r\x1b[K1/3 [##] \r");
  CHECK(warn.str() == "warning: the config differs\n\x1b[Kwarning: after a progress bar\nwarning: last\n");

  // sra train: a skipped bad line's warning is on stderr, not in the log on stdout
  fs::path dir = temp_dir("warn");
  std::string rows;
  std::ifstream in(sra::resolve_data_dir("") + "/gsm8k/train.jsonl");
  std::string line;
  for (int i = 0; i < 40 && std::getline(in, line); ++i) rows += (i == 3 ? "{broken" : line) + "\n";
  write_text(dir / "g.jsonl", rows);
  Run r = run_sra(
      with_sets({"train", "--config", "configs/tiny-cpu.yaml", "--out", (dir / "run").string()},
                {"data.dataset=gsm8k", "data.path=" + (dir / "g.jsonl").string(), "data.skip_bad_lines=true",
                 "data.seq_len=64", "train.steps=1", "schedule.warmup_steps=0", "train.eval_every=0",
                 "model.d_model=32", "model.n_layers=2", "model.d_ff=64"}));
  INFO(r.out, r.err);
  CHECK(r.rc == 0);
  CHECK(r.err.find("warning: [data] ") == 0);
  CHECK(r.out.find("warning") == std::string::npos);
  CHECK(r.out.find("done: step 1 of 1") != std::string::npos);
}

TEST_CASE("cli faults: stdout is line-buffered and sentencepiece's info lines are silenced") {
  // killed mid-run, a piped sra has already written its first line
  fs::path dir = temp_dir("linebuf");
  Run r = run_sra({"bench", "cpu", "--steps", "100000"}, "timeout 3 ");
  CHECK(r.out.rfind("sra bench cpu: ", 0) == 0);

  r = run_sra({"tokenizer", "train", "--dataset", "synthetic", "--problems", "20", "--vocab-size", "100",
               "--out", (dir / "t").string()});
  CHECK(r.rc == 1);
  CHECK(error_line(r.err).find("error: [tokenizer] training") == 0);
  CHECK(r.err.find("LOG(INFO)") == std::string::npos);
}

TEST_CASE("cli faults: a missing data.tokenizer says how to make one") {
  Run r = run_sra({"generate", "--config", "configs/demo-sra.yaml", "--set",
                   "data.tokenizer=/nonexistent/syn.model", "--prompt", "a"});
  CHECK(r.rc == 1);
  CHECK(error_line(r.err).find("error: [data] data.tokenizer '/nonexistent/syn.model' does not exist") == 0);
  CHECK(error_line(r.err).find("sra tokenizer train") != std::string::npos);
}

TEST_CASE("cli faults: sra convert and sra logits name the bad directory, file or id") {
  auto dir = temp_dir("hf_faults");
  Run r =
      run_sra({"convert", "hf-to-sra", "--in", (dir / "none").string(), "--out", (dir / "x.h5").string()});
  CHECK(r.rc == 1);
  CHECK(error_line(r.err) == "error: [hf] '" + (dir / "none").string() + "' is not a directory");
  write_text(dir / "config.json", R"({"model_type":"gpt2"})");
  r = run_sra({"logits", "--hf", dir.string(), "--ids", "1"});
  CHECK(r.rc == 1);
  CHECK(error_line(r.err) == "error: [hf] " + (dir / "config.json").string() +
                                 ": model_type 'gpt2' is not supported (llama, mistral, qwen2)");
  write_text(dir / "taken.h5", "x");
  r = run_sra({"convert", "hf-to-sra", "--in", dir.string(), "--out", (dir / "taken.h5").string()});
  CHECK(r.rc == 2);
  CHECK(error_line(r.err) ==
        "error: --out: '" + (dir / "taken.h5").string() + "' exists (remove it or choose another path)");
  // a real checkpoint: ids outside the vocabulary, and a context overrun
  auto run_dir = temp_dir("hf_faults_run");
  REQUIRE(
      run_sra(with_sets({"train", "--config", "configs/tiny-cpu.yaml", "--out", run_dir.string(), "--set",
                         "data.dataset=synthetic", "--set", "train.steps=1", "--set", "train.batch_size=2",
                         "--set", "train.eval_every=0", "--set", "schedule.warmup_steps=0"},
                        kSmall))
          .rc == 0);
  const std::string ck = sra::checkpoint_path(run_dir.string(), 1);
  r = run_sra({"logits", "--checkpoint", ck, "--ids", "1,256"});
  CHECK(r.rc == 1);
  CHECK(error_line(r.err) == "error: [logits] --ids: token id 256 is outside the vocabulary [0, 256)");
  r = run_sra({"logits", "--checkpoint", ck, "--ids", "1,2", "--greedy", "63"});
  CHECK(r.rc == 1);
  CHECK(error_line(r.err) == "error: [logits] 2 ids + --greedy 63 exceed the model's context 64");
  r = run_sra({"logits", "--checkpoint", ck, "--ids", "1,2,3", "--greedy", "2", "--json"});
  CHECK(r.rc == 0);
  sra::Json j = sra::Json::parse(r.out);
  CHECK(j["t"].as_int() == 3);
  CHECK(j["logits"].size() == 3);
  CHECK(j["logits"][0].size() == 256);
  CHECK(j["greedy"].size() == 2);
  CHECK(j["greedy"][0] == j["argmax"][2]);  // KV-cache generation's first token = the full forward's argmax
  // export, then import the export: the same logits
  r = run_sra({"convert", "sra-to-hf", "--in", ck, "--out", (run_dir / "hf").string()});
  INFO(r.err);
  CHECK(r.rc == 0);
  r = run_sra({"convert", "sra-to-hf", "--in", ck, "--out", (run_dir / "hf").string()});
  CHECK(r.rc == 1);
  CHECK(error_line(r.err).find("exists and is not an empty directory") != std::string::npos);
  Run back =
      run_sra({"logits", "--hf", (run_dir / "hf").string(), "--ids", "1,2,3", "--greedy", "2", "--json"});
  INFO(back.err);
  CHECK(back.rc == 0);
  CHECK(sra::Json::parse(back.out)["logits"] == j["logits"]);
  CHECK(sra::Json::parse(back.out)["greedy"] == j["greedy"]);
}

TEST_CASE("cli faults: sra tokenizer encode / decode (tokenizer.json)") {
  const std::string fix = std::string(SRA_SOURCE_DIR) + "/tests/fixtures/bpe/tokenizer.json";
  fs::path dir = temp_dir("cli_bpe");
  write_text(dir / "two.jsonl", "\"the hello\"\n{\"not\": 1}\n");
  write_text(dir / "lines.txt", "the hello\n12345\n");
  struct Case {
    std::vector<std::string> args;
    int rc;
    std::string err;  // the whole "error: ..." line
  };
  const std::vector<Case> cases = {
      {{"tokenizer", "encode", "--tokenizer", fix}, 2, "error: --text, --file or --jsonl is required"},
      {{"tokenizer", "encode", "--tokenizer", fix, "--text", "a", "--file", fix},
       2,
       "error: --text excludes --file"},
      {{"tokenizer", "encode", "--tokenizer", fix, "--text", "a", "--lines"},
       2,
       "error: --lines: applies to --file"},
      {{"tokenizer", "encode", "--tokenizer", fix, "--jsonl", (dir / "two.jsonl").string()},
       2,
       "error: --jsonl: " + (dir / "two.jsonl").string() + ":2: expected a JSON string"},
      {{"tokenizer", "decode", "--tokenizer", fix, "--ids", "1,x"},
       2,
       "error: --ids: 'x' is not a token id (a comma-separated list of integers >= 0)"},
      {{"tokenizer", "decode", "--tokenizer", fix, "--ids", "1,,2"},
       2,
       "error: --ids: '' is not a token id (a comma-separated list of integers >= 0)"},
      {{"tokenizer", "decode", "--tokenizer", fix}, 2, "error: --ids is required"},
      {{"tokenizer", "encode", "--tokenizer", "/nonexistent/tokenizer.json", "--text", "a"},
       1,
       "error: [tokenizer] cannot read tokenizer model '/nonexistent/tokenizer.json'"},
      {{"tokenizer", "decode", "--tokenizer", fix, "--ids", "99999"},
       1,
       "error: [tokenizer] decode: id 99999 at position 0 is out of range for vocab size 269"},
      {{"tokenizer", "encode", "--tokenizer", dir.string(), "--text", "a"},
       1,
       "error: [tokenizer] directory '" + dir.string() +
           "' holds no tokenizer.json (give a sentencepiece .model file or a tokenizer.json)"},
  };
  for (const Case& c : cases) {
    Run r = run_sra(c.args);
    std::string cmd;
    for (const std::string& a : c.args) cmd += a + " ";
    INFO(cmd, "\nstdout: ", r.out, "\nstderr: ", r.err);
    CHECK(r.rc == c.rc);
    CHECK(error_line(r.err) == c.err);
    CHECK(r.out.empty());
  }
  // a tokenizer.json with an unsupported setting names the key
  std::string bad = sra::testing::slurp(fix);
  bad.replace(bad.find("\"type\": \"BPE\""), 13, "\"type\": \"WordPiece\"");
  write_text(dir / "bad.json", bad);
  Run r = run_sra({"tokenizer", "encode", "--tokenizer", (dir / "bad.json").string(), "--text", "a"});
  CHECK(r.rc == 1);
  CHECK(error_line(r.err) == "error: [tokenizer] " + (dir / "bad.json").string() +
                                 ": model.type: 'WordPiece' is not supported (only BPE)");
  // and the commands work
  r = run_sra({"tokenizer", "encode", "--tokenizer", fix, "--text", "the hello"});
  CHECK((r.rc == 0 && r.out == "116,256,32,256,259,111\n"));
  r = run_sra({"tokenizer", "encode", "--tokenizer", fix, "--file", (dir / "lines.txt").string(), "--lines",
               "--json", "--add-special"});
  CHECK((r.rc == 0 && r.out == "{\"ids\":[266,116,256,32,256,259,111]}\n{\"ids\":[266,263,52,53]}\n"));
  r = run_sra({"tokenizer", "decode", "--tokenizer", fix, "--ids", "266,258,10"});
  CHECK((r.rc == 0 && r.out == " the\n"));
  r = run_sra({"tokenizer", "decode", "--tokenizer", fix, "--ids", "266,258", "--keep-special", "--json"});
  CHECK((r.rc == 0 && r.out == "{\"text\":\"<|begin_of_text|> the\"}\n"));
}
