// `sra tokenizer train` and `sra data prepare`: the data pipeline's commands.
//   tokenizer train  — a sentencepiece model (data/tokenizer.h) from plain-text files (--input) or from a
//                      corpus written first from a dataset (--dataset, run/data_prep.h write_corpus) to
//                      PREFIX.corpus.txt; prints the files written, the vocab size and the model's hash.
//                      Then checks decode(encode(x)) == x on the corpus (corpus_round_trip_problem: each
//                      character, and a sample of 16-line chunks): a failure is an error naming the first
//                      character that does not survive and its line (the model files stay), or, with
//                      --allow-lossy, a warning. Without byte fallback, --character-coverage defaults to 1.
//   data prepare     — the config's data, tokenized exactly as the trainer does (load_training_data), as
//                      DIR/train.tok, DIR/val.tok and DIR/manifest.json; train on it with
//                      data.dataset=shards, data.path=DIR. A DIR that already holds any of these files
//                      is refused unless --force.
// Usage errors (bad or conflicting flags) exit 2 through CLI::Error; failures while running exit 1.
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "core/check.h"
#include "data/tokenizer.h"
#include "run/config.h"
#include "run/data_prep.h"
#include "tools/cli/commands.h"
#include "tools/cli/validators.h"

namespace sra::cli {

namespace {

struct TokenizerTrainCli {
  std::vector<std::string> inputs;
  std::string dataset;
  std::string path;
  std::string config;
  std::vector<std::string> overrides;
  std::string data_dir;
  std::string out;
  int64_t vocab_size = 8000;
  std::string type = "unigram";
  int64_t max_lines = 0;
  int64_t problems = 0;
  double character_coverage = 0.9995;
  uint32_t seed = 1;
  int threads = 2;
  bool byte_fallback = true;
  bool split_digits = false;
  bool coverage_given = false;
  bool allow_lossy = false;
};

std::string mib(int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", double(bytes) / (1024.0 * 1024.0));
  return buf;
}

bool has_space(const std::string& s) {
  return s.find_first_of(" \t\n\r\v\f") != std::string::npos;
}

int run_tokenizer_train(TokenizerTrainCli& o) {
  if (o.inputs.empty() && o.dataset.empty() && o.config.empty())
    throw CLI::RequiredError("--input, --dataset or --config");
  if (!o.inputs.empty() && (!o.config.empty() || !o.overrides.empty() || o.problems > 0 || !o.path.empty()))
    throw CLI::ValidationError("--input", "--config, --set, --path and --problems only apply to --dataset");
  if (!o.overrides.empty() && o.config.empty()) throw CLI::ValidationError("--set", "needs --config");
  if (has_space(o.out) || o.out.find(',') != std::string::npos)
    throw CLI::ValidationError("--out",
                               "'" + o.out + "' contains ',' or whitespace (sentencepiece splits there)");

  TokenizerTrainOptions t;
  t.model_prefix = o.out;
  t.vocab_size = o.vocab_size;
  t.model_type = o.type;
  // Without byte fallback a character outside the coverage would become <unk>: keep every one.
  t.character_coverage = o.byte_fallback || o.coverage_given ? o.character_coverage : 1.0;
  t.input_sentence_size = o.max_lines;
  t.seed = o.seed;
  t.num_threads = o.threads;
  t.byte_fallback = o.byte_fallback;
  t.split_digits = o.split_digits;
  if (!o.inputs.empty()) {
    t.inputs = o.inputs;
  } else {
    CorpusOptions c;
    c.dataset = o.dataset;
    c.path = o.path;
    c.data_dir = o.data_dir;
    c.max_examples = o.problems;
    if (!o.config.empty()) {
      RunConfig cfg = load_config(o.config, o.overrides);
      if (c.dataset.empty()) c.dataset = cfg.data.dataset;
      if (c.path.empty() && cfg.data.dataset == c.dataset) c.path = cfg.data.path;
      c.synthetic = to_synthetic_options(cfg);
      c.skip_bad_lines = cfg.data.skip_bad_lines;
    }
    if (c.dataset != "synthetic" && c.dataset != "gsm8k" && c.dataset != "math" && c.dataset != "text")
      throw CLI::ValidationError("--dataset", "'" + c.dataset +
                                                  "' has no text to train on (use synthetic, "
                                                  "gsm8k, math or text)");
    if (c.dataset == "synthetic" && !c.path.empty())
      throw CLI::ValidationError("--path", "synthetic data is generated; it reads no file");
    if (c.dataset == "text" && o.problems > 0)
      throw CLI::ValidationError("--problems", "applies to synthetic, gsm8k and math (use --max-lines)");
    CorpusInfo info = write_corpus(c, o.out + ".corpus.txt");
    std::cout << "corpus: " << info.path << " (" << info.examples
              << (c.dataset == "text" ? " lines" : " examples") << ", " << mib(info.bytes) << ")";
    if (!info.source.empty()) std::cout << " from " << info.source;
    if (info.bad_lines > 0) std::cout << ", " << info.bad_lines << " bad lines skipped";
    std::cout << "\n" << std::flush;
    t.inputs = {info.path};
  }
  if (o.max_lines > 0)
    std::cout << "training on a random sample of at most " << o.max_lines << " lines (seed " << o.seed
              << ")\n";
  std::string model = train_tokenizer(t);
  Tokenizer tok = Tokenizer::load(model);
  std::cout << "wrote " << model << " and " << o.out << ".vocab (" << o.type << ", vocab " << tok.vocab_size()
            << ")\nhash " << tok.hash() << "\n"
            << std::flush;
  if (auto p = corpus_round_trip_problem(tok, t.inputs)) {
    std::string msg = "[tokenizer] " + model +
                      " does not round-trip its corpus: decode(encode(x)) != x, first at " + p->describe();
    if (!o.allow_lossy)
      throw Error(msg +
                  " (use byte fallback, a larger --vocab-size or --character-coverage, or --allow-lossy)");
    std::cerr << "warning: " << msg << " (--allow-lossy)\n";
  } else {
    std::cout << "round trip: decode(encode(x)) == x on every character of the corpus and a sample of it\n";
  }
  std::cout << "use it: --set data.tokenizer=" << model << " --set model.vocab_size=" << tok.vocab_size()
            << "\n";
  return 0;
}

void add_tokenizer(CLI::App& app) {
  CLI::App* tk = app.add_subcommand("tokenizer", "Tokenizers: train (sentencepiece), encode, decode");
  tk->require_subcommand(1);
  auto o = std::make_shared<TokenizerTrainCli>();
  CLI::App* c = tk->add_subcommand("train", "Train a sentencepiece model on text files or on a dataset");
  c->footer(
      "Examples: sra tokenizer train --dataset gsm8k --vocab-size 4000 --out tok/gsm8k\n"
      "          sra tokenizer train --dataset synthetic --config configs/tiny-cpu.yaml --problems 2000 "
      "--vocab-size 1000 --out tok/syn\n"
      "          sra tokenizer train --input corpus.txt --type bpe --vocab-size 8000 --out tok/spm\n"
      "--dataset writes its text (each example's prompt + target, or the text file's lines) to "
      "PREFIX.corpus.txt first.\nWith byte fallback (the default) the model is lossless and --vocab-size "
      "must exceed 260 + the number of distinct characters;\n--no-byte-fallback allows smaller vocabularies "
      "(characters unseen in the corpus become <unk>).\nControl characters the corpus uses (newline, tab, "
      "...) become pieces of their own; after training, decode(encode(x)) == x is checked on the corpus "
      "(an error, or a warning with --allow-lossy).");
  auto* in = c->add_option("--input", o->inputs, "Plain-text files to train on (one sentence per line)")
                 ->check(CLI::ExistingFile);
  auto* ds =
      c->add_option("--dataset", o->dataset, "Train on a dataset's text: synthetic, gsm8k, math or text")
          ->check(CLI::IsMember({"synthetic", "gsm8k", "math", "text"}));
  in->excludes(ds);
  c->add_option(
      "--path", o->path,
      "gsm8k/math/text input (relative: the data dir); default gsm8k/train.jsonl, math/train.jsonl, "
      "tinyshakespeare/input.txt, or the config's data.path");
  c->add_option("--config", o->config,
                "Run config: data.synthetic.*, data.path, data.skip_bad_lines (and data.dataset when "
                "--dataset is not given)");
  c->add_option("--set", o->overrides, "Override a config key: a.b=c (repeatable)");
  c->add_option("--data-dir", o->data_dir, "Data directory (default: $SRA_DATA_DIR, else ../shared/data)");
  c->add_option("--out", o->out, "Output prefix: writes PREFIX.model and PREFIX.vocab")->required();
  c->add_option("--vocab-size", o->vocab_size, "Vocabulary size")
      ->capture_default_str()
      ->check(integer_in(5, 1000000));
  c->add_option("--type", o->type, "unigram or bpe")
      ->capture_default_str()
      ->check(CLI::IsMember({"unigram", "bpe"}));
  c->add_option("--max-lines", o->max_lines, "Train on a seeded random sample of this many lines (0 = all)")
      ->capture_default_str()
      ->check(integer_at_least(0));
  c->add_option("--problems", o->problems,
                "synthetic: problems to generate (0 = 2000); gsm8k/math: use the first N rows (0 = all)")
      ->capture_default_str()
      ->check(integer_at_least(0));
  auto* coverage =
      c->add_option("--character-coverage", o->character_coverage,
                    "Share of characters given their own piece (default 1 with --no-byte-fallback)")
          ->capture_default_str()
          ->check(number_in(0.5, 1));
  c->add_option("--seed", o->seed, "Seed of sentencepiece's sampling")->capture_default_str();
  c->add_option("--threads", o->threads, "Training threads")
      ->capture_default_str()
      ->check(integer_in(1, 256));
  c->add_flag("--byte-fallback,!--no-byte-fallback", o->byte_fallback,
              "Byte pieces for unseen characters (lossless; needs --vocab-size > 260 + characters)")
      ->capture_default_str();
  c->add_flag("--split-digits", o->split_digits,
              "Every digit a piece of its own, so that a number is tokenized the same way wherever it "
              "stands (without it a unigram model learns pieces such as '▁24.' beside '▁2' '4')");
  c->add_flag("--allow-lossy", o->allow_lossy,
              "Warn instead of failing when decode(encode(x)) != x on the corpus");
  add_command(c, [o, coverage]() {
    o->coverage_given = coverage->count() > 0;
    return run_tokenizer_train(*o);
  });
  add_tokenizer_codec(*tk);
}

struct DataPrepareCli {
  std::string config;
  std::vector<std::string> overrides;
  std::string out;
  std::string data_dir;
  bool force = false;
};

int run_data_prepare(const DataPrepareCli& o) {
  RunConfig cfg = load_config(o.config, o.overrides);
  if (cfg.data.dataset == "shards")
    throw CLI::ValidationError("--config", "data.dataset is already shards ('" + cfg.data.path +
                                               "'); prepare from synthetic, gsm8k, math or text");
  check_prepared_data_target(o.out, o.force);  // before the (possibly long) tokenization
  TrainingData d = load_training_data(cfg, o.data_dir);
  if (!d.bad_lines_summary.empty()) std::cerr << "warning: " << d.bad_lines_summary << "\n";
  std::cerr << d.lossy_tokenizer_warning;
  Json m = write_prepared_data(d, cfg, o.out, o.force);
  std::cout << "data: " << cfg.data.dataset << (d.source.empty() ? "" : " from " + d.source) << ", "
            << (d.tokenizer_path.empty()
                    ? std::string("bytes")
                    : "tokenizer " + d.tokenizer_path + " (hash " + d.tokenizer_hash + ")")
            << ", vocab " << d.vocab_size << "\n";
  for (const char* split : {"train", "val"}) {
    const Json& s = m[split];
    std::cout << split << ": " << s["tokens"].as_int() << " tokens (" << s["target_tokens"].as_int()
              << " in the loss)";
    if (s["examples"].as_int() > 0) std::cout << ", " << s["examples"].as_int() << " examples";
    std::cout << " -> " << o.out << "/" << s["file"].as_string() << "\n";
  }
  if (d.bad_lines > 0) std::cout << "skipped " << d.bad_lines << " bad lines\n";
  std::cout << "manifest: " << o.out << "/manifest.json\n"
            << "train on it: sra train --config " << o.config;
  for (const std::string& s : o.overrides)
    if (s.rfind("data.dataset=", 0) != 0 && s.rfind("data.path=", 0) != 0) std::cout << " --set " << s;
  std::cout << " --set data.dataset=shards --set data.path=" << o.out << " --out RUN_DIR\n";
  return 0;
}

void add_data(CLI::App& app) {
  CLI::App* dt = app.add_subcommand("data", "Data preparation");
  dt->require_subcommand(1);
  auto o = std::make_shared<DataPrepareCli>();
  CLI::App* c = dt->add_subcommand("prepare",
                                   "Tokenize a run config's dataset into token shards, as the trainer would");
  c->footer(
      "Example: sra data prepare --config configs/tiny-cpu.yaml --set data.dataset=gsm8k "
      "--set data.path=gsm8k/train.jsonl --out data/gsm8k-bytes\n"
      "Writes DIR/train.tok, DIR/val.tok (SRATOK1 shards, data/packing.h) and DIR/manifest.json; "
      "train on them with --set data.dataset=shards --set data.path=DIR.");
  c->add_option("--config", o->config, "Run config (its data and tokenizer; see configs/reference.yaml)")
      ->required();
  c->add_option("--set", o->overrides, "Override a config key: a.b=c (repeatable)");
  c->add_option("--out", o->out, "Output directory")->required();
  c->add_option("--data-dir", o->data_dir, "Data directory (default: $SRA_DATA_DIR, else ../shared/data)");
  c->add_flag("--force", o->force, "Overwrite the shards and manifest of an --out that already holds them");
  add_command(c, [o]() { return run_data_prepare(*o); });
}

}  // namespace

void add_data_commands(CLI::App& app) {
  add_tokenizer(app);
  add_data(app);
}

}  // namespace sra::cli
