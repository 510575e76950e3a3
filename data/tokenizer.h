// Tokenizers: sentencepiece (training from text files and a thin encode/decode wrapper) and Hugging Face
// tokenizer.json byte-level BPE (data/byte_bpe.h), behind one Tokenizer type.
//   train_tokenizer(opt)  — trains a unigram or BPE model on opt.inputs (plain text, one sentence per
//                           line) and writes <model_prefix>.model and <model_prefix>.vocab; returns
//                           the .model path. Ids are fixed: pad 0, unk 1, bos 2, eos 3 (PAD is a real
//                           id, so padded rows never alias a word). The defaults make the tokenizer
//                           lossless, decode(encode(s)) == s for any UTF-8 s: identity normalisation,
//                           no dummy "▁" prefix, whitespace kept as it is, and byte fallback (256
//                           <0xNN> pieces) for characters outside the learned vocabulary.
//                           Control characters: sentencepiece reads its input one line at a time, so
//                           '\n' never reaches it, and it drops '\t' from what it learns; every ASCII
//                           control character the inputs use (0x01-0x1F, 0x7F: newline, tab, CR, ...)
//                           therefore becomes a user-defined piece (ids right after eos, in byte order)
//                           and round-trips with or without byte fallback (issue 22).
//   round_trip_problem(tok, texts) — the first text with decode(encode(text)) != text: its index, the
//                           first character that does not survive (codepoint; -1 when the decoded text
//                           only adds characters at the end), its byte offset and 1-based line.
//   warn_if_lossy(tok, texts, what, err) — one "warning: [tokenizer] ..." line on `err` when
//                           round_trip_problem finds something (train, eval and rl call it on the
//                           dataset's own prompts); returns whether it warned.
//   corpus_round_trip_problem(tok, files, sample_bytes) — `sra tokenizer train`'s check: every distinct
//                           character of the files on its own (in order of first occurrence), then
//                           chunks of 16 lines (newlines included), all of them or an evenly spread
//                           sample of about sample_bytes; the first failure as file, line and character.
//   Tokenizer::load(path) — reads a sentencepiece .model file, or a Hugging Face tokenizer.json (a path
//                           ending in .json, or a directory holding tokenizer.json); "[tokenizer] ..."
//                           errors for a missing, empty or corrupt file, and for tokenizer.json settings
//                           that byte_bpe does not implement (naming the JSON key). from_bytes(bytes,
//                           name) does the same from the file's bytes (checkpoints embed them; text whose
//                           first non-blank byte is '{' is tokenizer.json, a sentencepiece model never
//                           starts so); model_bytes() gives them back.
//   byte-level BPE        — encode() adds no special tokens (the data pipeline adds BOS/EOS itself;
//                           byte_bpe()->encode_ids(text, true) applies the file's post_processor);
//                           decode() skips special added tokens; pad_id() is -1; bos/eos/unk: byte_bpe.h.
//   hash()                — FNV-1a 64 of the model file's bytes as 16 lower-case hex digits; checkpoints
//                           and token shards store it to refuse a mismatched tokenizer. The file holds
//                           the training spec too (input paths, model_prefix): copies of one model share
//                           a hash, the same model retrained under another prefix does not.
// Works with sentencepiece 0.1.97 (Debian 12) and 0.2.0 (Ubuntu 24.04): only API present in both.
#pragma once
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace sra {

class ByteBpe;

struct TokenizerTrainOptions {
  // Paths must not contain ',' or whitespace: sentencepiece's argument parser splits there.
  std::vector<std::string> inputs;  // text files
  std::string model_prefix;         // writes <prefix>.model and <prefix>.vocab (parent dirs created)
  int64_t vocab_size = 8000;
  std::string model_type = "unigram";      // "unigram" | "bpe"
  double character_coverage = 0.9995;      // fraction of characters that get their own piece
  int64_t max_sentence_length = 4192;      // bytes; longer lines are skipped by the trainer
  int64_t input_sentence_size = 0;         // 0: every line; else a random sample of this many lines
  std::optional<uint32_t> seed;            // seeds sentencepiece's sampler (input_sentence_size > 0)
  bool byte_fallback = true;               // needs vocab_size > 256 + 4 + the number of kept characters
  std::string normalization = "identity";  // or "nmt_nfkc", "nfkc", ... (sentencepiece rule names)
  bool add_dummy_prefix = false;           // true: encode(s) starts as if s began with a space
  bool remove_extra_whitespaces = false;   // true: strip and collapse runs of spaces
  bool split_digits = false;  // true: every digit 0-9 is a piece of its own ("24." is always 2, 4, .)
  int num_threads = 2;
};

// Trains and returns "<model_prefix>.model". Throws "[tokenizer] ..." for bad options, unreadable
// inputs or a failed training run (sentencepiece's message included).
std::string train_tokenizer(const TokenizerTrainOptions& opt);

// One token of encode_with_offsets: its id and the bytes [begin, end) of the input it covers.
// Byte-fallback pieces of one multi-byte character: the first ones are empty (begin == end), the last
// covers the whole character.
// Byte-level BPE tokens cover exactly their bytes, which may be part of a character.
struct TokenSpan {
  int32_t id = 0;
  int64_t begin = 0;
  int64_t end = 0;
};

class Tokenizer {
 public:
  static Tokenizer load(const std::string& path);
  // The same from a .model file's bytes (e.g. embedded in a checkpoint); `name` becomes path().
  static Tokenizer from_bytes(const std::string& bytes, const std::string& name);
  Tokenizer() = default;

  bool loaded() const { return sp_ != nullptr || bpe_ != nullptr; }
  // "sentencepiece" or "byte-level BPE" ("" when not loaded).
  const char* kind() const;
  // The byte-level BPE model, or nullptr for sentencepiece.
  const ByteBpe* byte_bpe() const { return bpe_.get(); }
  std::vector<int32_t> encode(std::string_view text) const;
  std::vector<TokenSpan> encode_with_offsets(std::string_view text) const;
  // Control ids (pad, bos, eos) decode to nothing; ids outside [0, vocab_size) are an error.
  std::string decode(const std::vector<int32_t>& ids) const;
  std::string piece(int32_t id) const;  // the piece's text, e.g. "▁the" or "<0x0A>"

  int64_t vocab_size() const;
  int32_t pad_id() const;  // -1 when the model has none (models not trained by train_tokenizer)
  int32_t unk_id() const;
  int32_t bos_id() const;
  int32_t eos_id() const;
  const std::string& hash() const { return hash_; }
  const std::string& path() const { return path_; }
  const std::string& model_bytes() const;  // the .model file's bytes ("" when not loaded)

 private:
  void require_loaded(const char* what) const;

  std::shared_ptr<const sentencepiece::SentencePieceProcessor> sp_;  // shared: copies are cheap
  std::shared_ptr<const ByteBpe> bpe_;                               // or a tokenizer.json model
  std::string hash_;
  std::string path_;
  std::shared_ptr<const std::string> bytes_;
};

struct RoundTripProblem {
  size_t text = 0;   // index into texts
  size_t byte = 0;   // byte offset of the character in the text
  int64_t line = 1;  // 1-based line of the text holding it (a '\n' belongs to the line it ends)
  int32_t codepoint = -1;
  std::string describe() const;  // "U+000A (newline) at line 2 of text 3"
};
std::optional<RoundTripProblem> round_trip_problem(const Tokenizer& tok,
                                                   const std::vector<std::string>& texts);
bool warn_if_lossy(const Tokenizer& tok, const std::vector<std::string>& texts, std::string_view what,
                   std::ostream& err);

struct CorpusRoundTripProblem {
  std::string file;
  int64_t line = 0;  // 1-based
  int32_t codepoint = -1;
  std::string line_text;         // that line without its '\n', cut to 80 bytes
  std::string describe() const;  // "U+0009 (tab) at corpus.txt line 12: \"...\""
};
std::optional<CorpusRoundTripProblem> corpus_round_trip_problem(const Tokenizer& tok,
                                                                const std::vector<std::string>& files,
                                                                int64_t sample_bytes = int64_t(2) << 20);

// "U+000A (newline)", "U+0009 (tab)", "U+00E9 'é'", "U+0001 (control)"; -1 gives "end of text".
std::string describe_codepoint(int32_t codepoint);

// FNV-1a 64-bit (offset basis 0xcbf29ce484222325, prime 0x100000001b3).
uint64_t fnv1a64(std::string_view bytes);
// 16 lower-case hex digits, most significant first.
std::string hex64(uint64_t v);

}  // namespace sra
