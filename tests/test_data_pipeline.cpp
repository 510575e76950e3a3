// The data pipeline: `sra tokenizer train` and `sra data prepare` (run as the real binary, which sits next
// to sra_tests in the build directory), the trainer's gsm8k / math / text / shards datasets
// (run/data_prep.h), the held-out validation slice, bad JSONL lines, and shards refused for a
// mismatched tokenizer or vocabulary. GSM8K and MATH fixtures are the first rows of the shared train files.
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli_test_util.h"
#include "core/json.h"
#include "data/example.h"
#include "data/jsonl.h"
#include "data/math_datasets.h"
#include "data/packing.h"
#include "data/synthetic.h"
#include "data_test_util.h"
#include "run/checkpoint.h"
#include "run/config.h"
#include "run/data_prep.h"
#include "train/trainer.h"

namespace fs = std::filesystem;
using sra::testing::error_line;
using sra::testing::error_of;
using sra::testing::read_metrics;
using sra::testing::Run;
using sra::testing::run_sra;
using sra::testing::slurp;
using sra::testing::temp_dir;
using sra::testing::write_text;

namespace {

const char* kTinyRun = R"(model:
  vocab_size: 256
  d_model: 32
  n_layers: 2
  n_heads: 2
  n_kv_heads: 2
  d_ff: 64
  max_seq_len: 64
  attention: sra
  dense_layers: [0]
  window: 8
  sinks: 2
router:
  hidden: 16
data:
  dataset: gsm8k
  path: gsm8k_small.jsonl
  seq_len: 64
optimizer:
  lr: 0.003
schedule:
  warmup_steps: 1
train:
  batch_size: 4
  steps: 2
  eval_every: 2
  eval_batches: 2
  checkpoint_every: 0
logging:
  log_every: 1
)";

// The first n lines of a shared train file, written to dir/name.
std::string head_fixture(const fs::path& dir, const std::string& rel, const std::string& name, int n) {
  std::ifstream in(sra::resolve_data_dir("") + "/" + rel);
  REQUIRE(in.good());
  std::string line, text;
  for (int i = 0; i < n && std::getline(in, line); ++i) text += line + "\n";
  write_text(dir / name, text);
  return (dir / name).string();
}

// Writes the tiny run config and a 200-row GSM8K fixture (gsm8k_small.jsonl) into dir.
std::string tiny_setup(const fs::path& dir) {
  head_fixture(dir, "gsm8k/train.jsonl", "gsm8k_small.jsonl", 200);
  write_text(dir / "run.yaml", kTinyRun);
  return (dir / "run.yaml").string();
}

// A 400-piece BPE tokenizer trained on the GSM8K fixture's text (write_corpus), once per process.
const std::string& gsm8k_tokenizer() {
  static const std::string path = [] {
    fs::path dir = temp_dir("gsm8k_tok");
    std::string jsonl = head_fixture(dir, "gsm8k/train.jsonl", "g.jsonl", 200);
    sra::CorpusOptions c;
    c.dataset = "gsm8k";
    c.path = jsonl;
    sra::CorpusInfo info = sra::write_corpus(c, (dir / "corpus.txt").string());
    sra::TokenizerTrainOptions t;
    t.inputs = {info.path};
    t.model_prefix = (dir / "gsm8k").string();
    t.vocab_size = 400;
    t.model_type = "bpe";
    t.character_coverage = 1.0;
    t.seed = 1;
    return sra::train_tokenizer(t);
  }();
  return path;
}

}  // namespace

