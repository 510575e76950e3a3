// Training data: one code path from a run config's data section to token streams, used by the trainer
// (train/trainer.cpp) and by `sra data prepare`, so a prepared directory trains exactly like its source.
//
// load_training_data(cfg, data_dir) → TrainingData{train, val streams, eos/pad ids, vocab size, tokenizer}
//   Tokens: data.tokenizer empty → bytes (ids 0..255, vocab 256, EOS = PAD = byte 0); else the
//   sentencepiece model (its EOS; PAD = its pad id, or EOS when it has none), whose vocab_size must be
//   <= model.vocab_size ("[train] tokenizer 'F' has N ids but model.vocab_size is M").
//   Examples (prompt + target) become ids + mask with tokenize_example (BOS prompt target EOS, mask on
//   target and EOS), or, for bytes, prompt bytes (mask 0) + target bytes (mask 1); concat_examples joins
//   them with EOS after each (data.align_examples: aligned to data.seq_len, so no example of at most
//   seq_len + 1 tokens is split across rows; data/packing.h).
//   data.dataset:
//     synthetic  train problems 0..N-1 of the generator's train split, data.synthetic.form (N =
//                data.synthetic.train_problems, or max(64, batch_size · grad_accum · steps) when 0);
//                val = val-split problems 0..M-1 (M = max(8, eval_batches · batch_size)).
//     gsm8k,     data.path is the train JSONL (load_gsm8k / load_math; data.skip_bad_lines honoured:
//     math       off, the first bad line throws "[data] FILE:LINE: ..."; on, bad lines are counted in
//                bad_lines / bad_lines_summary). Of the n good rows, k = clamp(round(n · val_fraction), 1,
//                n - 1) are held out for validation, spread evenly and independent of seeds: row i (0-based,
//                in file order) is held out iff floor((i + 1)·k / n) > floor(i·k / n). The rest train,
//                in file order. Fewer than 2 rows is an error.
//     text       data.path is a text file, mask 1 everywhere, no EOS. Bytes: the first floor(0.9 · n)
//                bytes train, the rest validate. Tokenizer: the cut moves forward to just after the next
//                '\n', and each line (with its '\n') is encoded on its own (lossless tokenizers decode the
//                concatenation back to the text). With a tokenizer, a line longer than the JSONL limit
//                (JsonlOptions::kDefaultMaxLineBytes, 1 MiB) is refused, naming FILE:LINE (sentencepiece
//                needs hundreds of bytes of memory per character of a line).
//     shards     data.path is a directory written by write_prepared_data: train.tok and val.tok
//                (data/packing.h shard format). Their tokenizer hash must equal data.tokenizer's ("" for
//                bytes) and their vocab size must be <= model.vocab_size; ids are checked against it by
//                read_token_shard. Example counts come from its manifest.json when present.
//   Relative data.path: used as is when it exists from the working directory, else resolved against the
//   data directory (resolve_data_dir(data_dir), data/data_dir.h); "[data] data.path 'P' does not exist
//   (tried ...)" otherwise.
//
// write_prepared_data(data, cfg, dir, force) — refuses a dir that already holds prepared data unless force
//   (check_prepared_data_target); writes dir/train.tok, dir/val.tok (vocab = data.vocab_size, hash =
//   data.tokenizer_hash) and dir/manifest.json, returned as well:
//   {"format": "sra-prepared-data 1", "code_version", "dataset", "source", "tokenizer", "tokenizer_hash",
//    "vocab_size", "eos_id", "pad_id", "val_fraction" (gsm8k / math only),
//    "train": {"file": "train.tok", "examples", "tokens", "target_tokens"}, "val": {...},
//    "skipped_bad_lines"}. examples: problems or JSONL rows (0 for text).
//
// write_corpus(opt, out) — a plain-text corpus for tokenizer training: each example's prompt + target
//   (synthetic: step-by-step form; gsm8k / math: the same prompt and target the trainer uses) followed by
//   '\n', or the first lines of a text file.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "core/json.h"
#include "data/packing.h"
#include "data/synthetic.h"
#include "data/tokenizer.h"
#include "run/config.h"

namespace sra {

struct TrainingData {
  std::shared_ptr<const TokenStream> train;
  std::shared_ptr<const TokenStream> val;
  int32_t eos_id = 0;
  int32_t pad_id = 0;
  int64_t vocab_size = 256;    // every id is below it: 256 for bytes, else the tokenizer's (shard's) size
  std::string tokenizer_path;  // "" for bytes
  std::string tokenizer_hash;  // "" for bytes
  Tokenizer tokenizer;         // not loaded for bytes (checkpoints embed it)
  std::string source;          // the resolved data.path ("" for synthetic)
  int64_t train_examples = 0;  // problems or JSONL rows (0 for text)
  int64_t val_examples = 0;
  int64_t bad_lines = 0;          // skipped malformed JSONL lines (data.skip_bad_lines)
  std::string bad_lines_summary;  // JsonlStats::summary: "" when none were skipped
  // "warning: [tokenizer] ..." when decode(encode(x)) != x for one of the first training examples
  // (data/tokenizer.h warn_if_lossy); "" for bytes or a lossless tokenizer.
  std::string lossy_tokenizer_warning;
};

TrainingData load_training_data(const RunConfig& cfg, const std::string& data_dir);

// Tokenizer::load for a config's data.tokenizer (train, data prepare, generate, eval): a missing file is
// "[data] data.tokenizer 'P' does not exist ...", saying how to make one (sra tokenizer train) or to
// leave the key empty for bytes.
Tokenizer load_data_tokenizer(const std::string& path);

// data.path → an absolute path: path itself when it is absolute or exists, else under the data directory
// (which must hold it).
std::string resolve_data_path(const std::string& path, const std::string& data_dir);

// Whether row i of n is held out when k of them are (see above); exactly k rows are.
bool is_held_out(int64_t i, int64_t n, int64_t k);

// Throws "[data] <where>: token id X at position P is >= vocab size V" for the first id out of range.
void check_token_ids(const TokenStream& s, int64_t vocab_size, const std::string& where);

// Throws "[data] <dir> already holds prepared data (train.tok, ...); pass --force to overwrite it, or
// choose another --out" unless force or dir holds none of train.tok, val.tok, manifest.json.
void check_prepared_data_target(const std::string& dir, bool force);
Json write_prepared_data(const TrainingData& data, const RunConfig& cfg, const std::string& dir,
                         bool force = false);

struct CorpusOptions {
  std::string dataset;         // synthetic | gsm8k | math | text
  std::string path;            // gsm8k / math / text input; "" = gsm8k/train.jsonl, math/train.jsonl or
                               // tinyshakespeare/input.txt under the data directory
  std::string data_dir;        // see resolve_data_dir
  SyntheticOptions synthetic;  // synthetic only
  int64_t max_examples = 0;    // synthetic: problems (0 = 2000); gsm8k / math: first rows; text: first lines
                               // (0 = all)
  bool skip_bad_lines = false;
};

struct CorpusInfo {
  std::string path;    // the corpus written
  std::string source;  // the input file ("" for synthetic)
  int64_t examples = 0;
  int64_t bytes = 0;
  int64_t bad_lines = 0;
};

CorpusInfo write_corpus(const CorpusOptions& opt, const std::string& out_path);

}  // namespace sra
