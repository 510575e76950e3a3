// Run config → token streams (trainer and `sra data prepare`), prepared-data directories, tokenizer
// corpora. See run/data_prep.h for the semantics of each dataset.
#include "run/data_prep.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <mutex>
#include <sstream>

#include "core/check.h"
#include "core/parallel.h"
#include "data/data_dir.h"
#include "data/example.h"
#include "data/jsonl.h"
#include "data/math_datasets.h"
#include "data/tokenizer.h"
#include "run/activity.h"
#include "run/checkpoint.h"

namespace sra {

namespace {

namespace fs = std::filesystem;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  SRA_CHECK(in.good(), "[data] cannot read '", path, "'");
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_file_atomic(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    SRA_CHECK(out.good(), "[data] cannot write '", tmp, "'");
    out << text;
    out.flush();
    SRA_CHECK(out.good(), "[data] cannot write '", tmp, "'");
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  SRA_CHECK(!ec, "[data] cannot rename '", tmp, "' to '", path, "': ", ec.message());
}

// Byte-level form of a prompt/target example: ids = bytes, mask 1 on the target bytes.
TokenizedExample byte_example(const TextExample& ex) {
  TokenizedExample t;
  for (unsigned char c : ex.prompt) t.ids.push_back(int32_t(c)), t.mask.push_back(0);
  for (unsigned char c : ex.target) t.ids.push_back(int32_t(c)), t.mask.push_back(1);
  return t;
}

// The tokenizer part of TrainingData: bytes, or the sentencepiece model of data.tokenizer (loaded into
// d.tokenizer). Returns &d.tokenizer, or nullptr for bytes.
const Tokenizer* setup_tokens(const RunConfig& cfg, TrainingData& d) {
  const std::string& path = cfg.data.tokenizer;
  if (path.empty()) {
    SRA_CHECK(cfg.model.vocab_size >= 256, "[train] byte-level data needs model.vocab_size >= 256, got ",
              cfg.model.vocab_size);
    d.vocab_size = 256;
    d.eos_id = d.pad_id = 0;
    return nullptr;
  }
  const Tokenizer& tok = d.tokenizer = load_data_tokenizer(path);
  SRA_CHECK(tok.vocab_size() <= cfg.model.vocab_size, "[train] tokenizer '", path, "' has ", tok.vocab_size(),
            " ids but model.vocab_size is ", cfg.model.vocab_size);
  d.vocab_size = tok.vocab_size();
  d.tokenizer_path = path;
  d.tokenizer_hash = tok.hash();
  d.eos_id = tok.eos_id();
  SRA_CHECK(d.eos_id >= 0, "[data] tokenizer '", path, "' has no EOS id");
  d.pad_id = tok.pad_id() >= 0 ? tok.pad_id() : d.eos_id;
  return &tok;
}

// fn(i) for every i in [0, n) on the thread pool (each writes only its own outputs, so the result does
// not depend on the thread count); the exception of the lowest failing index is rethrown afterwards.
void parallel_each(int64_t n, const std::function<void(int64_t)>& fn) {
  std::mutex mu;
  int64_t first_failed = n;
  std::exception_ptr error;
  parallel_for(n, 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      try {
        fn(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu);
        if (i < first_failed) first_failed = i, error = std::current_exception();
        return;
      }
    }
  });
  if (error) std::rethrow_exception(error);
}

std::shared_ptr<const TokenStream> example_stream(const std::vector<TextExample>& examples,
                                                  const Tokenizer* tok, int32_t eos, int64_t align = 0,
                                                  int32_t pad = 0) {
  std::vector<TokenizedExample> t(examples.size());
  parallel_each(int64_t(examples.size()), [&](int64_t i) {
    t[size_t(i)] = tok ? tokenize_example(*tok, examples[size_t(i)]) : byte_example(examples[size_t(i)]);
  });
  return std::make_shared<TokenStream>(concat_examples(t, eos, align, pad));
}