TEST_CASE("data pipeline: sra tokenizer train on a synthetic corpus gives a lossless model") {
  fs::path dir = temp_dir("tok_cli");
  const std::string prefix = (dir / "syn").string();
  Run r = run_sra({"tokenizer", "train", "--dataset", "synthetic", "--problems", "300", "--vocab-size", "400",
                   "--out", prefix});
  INFO(r.out, r.err);
  REQUIRE(r.rc == 0);
  CHECK(fs::file_size(prefix + ".corpus.txt") > 10000);
  CHECK(fs::exists(prefix + ".vocab"));
  sra::Tokenizer tok = sra::Tokenizer::load(prefix + ".model");
  CHECK(tok.vocab_size() == 400);
  CHECK(r.out.find("corpus: " + prefix + ".corpus.txt (300 examples") != std::string::npos);
  CHECK(r.out.find("wrote " + prefix + ".model") != std::string::npos);
  CHECK(r.out.find("hash " + tok.hash() + "\n") != std::string::npos);
  // The corpus is the train split's prompts + step-by-step targets; a val problem (unseen) round-trips.
  sra::SyntheticOptions so;
  sra::TextExample first =
      sra::generate_synthetic(so, sra::Split::kTrain, 0).example(sra::SyntheticForm::kStepByStep);
  CHECK(slurp(prefix + ".corpus.txt").rfind(first.prompt + first.target + "\n", 0) == 0);
  sra::TextExample ex =
      sra::generate_synthetic(so, sra::Split::kVal, 3).example(sra::SyntheticForm::kStepByStep);
  std::string text = ex.prompt + ex.target;
  std::vector<int32_t> ids = tok.encode(text);
  CHECK(ids.size() < text.size() * 3 / 4);  // it learned pieces longer than a byte
  CHECK(tok.decode(ids) == text);

  // Options from a config: data.synthetic.* shape the corpus; a smaller vocab without byte fallback.
  write_text(dir / "syn.yaml", "data:\n  synthetic:\n    min_hops: 1\n    max_hops: 1\n    max_value: 9\n");
  Run r2 = run_sra({"tokenizer", "train", "--dataset", "synthetic", "--config", (dir / "syn.yaml").string(),
                    "--set", "data.synthetic.min_distractors=0", "--problems", "50", "--vocab-size", "300",
                    "--no-byte-fallback", "--character-coverage", "1", "--out", (dir / "small").string()});
  INFO(r2.out, r2.err);
  REQUIRE(r2.rc == 0);
  CHECK(sra::Tokenizer::load((dir / "small.model").string()).vocab_size() == 300);
  sra::SyntheticOptions one;
  one.min_hops = one.max_hops = 1;
  one.max_value = 9;
  one.min_distractors = 0;
  sra::TextExample e1 =
      sra::generate_synthetic(one, sra::Split::kTrain, 0).example(sra::SyntheticForm::kStepByStep);
  CHECK(slurp(dir / "small.corpus.txt").rfind(e1.prompt + e1.target + "\n", 0) == 0);
}

TEST_CASE("data pipeline: sra tokenizer train --split-digits tokenizes every number digit by digit") {
  // Without it, the synthetic task's 384-piece unigram model learns pieces such as "▁" "2" "4" beside
  // "▁" "24." (a number and the period after it in one piece): the same value is spelt in different
  // pieces depending on what follows it, so copying a value or doing arithmetic on it must be learned per
  // spelling (issue 19).
  fs::path dir = temp_dir("tok_digits");
  auto train = [&](const std::string& name, bool split) {
    std::vector<std::string> args = {"tokenizer",          "train", "--dataset",          "synthetic",
                                     "--problems",         "300",   "--vocab-size",       "384",
                                     "--no-byte-fallback", "--out", (dir / name).string()};
    if (split) args.push_back("--split-digits");
    Run r = run_sra(args);
    INFO(r.out, r.err);
    REQUIRE(r.rc == 0);
    return sra::Tokenizer::load((dir / name).string() + ".model");
  };
  auto pieces = [](const sra::Tokenizer& tok, const std::string& text) {
    std::vector<std::string> out;
    for (int32_t id : tok.encode(text)) out.push_back(tok.decode({id}));
    return out;
  };
  auto has_digit = [](const std::string& s) { return s.find_first_of("0123456789") != std::string::npos; };
  sra::Tokenizer split = train("split", true);
  sra::Tokenizer plain = train("plain", false);
  const std::string text = " a7 = 98 / 2 = 49. o6 = 49 + 3 = 52. Let r4 = 98. #### 52";
  bool plain_merges = false;
  for (const std::string& p : pieces(plain, text)) plain_merges |= has_digit(p) && p.size() > 1;
  CHECK(plain_merges);  // what the option is for: without it digits share pieces with other characters
  std::vector<std::string> ps = pieces(split, text);
  for (const std::string& p : ps) {
    if (has_digit(p)) CHECK(p.size() == 1);
  }
  CHECK(split.decode(split.encode(text)) == text);
  // "49" reads the same before "." as before " +".
  std::vector<std::string> a = pieces(split, " 49."), b = pieces(split, " 49 +");
  REQUIRE(a.size() >= 3);
  REQUIRE(b.size() >= 3);
  CHECK(std::vector<std::string>(a.end() - 3, a.end() - 1) == std::vector<std::string>{"4", "9"});
  CHECK(std::vector<std::string>(b.end() - 4, b.end() - 2) == std::vector<std::string>{"4", "9"});
}

TEST_CASE("data pipeline: bad CLI flags exit 2, runtime failures exit 1") {
  fs::path dir = temp_dir("bad_cli");
  const std::string out = (dir / "x").string();
  write_text(dir / "in.txt", "hello world\n");
  const std::string in = (dir / "in.txt").string();
  struct Case {
    std::vector<std::string> args;
    int rc;
    const char* err;
  };
  const std::vector<Case> cases = {
      {{"tokenizer", "train", "--dataset", "synthetic"}, 2, "--out is required"},
      {{"tokenizer", "train", "--out", out}, 2, "--input, --dataset or --config is required"},
      {{"tokenizer", "train", "--dataset", "foo", "--out", out}, 2, "--dataset"},
      {{"tokenizer", "train", "--input", (dir / "missing.txt").string(), "--out", out},
       2,
       "File does not exist"},
      {{"tokenizer", "train", "--input", in, "--dataset", "text", "--out", out}, 2, "excludes"},
      {{"tokenizer", "train", "--input", in, "--problems", "5", "--out", out}, 2, "only apply to --dataset"},
      {{"tokenizer", "train", "--dataset", "text", "--problems", "5", "--out", out}, 2, "--problems"},
      {{"tokenizer", "train", "--dataset", "synthetic", "--vocab-size", "0", "--out", out},
       2,
       "--vocab-size"},
      {{"tokenizer", "train", "--dataset", "synthetic", "--type", "wordpiece", "--out", out}, 2, "--type"},
      {{"tokenizer", "train", "--dataset", "synthetic", "--out", (dir / "a b").string()}, 2, "whitespace"},
      {{"tokenizer", "train", "--dataset", "synthetic", "--bogus", "--out", out}, 2, "--bogus"},
      {{"tokenizer", "train", "--dataset", "synthetic", "--set", "data.seed=1", "--out", out},
       2,
       "needs --config"},
      // sentencepiece refuses: 256 byte pieces + 4 specials + the characters do not fit in 100
      {{"tokenizer", "train", "--dataset", "synthetic", "--problems", "20", "--vocab-size", "100", "--out",
        out},
       1,
       "[tokenizer] training"},
      {{"data", "prepare", "--config", "configs/tiny-cpu.yaml"}, 2, "--out is required"},
      {{"data", "prepare", "--config", "configs/tiny-cpu.yaml", "--set", "data.datset=gsm8k", "--out", out},
       2,
       "unknown key 'data.datset'"},
      {{"data", "prepare", "--config", "configs/tiny-cpu.yaml", "--set", "data.dataset=shards", "--out", out},
       2,
       "already shards"},
      {{"data", "prepare", "--config", "configs/tiny-cpu.yaml", "--set",
        "data.path=" + (dir / "none.txt").string(), "--out", out},
       1,
       "[data] cannot read"},
      {{"data"}, 2, "'sra data' needs a command: prepare"},
  };
  for (const Case& c : cases) {
    Run r = run_sra(c.args);
    std::string cmd;
    for (const std::string& a : c.args) cmd += a + " ";
    INFO(cmd, "\nstdout: ", r.out, "\nstderr: ", r.err);
    CHECK(r.rc == c.rc);
    CHECK(error_line(r.err).find(c.err) != std::string::npos);
  }
}