// Problems 0 .. count − 1 of the split (generated in parallel: each depends only on its index).
std::vector<TextExample> synthetic_examples(const SyntheticOptions& so, Split split, uint64_t count,
                                            SyntheticForm form) {
  validate_synthetic_options(so);
  std::vector<TextExample> out(count);
  parallel_each(int64_t(count), [&](int64_t i) {
    out[size_t(i)] = generate_synthetic(so, split, uint64_t(i)).example(form);
  });
  return out;
}

LoadedExamples load_jsonl_examples(const std::string& dataset, const std::string& path, bool skip_bad) {
  JsonlOptions jo;
  jo.skip_bad_lines = skip_bad;
  return dataset == "gsm8k" ? load_gsm8k(path, jo) : load_math(path, jo);
}

// Text (mask 1 everywhere, no EOS): bytes, or each line encoded on its own.
std::shared_ptr<const TokenStream> text_stream(std::string_view text, const Tokenizer* tok) {
  auto s = std::make_shared<TokenStream>();
  if (!tok) {
    s->ids.reserve(text.size());
    for (unsigned char c : text) s->ids.push_back(int32_t(c));
  } else {
    size_t at = 0;
    while (at < text.size()) {
      size_t nl = text.find('\n', at);
      size_t end = nl == std::string_view::npos ? text.size() : nl + 1;
      std::vector<int32_t> ids = tok->encode(text.substr(at, end - at));
      s->ids.insert(s->ids.end(), ids.begin(), ids.end());
      at = end;
    }
  }
  s->mask.assign(s->ids.size(), 1);
  return s;
}

// "[data] FILE:LINE: ..." for the first line of `text` longer than the JSONL line limit.
void check_text_lines(std::string_view text, const std::string& path) {
  const size_t limit = JsonlOptions::kDefaultMaxLineBytes;
  size_t at = 0;
  for (int64_t line = 1; at < text.size(); ++line) {
    size_t nl = text.find('\n', at);
    size_t end = nl == std::string_view::npos ? text.size() : nl;
    SRA_CHECK(end - at <= limit, "[data] ", path, ":", line, ": line of ", end - at,
              " bytes is longer than the limit of ", limit,
              " bytes for tokenized text (each line is encoded on its own; split the line)");
    at = end + 1;
  }
}

void load_shards(const RunConfig& cfg, TrainingData& d) {
  const std::string& dir = d.source;
  SRA_CHECK(fs::is_directory(dir), "[data] data.dataset shards needs data.path to be a directory made by ",
            "`sra data prepare`; '", dir, "' is not a directory");
  std::shared_ptr<const TokenStream>* out[2] = {&d.train, &d.val};
  const char* names[2] = {"train.tok", "val.tok"};
  for (int k = 0; k < 2; ++k) {
    const std::string file = (fs::path(dir) / names[k]).string();
    SRA_CHECK(fs::exists(file), "[data] shard '", file, "' does not exist (run `sra data prepare` first)");
    TokenShard shard = read_token_shard(file);
    SRA_CHECK(
        shard.tokenizer_hash == d.tokenizer_hash, "[data] shard '", file, "' was made with tokenizer ",
        shard.tokenizer_hash.empty() ? std::string("bytes (no hash)") : "hash '" + shard.tokenizer_hash + "'",
        " but data.tokenizer ",
        d.tokenizer_path.empty() ? std::string("is empty (bytes)")
                                 : "'" + d.tokenizer_path + "' has hash '" + d.tokenizer_hash + "'");
    SRA_CHECK(shard.vocab_size <= cfg.model.vocab_size, "[data] shard '", file, "' has vocab size ",
              shard.vocab_size, " but model.vocab_size is ", cfg.model.vocab_size);
    d.vocab_size = std::max(k == 0 ? 0 : d.vocab_size, shard.vocab_size);
    *out[k] = std::make_shared<TokenStream>(std::move(shard.stream));
  }
  const std::string manifest = (fs::path(dir) / "manifest.json").string();
  if (fs::exists(manifest)) {
    Json m;
    try {
      m = Json::parse(read_file(manifest));
    } catch (const Error& e) {
      throw Error("[data] " + manifest + ": " + e.what());
    }
    const Json* tr = m.is_object() ? m.find("train") : nullptr;
    const Json* va = m.is_object() ? m.find("val") : nullptr;
    const Json* te = tr && tr->is_object() ? tr->find("examples") : nullptr;
    const Json* ve = va && va->is_object() ? va->find("examples") : nullptr;
    if (te && te->is_int()) d.train_examples = te->as_int();
    if (ve && ve->is_int()) d.val_examples = ve->as_int();
  }
}