TEST_CASE(
    "data pipeline: sra data prepare writes what the trainer packs, and a prepared dir trains identically") {
  fs::path dir = temp_dir("prepare");
  const std::string cfg = tiny_setup(dir);
  const std::string shards = (dir / "shards").string();
  for (const bool with_tok : {false, true}) {
    INFO("tokenizer: ", with_tok);
    std::vector<std::string> sets;
    if (with_tok) sets = {"data.tokenizer=" + gsm8k_tokenizer(), "model.vocab_size=512"};
    std::vector<std::string> args = {"data",  "prepare", "--config",   cfg,
                                     "--out", shards,    "--data-dir", dir.string()};
    for (const std::string& s : sets) args.insert(args.end(), {"--set", s});
    if (with_tok) args.push_back("--force");  // the byte-level pass prepared this directory
    Run r = run_sra(args);
    INFO(r.out, r.err);
    REQUIRE(r.rc == 0);
    CHECK(r.out.find("--set data.dataset=shards --set data.path=" + shards) != std::string::npos);

    // The shards hold exactly the trainer's streams.
    sra::RunConfig rc = sra::load_config(cfg, sets);
    sra::TrainingData td = sra::load_training_data(rc, dir.string());
    sra::TokenShard tr = sra::read_token_shard(shards + "/train.tok");
    sra::TokenShard va = sra::read_token_shard(shards + "/val.tok");
    CHECK(tr.stream.ids == td.train->ids);
    CHECK(tr.stream.mask == td.train->mask);
    CHECK(va.stream.ids == td.val->ids);
    CHECK(va.stream.mask == td.val->mask);

    // Independently: 200 rows, 10 held out (rows 19, 39, ..., 199), each example then EOS.
    std::vector<sra::Json> rows = sra::read_jsonl((dir / "gsm8k_small.jsonl").string());
    sra::Tokenizer tok;
    if (with_tok) tok = sra::Tokenizer::load(gsm8k_tokenizer());
    auto tokens = [&](const sra::Json& row) {
      sra::TextExample ex = sra::gsm8k_example(row);
      sra::TokenizedExample t;
      if (with_tok) return sra::tokenize_example(tok, ex);
      for (unsigned char c : ex.prompt) t.ids.push_back(c), t.mask.push_back(0);
      for (unsigned char c : ex.target) t.ids.push_back(c), t.mask.push_back(1);
      t.ids.push_back(0), t.mask.push_back(1);  // EOS = byte 0
      return t;
    };
    sra::TokenizedExample t0 = tokens(rows[0]), t19 = tokens(rows[19]);
    CHECK(t0.mask.front() == 0);  // the prompt is out of the loss
    REQUIRE(tr.stream.ids.size() > t0.ids.size());
    CHECK(std::vector<int32_t>(tr.stream.ids.begin(), tr.stream.ids.begin() + long(t0.ids.size())) == t0.ids);
    CHECK(std::vector<uint8_t>(tr.stream.mask.begin(), tr.stream.mask.begin() + long(t0.mask.size())) ==
          t0.mask);
    CHECK(std::vector<int32_t>(va.stream.ids.begin(), va.stream.ids.begin() + long(t19.ids.size())) ==
          t19.ids);

    sra::Json m = sra::Json::parse(slurp(shards + "/manifest.json"));
    CHECK(m["dataset"].as_string() == "gsm8k");
    CHECK(m["source"].as_string() == fs::absolute(dir / "gsm8k_small.jsonl").lexically_normal().string());
    CHECK(m["tokenizer"].as_string() == (with_tok ? gsm8k_tokenizer() : ""));
    CHECK(m["tokenizer_hash"].as_string() == (with_tok ? tok.hash() : ""));
    CHECK(m["vocab_size"].as_int() == (with_tok ? 400 : 256));
    CHECK(tr.vocab_size == m["vocab_size"].as_int());
    CHECK(tr.tokenizer_hash == m["tokenizer_hash"].as_string());
    CHECK(m["train"]["examples"].as_int() == 190);
    CHECK(m["val"]["examples"].as_int() == 10);
    CHECK(m["train"]["tokens"].as_int() == int64_t(tr.stream.ids.size()));
    CHECK(m["val"]["tokens"].as_int() == int64_t(va.stream.ids.size()));
    int64_t targets = 0;
    for (uint8_t x : tr.stream.mask) targets += x;
    CHECK(m["train"]["target_tokens"].as_int() == targets);
    CHECK(m["skipped_bad_lines"].as_int() == 0);
    CHECK(m["val_fraction"].as_double() == 0.05);
  }

  // Training from the prepared (tokenizer) dir equals training from the JSONL: same losses, bitwise.
  const std::vector<std::string> tok_sets = {"data.tokenizer=" + gsm8k_tokenizer(), "model.vocab_size=512"};
  std::vector<std::string> shard_sets = tok_sets;
  shard_sets.insert(shard_sets.end(), {"data.dataset=shards", "data.path=" + shards});
  std::ostringstream log_a, log_b;
  REQUIRE(sra::run_train({cfg, tok_sets, (dir / "run_jsonl").string(), "", dir.string(), -1}, log_a) == 0);
  REQUIRE(sra::run_train({cfg, shard_sets, (dir / "run_shards").string(), "", dir.string(), -1}, log_b) == 0);
  CHECK(log_b.str().find("(190 and 10 examples)") != std::string::npos);
  std::vector<sra::Json> ma = read_metrics(dir / "run_jsonl"), mb = read_metrics(dir / "run_shards");
  REQUIRE(ma.size() == 2);
  REQUIRE(mb.size() == 2);
  for (size_t i = 0; i < 2; ++i) {
    CHECK(ma[i]["loss"].as_double() == mb[i]["loss"].as_double());
    CHECK(ma[i]["grad_norm"].as_double() == mb[i]["grad_norm"].as_double());
  }
  CHECK(ma[1]["val_loss"].as_double() == mb[1]["val_loss"].as_double());
}

TEST_CASE("data pipeline: the trainer trains on gsm8k with bytes and with a tokenizer") {
  fs::path dir = temp_dir("gsm8k_train");
  const std::string cfg = tiny_setup(dir);
  for (const bool with_tok : {false, true}) {
    INFO("tokenizer: ", with_tok);
    std::vector<std::string> sets = {"train.steps=3"};
    if (with_tok) sets.insert(sets.end(), {"data.tokenizer=" + gsm8k_tokenizer(), "model.vocab_size=400"});
    fs::path out = dir / (with_tok ? "tok" : "bytes");
    std::ostringstream log;
    // data.path is relative and not in the working directory: found under --data-dir.
    REQUIRE(sra::run_train({cfg, sets, out.string(), "", dir.string(), -1}, log) == 0);
    CHECK(log.str().find("data: gsm8k from " + fs::absolute(dir / "gsm8k_small.jsonl").string()) !=
          std::string::npos);
    CHECK(log.str().find("(190 and 10 examples)") != std::string::npos);
    std::vector<sra::Json> m = read_metrics(out);
    REQUIRE(m.size() == 3);
    CHECK(std::isfinite(m[2]["loss"].as_double()));
    CHECK(m[2]["loss"].as_double() < m[0]["loss"].as_double());
    sra::Checkpoint c = sra::load_checkpoint(sra::checkpoint_path(out.string(), 3));
    CHECK(c.meta.at("tokenizer_hash") == (with_tok ? sra::Tokenizer::load(gsm8k_tokenizer()).hash() : ""));
  }
}