int64_t target_tokens(const TokenStream& s) {
  int64_t n = 0;
  for (uint8_t m : s.mask) n += m;
  return n;
}

}  // namespace

std::string resolve_data_path(const std::string& path, const std::string& data_dir) {
  fs::path p(path);
  if (p.is_absolute() || fs::exists(p)) return fs::absolute(p).lexically_normal().string();
  fs::path q = fs::absolute(fs::path(resolve_data_dir(data_dir)) / p).lexically_normal();
  SRA_CHECK(fs::exists(q), "[data] data.path '", path, "' does not exist (tried '", path, "' and '",
            q.string(), "')");
  return q.string();
}

bool is_held_out(int64_t i, int64_t n, int64_t k) {
  return (i + 1) * k / n > i * k / n;
}

void check_token_ids(const TokenStream& s, int64_t vocab_size, const std::string& where) {
  for (size_t i = 0; i < s.ids.size(); ++i) {
    SRA_CHECK(s.ids[i] >= 0 && s.ids[i] < vocab_size, "[data] ", where, ": token id ", s.ids[i],
              " at position ", i, " is >= vocab size ", vocab_size);
  }
}

namespace {
// The round-trip check of issue "tokenizers must round-trip": the first examples' prompt + target.
std::string lossy_warning(const Tokenizer* tok, const std::vector<TextExample>& examples,
                          const std::string& what) {
  if (!tok) return "";
  std::vector<std::string> texts;
  for (size_t i = 0; i < examples.size() && i < 64; ++i)
    texts.push_back(examples[i].prompt + examples[i].target);
  std::ostringstream w;
  warn_if_lossy(*tok, texts, what, w);
  return w.str();
}
}  // namespace

Tokenizer load_data_tokenizer(const std::string& path) {
  SRA_CHECK(fs::exists(path), "[data] data.tokenizer '", path,
            "' does not exist (a relative path is from the working directory); make it with `sra tokenizer "
            "train --dataset synthetic|gsm8k|math|text --vocab-size N --out PREFIX` and set "
            "data.tokenizer=PREFIX.model (configs/demo-*.yaml: the command is in their header), or set "
            "data.tokenizer= (empty) for bytes");
  return Tokenizer::load(path);
}