TEST_CASE("data pipeline: math rows, the held-out slice and data.val_fraction") {
  fs::path dir = temp_dir("math");
  const std::string cfg = tiny_setup(dir);
  head_fixture(dir, "math/train.jsonl", "math_small.jsonl", 60);
  sra::RunConfig rc =
      sra::load_config(cfg, {"data.dataset=math", "data.path=math_small.jsonl", "data.val_fraction=0.1"});
  sra::TrainingData td = sra::load_training_data(rc, dir.string());
  CHECK(td.train_examples == 54);
  CHECK(td.val_examples == 6);
  std::vector<sra::Json> rows = sra::read_jsonl((dir / "math_small.jsonl").string());
  std::string prompt = "Problem: " + rows[0]["problem"].as_string() + "\nSolution:";
  std::string got;
  for (size_t i = 0; i < prompt.size(); ++i) got += char(td.train->ids[i]);
  CHECK(got == prompt);
  CHECK(td.train->mask[0] == 0);
  CHECK(td.train->mask[prompt.size()] == 1);  // the solution is in the loss

  // Exactly k of n rows are held out, spread evenly (never two in a row when k <= n / 2).
  for (int64_t n : {2, 3, 10, 200, 7473}) {
    for (int64_t k : {int64_t(1), n / 3, n / 2}) {
      if (k < 1) continue;
      int64_t count = 0, last = -2;
      bool adjacent = false;
      for (int64_t i = 0; i < n; ++i) {
        if (!sra::is_held_out(i, n, k)) continue;
        ++count;
        adjacent = adjacent || i == last + 1;
        last = i;
      }
      CHECK(count == k);
      CHECK(!adjacent);
    }
  }
  CHECK_THROWS_WITH_AS(sra::load_config(cfg, {"data.val_fraction=0.6"}),
                       doctest::Contains("data.val_fraction: must be in (0, 0.5]"), sra::Error);
  CHECK_THROWS_WITH_AS(sra::load_config(cfg, {"data.val_fraction=0"}), doctest::Contains("data.val_fraction"),
                       sra::Error);
  write_text(dir / "one.jsonl",
             slurp(dir / "math_small.jsonl").substr(0, slurp(dir / "math_small.jsonl").find('\n') + 1));
  sra::RunConfig one = sra::load_config(cfg, {"data.dataset=math", "data.path=one.jsonl"});
  CHECK(error_of([&] { sra::load_training_data(one, dir.string()); }).find("too few to hold out") !=
        std::string::npos);
}

TEST_CASE("data pipeline: a malformed JSONL line names file:line; skip_bad_lines counts it") {
  fs::path dir = temp_dir("bad_lines");
  const std::string cfg = tiny_setup(dir);
  std::string text = slurp(dir / "gsm8k_small.jsonl");
  // line 3: not JSON; line 6: no "answer" field
  std::vector<std::string> lines;
  std::istringstream ss(text);
  for (std::string l; std::getline(ss, l);) lines.push_back(l);
  lines[2] = "{\"question\": \"cut short";
  lines[5] = "{\"question\": \"no answer\"}";
  std::string bad;
  for (const std::string& l : lines) bad += l + "\n";
  write_text(dir / "bad.jsonl", bad);
  const std::string file = fs::absolute(dir / "bad.jsonl").lexically_normal().string();

  std::ostringstream log;
  sra::TrainOptions o{cfg, {"data.path=bad.jsonl", "train.steps=1"}, (dir / "out").string(), "", dir.string(),
                      -1};
  CHECK(error_of([&] { sra::run_train(o, log); }).rfind("[data] " + file + ":3: ", 0) == 0);

  o.overrides.push_back("data.skip_bad_lines=true");
  REQUIRE(sra::run_train(o, log) == 0);
  CHECK(log.str().find("warning: [data] " + file + ": skipped 2 bad line(s) of 200; first: [data] " + file +
                       ":3:") != std::string::npos);
  CHECK(log.str().find("(188 and 10 examples), 2 bad lines skipped") != std::string::npos);

  Run r = run_sra({"data", "prepare", "--config", cfg, "--set", "data.path=bad.jsonl", "--set",
                   "data.skip_bad_lines=true", "--out", (dir / "prep").string(), "--data-dir", dir.string()});
  INFO(r.out, r.err);
  REQUIRE(r.rc == 0);
  CHECK(r.out.find("skipped 2 bad lines") != std::string::npos);
  CHECK(sra::Json::parse(slurp(dir / "prep" / "manifest.json"))["skipped_bad_lines"].as_int() == 2);
  // preparing into a directory that holds shards is refused (untouched) without --force
  const std::string shard_before = slurp(dir / "prep" / "train.tok");
  std::vector<std::string> again = {"data",       "prepare",
                                    "--config",   cfg,
                                    "--set",      "data.path=bad.jsonl",
                                    "--set",      "data.skip_bad_lines=true",
                                    "--set",      "data.val_fraction=0.5",
                                    "--out",      (dir / "prep").string(),
                                    "--data-dir", dir.string()};
  Run refused = run_sra(again);
  CHECK(refused.rc == 1);
  CHECK(error_line(refused.err) ==
        "error: [data] " + (dir / "prep").string() +
            " already holds prepared data (train.tok, val.tok, manifest.json); pass "
            "--force to overwrite it, or choose another --out");
  CHECK(slurp(dir / "prep" / "train.tok") == shard_before);
  again.push_back("--force");
  CHECK(run_sra(again).rc == 0);
  CHECK(slurp(dir / "prep" / "train.tok") != shard_before);
  Run r2 = run_sra({"data", "prepare", "--config", cfg, "--set", "data.path=bad.jsonl", "--out",
                    (dir / "prep2").string(), "--data-dir", dir.string()});
  CHECK(r2.rc == 1);
  CHECK(error_line(r2.err).rfind("error: [data] " + file + ":3: ", 0) == 0);
}