TrainingData load_training_data(const RunConfig& cfg, const std::string& data_dir) {
  TrainingData d;
  const DataSection& ds = cfg.data;
  const Tokenizer* tok = setup_tokens(cfg, d);
  const int64_t align = ds.align_examples ? ds.seq_len : 0;  // examples whole within rows
  if (ds.dataset != "synthetic") {
    SRA_CHECK(!ds.path.empty(), "[data] data.dataset ", ds.dataset, " needs data.path");
    d.source = resolve_data_path(ds.path, data_dir);
  }
  ActivityScope activity("loading the training data (data.dataset " + ds.dataset +
                         (d.source.empty() ? "" : ", " + d.source) +
                         (tok ? ", tokenizer " + ds.tokenizer : std::string(", bytes")) + ")");
  if (ds.dataset == "synthetic") {
    SyntheticOptions so = to_synthetic_options(cfg);
    int64_t n_train =
        cfg.data.synthetic.train_problems > 0
            ? cfg.data.synthetic.train_problems
            : std::max<int64_t>(cfg.train.batch_size * cfg.train.grad_accum * cfg.train.steps, 64);
    int64_t n_val = std::max<int64_t>(8, cfg.train.eval_batches * cfg.train.batch_size);
    const SyntheticForm form = synthetic_form_from_name(cfg.data.synthetic.form);
    std::vector<TextExample> train = synthetic_examples(so, Split::kTrain, uint64_t(n_train), form);
    d.lossy_tokenizer_warning = lossy_warning(tok, train, "the synthetic training data");
    d.train = example_stream(train, tok, d.eos_id, align, d.pad_id);
    d.val = example_stream(synthetic_examples(so, Split::kVal, uint64_t(n_val), form), tok, d.eos_id, align,
                           d.pad_id);
    d.train_examples = n_train;
    d.val_examples = n_val;
  } else if (ds.dataset == "gsm8k" || ds.dataset == "math") {
    LoadedExamples loaded = load_jsonl_examples(ds.dataset, d.source, ds.skip_bad_lines);
    d.bad_lines = loaded.stats.bad;
    d.bad_lines_summary = loaded.stats.summary(d.source);
    const int64_t n = int64_t(loaded.examples.size());
    SRA_CHECK(n >= 2, "[data] ", d.source, ": ", n, " good ", ds.dataset,
              " rows, too few to hold out a validation slice (need >= 2)");
    const int64_t k = std::clamp<int64_t>(std::llround(double(n) * ds.val_fraction), 1, n - 1);
    std::vector<TextExample> train, val;
    train.reserve(size_t(n - k));
    val.reserve(size_t(k));
    for (int64_t i = 0; i < n; ++i)
      (is_held_out(i, n, k) ? val : train).push_back(std::move(loaded.examples[size_t(i)]));
    d.lossy_tokenizer_warning = lossy_warning(tok, train, "the training data (" + d.source + ")");
    d.train = example_stream(train, tok, d.eos_id, align, d.pad_id);
    d.val = example_stream(val, tok, d.eos_id, align, d.pad_id);
    d.train_examples = n - k;
    d.val_examples = k;
  } else if (ds.dataset == "text") {
    const std::string text = read_file(d.source);
    SRA_CHECK(!text.empty(), "[data] text '", d.source, "' is empty");
    if (tok) check_text_lines(text, d.source);
    size_t cut = size_t(double(text.size()) * 0.9);
    if (tok) {
      size_t nl = text.find('\n', cut);
      cut = nl == std::string::npos ? text.size() : nl + 1;
    }
    std::string_view all(text);
    d.lossy_tokenizer_warning = lossy_warning(
        tok, {TextExample{std::string(all.substr(0, std::min<size_t>(cut, 65536))), "", "", {}}},
        "the text (" + d.source + ")");
    d.train = text_stream(all.substr(0, cut), tok);
    d.val = text_stream(all.substr(cut), tok);
    SRA_CHECK(d.train->size() >= 2 && d.val->size() >= 2, "[data] text '", d.source,
              "' is too short to split into train and validation (", text.size(), " bytes)");
  } else if (ds.dataset == "shards") {
    load_shards(cfg, d);
  } else {
    throw Error("[data] data.dataset '" + ds.dataset + "' is not supported");
  }
  return d;
}

void check_prepared_data_target(const std::string& dir, bool force) {
  if (force) return;
  std::string held;
  std::error_code ec;
  for (const char* name : {"train.tok", "val.tok", "manifest.json"})
    if (fs::exists(fs::path(dir) / name, ec)) held += std::string(held.empty() ? "" : ", ") + name;
  SRA_CHECK(held.empty(), "[data] ", dir, " already holds prepared data (", held,
            "); pass --force to overwrite it, or choose another --out");
}

Json write_prepared_data(const TrainingData& d, const RunConfig& cfg, const std::string& dir, bool force) {
  SRA_CHECK(d.train && d.val, "[data] write_prepared_data: no data");
  check_prepared_data_target(dir, force);
  std::error_code ec;
  fs::create_directories(dir, ec);
  SRA_CHECK(!ec, "[data] cannot create directory '", dir, "': ", ec.message());
  write_token_shard((fs::path(dir) / "train.tok").string(), *d.train, d.vocab_size, d.tokenizer_hash);
  write_token_shard((fs::path(dir) / "val.tok").string(), *d.val, d.vocab_size, d.tokenizer_hash);
  auto split = [](const char* file, int64_t examples, const TokenStream& s) {
    return Json::object(
        {{"file", file}, {"examples", examples}, {"tokens", s.size()}, {"target_tokens", target_tokens(s)}});
  };
  Json m = Json::object({{"format", "sra-prepared-data 1"},
                         {"code_version", kCodeVersion},
                         {"dataset", cfg.data.dataset},
                         {"source", d.source},
                         {"tokenizer", d.tokenizer_path},
                         {"tokenizer_hash", d.tokenizer_hash},
                         {"vocab_size", d.vocab_size},
                         {"eos_id", d.eos_id},
                         {"pad_id", d.pad_id}});
  if (cfg.data.dataset == "gsm8k" || cfg.data.dataset == "math") m["val_fraction"] = cfg.data.val_fraction;
  m["train"] = split("train.tok", d.train_examples, *d.train);
  m["val"] = split("val.tok", d.val_examples, *d.val);
  m["skipped_bad_lines"] = d.bad_lines;
  write_file_atomic((fs::path(dir) / "manifest.json").string(), m.dump() + "\n");
  return m;
}

CorpusInfo write_corpus(const CorpusOptions& opt, const std::string& out_path) {
  CorpusInfo info;
  info.path = out_path;
  std::string text;
  if (opt.dataset == "synthetic") {
    SRA_CHECK(opt.max_examples >= 0, "[data] corpus: the number of problems must be >= 0");
    uint64_t n = uint64_t(opt.max_examples > 0 ? opt.max_examples : 2000);
    for (const TextExample& ex :
         synthetic_examples(opt.synthetic, Split::kTrain, n, SyntheticForm::kStepByStep))
      text += ex.prompt + ex.target + "\n";
    info.examples = int64_t(n);
  } else if (opt.dataset == "gsm8k" || opt.dataset == "math") {
    std::string def = opt.dataset + "/train.jsonl";
    info.source = resolve_data_path(opt.path.empty() ? def : opt.path, opt.data_dir);
    LoadedExamples loaded = load_jsonl_examples(opt.dataset, info.source, opt.skip_bad_lines);
    info.bad_lines = loaded.stats.bad;
    for (const TextExample& ex : loaded.examples) {
      if (opt.max_examples > 0 && info.examples >= opt.max_examples) break;
      text += ex.prompt + ex.target + "\n";
      ++info.examples;
    }
  } else if (opt.dataset == "text") {
    info.source = resolve_data_path(opt.path.empty() ? std::string("tinyshakespeare/input.txt") : opt.path,
                                    opt.data_dir);
    text = read_file(info.source);
    if (opt.max_examples > 0) {
      size_t at = 0;
      for (int64_t i = 0; i < opt.max_examples && at < text.size(); ++i) {
        size_t nl = text.find('\n', at);
        at = nl == std::string::npos ? text.size() : nl + 1;
      }
      text.resize(at);
    }
    for (char c : text) info.examples += c == '\n';
  } else {
    throw Error("[data] corpus: unknown dataset '" + opt.dataset + "' (use synthetic, gsm8k, math or text)");
  }
  SRA_CHECK(!text.empty(), "[data] corpus: nothing to write from ",
            info.source.empty() ? opt.dataset : info.source);
  fs::path parent = fs::path(out_path).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    fs::create_directories(parent, ec);
    SRA_CHECK(!ec, "[data] cannot create directory '", parent.string(), "': ", ec.message());
  }
  write_file_atomic(out_path, text);
  info.bytes = int64_t(text.size());
  return info;
}

}  // namespace sra