TEST_CASE("data pipeline: shards with another tokenizer or a too-large vocabulary are refused") {
  fs::path dir = temp_dir("shards_refused");
  const std::string cfg = tiny_setup(dir);
  const std::string bytes_dir = (dir / "bytes").string(), tok_dir = (dir / "tok").string();
  const std::string spm = gsm8k_tokenizer();
  sra::RunConfig rc = sra::load_config(cfg);
  sra::write_prepared_data(sra::load_training_data(rc, dir.string()), rc, bytes_dir);
  sra::RunConfig rt = sra::load_config(cfg, {"data.tokenizer=" + spm, "model.vocab_size=400"});
  sra::write_prepared_data(sra::load_training_data(rt, dir.string()), rt, tok_dir);

  auto load = [&](std::vector<std::string> sets) {
    return error_of([&] { sra::load_training_data(sra::load_config(cfg, sets), dir.string()); });
  };
  // byte shards, tokenizer config
  CHECK(
      load({"data.dataset=shards", "data.path=" + bytes_dir, "data.tokenizer=" + spm, "model.vocab_size=400"})
          .find("[data] shard '" + bytes_dir +
                "/train.tok' was made with tokenizer bytes (no hash) but "
                "data.tokenizer '" +
                spm + "' has hash") != std::string::npos);
  // tokenizer shards, byte config
  std::string e = load({"data.dataset=shards", "data.path=" + tok_dir, "model.vocab_size=400"});
  CHECK(e.find("[data] shard '" + tok_dir + "/train.tok' was made with tokenizer hash '" +
               sra::Tokenizer::load(spm).hash() + "' but data.tokenizer is empty (bytes)") !=
        std::string::npos);
  // the same tokenizer loads
  CHECK(load({"data.dataset=shards", "data.path=" + tok_dir, "data.tokenizer=" + spm,
              "model.vocab_size=400"}) == "");
  // not a prepared directory
  CHECK(load({"data.dataset=shards", "data.path=" + (dir / "gsm8k_small.jsonl").string()})
            .find("is not a directory") != std::string::npos);

  // A byte-level shard whose vocab is larger than model.vocab_size.
  sra::TokenStream s;
  s.ids = {1, 2, 900, 3};
  s.mask = {1, 1, 1, 1};
  const std::string big = (dir / "big").string();
  sra::write_token_shard(big + "/train.tok", s, 1000, "");
  sra::write_token_shard(big + "/val.tok", s, 1000, "");
  CHECK(load({"data.dataset=shards", "data.path=" + big, "model.vocab_size=512"}) ==
        "[data] shard '" + big + "/train.tok' has vocab size 1000 but model.vocab_size is 512");
  // A shard whose header vocab was lowered below an id in it: the id is an error naming the file.
  {
    std::fstream f(big + "/val.tok", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(24);
    const char v256[8] = {0, 1, 0, 0, 0, 0, 0, 0};
    f.write(v256, 8);
  }
  sra::write_token_shard(big + "/train.tok", s, 901, "");
  CHECK(load({"data.dataset=shards", "data.path=" + big, "model.vocab_size=1024"}) ==
        "[data] shard '" + big + "/val.tok': token id 900 at position 2 is >= vocab size 256");
  // The trainer refuses ids beyond model.vocab_size even when the source does not say so.
  sra::TokenStream ok;
  ok.ids = {1, 2, 300};
  ok.mask = {1, 1, 1};
  CHECK(error_of([&] { sra::check_token_ids(ok, 256, "x.tok"); }) ==
        "[data] x.tok: token id 300 at position 2 is >= vocab size 256");
}

TEST_CASE("data pipeline: text with a tokenizer encodes line by line and decodes back to the file") {
  fs::path dir = temp_dir("text_tok");
  const std::string cfg = tiny_setup(dir);
  std::string text;
  for (int i = 0; i < 120; ++i) text += "Natalia sold " + std::to_string(i * 7) + " clips in April.\n";
  write_text(dir / "corpus.txt", text);
  sra::RunConfig rc = sra::load_config(cfg, {"data.dataset=text", "data.path=corpus.txt",
                                             "data.tokenizer=" + gsm8k_tokenizer(), "model.vocab_size=400"});
  sra::TrainingData td = sra::load_training_data(rc, dir.string());
  sra::Tokenizer tok = sra::Tokenizer::load(gsm8k_tokenizer());
  std::string train = tok.decode(td.train->ids), val = tok.decode(td.val->ids);
  CHECK(train + val == text);
  CHECK(train.back() == '\n');  // cut at a line end
  CHECK(double(train.size()) >= 0.9 * double(text.size()));
  CHECK(td.train->mask == std::vector<uint8_t>(td.train->ids.size(), 1));
  // bytes: the exact 90% cut, as before
  sra::TrainingData tb = sra::load_training_data(
      sra::load_config(cfg, {"data.dataset=text", "data.path=corpus.txt"}), dir.string());
  CHECK(tb.train->size() == int64_t(double(text.size()) * 0.9));
  CHECK(tb.train->size() + tb.val->size() == int64_t(text.size()));
}

TEST_CASE(
    "data pipeline: synthetic training problems: one per row the run reads, or "
    "data.synthetic.train_problems") {
  fs::path dir = temp_dir("syn_count");
  const std::string cfg = tiny_setup(dir);
  auto count = [&](std::vector<std::string> sets) {
    sets.insert(sets.begin(),
                {"data.dataset=synthetic", "data.path=", "model.max_seq_len=512", "data.seq_len=512"});
    return sra::load_training_data(sra::load_config(cfg, sets), dir.string()).train_examples;
  };
  CHECK(count({}) == 64);                       // 4 rows x 2 steps, at least 64
  CHECK(count({"train.steps=3000"}) == 12000);  // no hidden cap: a long run does not cycle a small set
  CHECK(count({"train.steps=100", "train.grad_accum=2"}) == 800);
  CHECK(count({"data.synthetic.train_problems=100", "train.steps=3000"}) == 100);
}
