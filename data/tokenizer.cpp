// Sentencepiece training (through the command-line form of Train(), so paths must not contain
// whitespace) and the Tokenizer wrapper. Training messages are silenced with minloglevel=1 (warnings and
// errors still print).
#include "data/tokenizer.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <utility>

#include "core/check.h"

namespace sra {

namespace {

std::string read_bytes(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  SRA_CHECK(in.good(), "[tokenizer] cannot read ", what, " '", path, "'");
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string bool_str(bool b) {
  return b ? "true" : "false";
}

bool has_space(const std::string& s) {
  for (char c : s) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') return true;
  }
  return false;
}

}  // namespace

uint64_t fnv1a64(std::string_view bytes) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ull;
  }
  return h;
}

std::string hex64(uint64_t v) {
  static const char* digits = "0123456789abcdef";
  std::string s(16, '0');
  for (int i = 15; i >= 0; --i, v >>= 4) s[size_t(i)] = digits[v & 15];
  return s;
}

std::string train_tokenizer(const TokenizerTrainOptions& opt) {
  SRA_CHECK(!opt.inputs.empty(), "[tokenizer] no input files to train on");
  SRA_CHECK(!opt.model_prefix.empty(), "[tokenizer] model_prefix is empty");
  SRA_CHECK(opt.model_type == "unigram" || opt.model_type == "bpe", "[tokenizer] model_type must be ",
            "'unigram' or 'bpe', got '", opt.model_type, "'");
  SRA_CHECK(opt.vocab_size > 4, "[tokenizer] vocab_size must be > 4 (pad, unk, bos, eos), got ",
            opt.vocab_size);
  SRA_CHECK(opt.character_coverage > 0 && opt.character_coverage <= 1,
            "[tokenizer] character_coverage must be in (0, 1], got ", opt.character_coverage);
  SRA_CHECK(opt.max_sentence_length > 0, "[tokenizer] max_sentence_length must be > 0, got ",
            opt.max_sentence_length);
  SRA_CHECK(opt.input_sentence_size >= 0, "[tokenizer] input_sentence_size must be >= 0, got ",
            opt.input_sentence_size);
  SRA_CHECK(opt.num_threads >= 1, "[tokenizer] num_threads must be >= 1, got ", opt.num_threads);
  SRA_CHECK(!has_space(opt.model_prefix), "[tokenizer] model_prefix '", opt.model_prefix,
            "' contains whitespace (sentencepiece's argument parser splits there)");
  SRA_CHECK(!opt.normalization.empty() && !has_space(opt.normalization), "[tokenizer] bad normalization '",
            opt.normalization, "'");
  std::string inputs;
  for (const std::string& path : opt.inputs) {
    SRA_CHECK(path.find(',') == std::string::npos && !has_space(path), "[tokenizer] input path '", path,
              "' contains ',' or whitespace (sentencepiece splits its arguments there)");
    std::error_code ec;
    SRA_CHECK(std::filesystem::is_regular_file(path, ec), "[tokenizer] cannot read input file '", path, "'");
    SRA_CHECK(std::filesystem::file_size(path, ec) > 0 && !ec, "[tokenizer] input file '", path,
              "' is empty");
    if (!inputs.empty()) inputs += ',';
    inputs += path;
  }
  std::filesystem::path parent = std::filesystem::path(opt.model_prefix).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    SRA_CHECK(!ec, "[tokenizer] cannot create directory '", parent.string(), "': ", ec.message());
  }

  // The command-line form of Train() exists in every sentencepiece release (the keyword-map form takes
  // std::unordered_map in 0.1.97 and std::map later). It splits on ' ', hence the checks above.
  std::vector<std::pair<std::string, std::string>> args = {
      {"input", inputs},
      {"model_prefix", opt.model_prefix},
      {"model_type", opt.model_type},
      {"vocab_size", std::to_string(opt.vocab_size)},
      {"character_coverage", std::to_string(opt.character_coverage)},
      {"max_sentence_length", std::to_string(opt.max_sentence_length)},
      {"input_sentence_size", std::to_string(opt.input_sentence_size)},
      {"shuffle_input_sentence", "true"},
      {"pad_id", "0"},
      {"unk_id", "1"},
      {"bos_id", "2"},
      {"eos_id", "3"},
      {"byte_fallback", bool_str(opt.byte_fallback)},
      {"normalization_rule_name", opt.normalization},
      {"add_dummy_prefix", bool_str(opt.add_dummy_prefix)},
      {"remove_extra_whitespaces", bool_str(opt.remove_extra_whitespaces)},
      {"num_threads", std::to_string(opt.num_threads)},
      {"minloglevel", "1"},
  };
  std::string command;
  for (const auto& [key, value] : args) {
    if (!command.empty()) command += ' ';
    command += "--" + key + "=" + value;
  }
  if (opt.seed.has_value()) sentencepiece::SetRandomGeneratorSeed(*opt.seed);
  sentencepiece::util::Status status = sentencepiece::SentencePieceTrainer::Train(command);
  SRA_CHECK(status.ok(), "[tokenizer] training '", opt.model_prefix, "' failed: ", status.ToString());
  return opt.model_prefix + ".model";
}

Tokenizer Tokenizer::load(const std::string& path) {
  return from_bytes(read_bytes(path, "tokenizer model"), path);
}

const std::string& Tokenizer::model_bytes() const {
  static const std::string none;
  return bytes_ ? *bytes_ : none;
}

Tokenizer Tokenizer::from_bytes(const std::string& bytes, const std::string& path) {
  SRA_CHECK(!bytes.empty(), "[tokenizer] model file '", path, "' is empty");
  auto sp = std::make_shared<sentencepiece::SentencePieceProcessor>();
  sentencepiece::util::Status status = sp->LoadFromSerializedProto(bytes);
  SRA_CHECK(status.ok(), "[tokenizer] '", path, "' is not a valid sentencepiece model (", status.ToString(),
            ")");
  SRA_CHECK(sp->GetPieceSize() > 0, "[tokenizer] '", path, "' has an empty vocabulary");
  Tokenizer t;
  t.sp_ = std::move(sp);
  t.hash_ = hex64(fnv1a64(bytes));
  t.path_ = path;
  t.bytes_ = std::make_shared<const std::string>(bytes);
  return t;
}

void Tokenizer::require_loaded(const char* what) const {
  SRA_CHECK(sp_ != nullptr, "[tokenizer] ", what, " on a tokenizer that was not loaded");
}

std::vector<int32_t> Tokenizer::encode(std::string_view text) const {
  require_loaded("encode");
  std::vector<int> ids;
  sentencepiece::util::Status status = sp_->Encode(text, &ids);
  SRA_CHECK(status.ok(), "[tokenizer] encode failed: ", status.ToString());
  return std::vector<int32_t>(ids.begin(), ids.end());
}

std::vector<TokenSpan> Tokenizer::encode_with_offsets(std::string_view text) const {
  require_loaded("encode_with_offsets");
  sentencepiece::ImmutableSentencePieceText spt;
  sentencepiece::util::Status status = sp_->Encode(text, spt.mutable_proto());
  SRA_CHECK(status.ok(), "[tokenizer] encode failed: ", status.ToString());
  std::vector<TokenSpan> out(spt.pieces_size());
  for (size_t i = 0; i < out.size(); ++i) {
    auto p = spt.pieces(int(i));
    out[i] = TokenSpan{int32_t(p.id()), int64_t(p.begin()), int64_t(p.end())};
  }
  return out;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
  require_loaded("decode");
  const int64_t n = vocab_size();
  std::vector<int> v(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    SRA_CHECK(ids[i] >= 0 && ids[i] < n, "[tokenizer] decode: id ", ids[i], " at position ", i,
              " is out of range for vocab size ", n);
    v[i] = ids[i];
  }
  std::string out;
  sentencepiece::util::Status status = sp_->Decode(v, &out);
  SRA_CHECK(status.ok(), "[tokenizer] decode failed: ", status.ToString());
  return out;
}

std::string Tokenizer::piece(int32_t id) const {
  require_loaded("piece");
  SRA_CHECK(id >= 0 && id < vocab_size(), "[tokenizer] piece: id ", id, " is out of range for vocab size ",
            vocab_size());
  return sp_->IdToPiece(id);
}

int64_t Tokenizer::vocab_size() const {
  require_loaded("vocab_size");
  return sp_->GetPieceSize();
}
int32_t Tokenizer::pad_id() const {
  require_loaded("pad_id");
  return sp_->pad_id();
}
int32_t Tokenizer::unk_id() const {
  require_loaded("unk_id");
  return sp_->unk_id();
}
int32_t Tokenizer::bos_id() const {
  require_loaded("bos_id");
  return sp_->bos_id();
}
int32_t Tokenizer::eos_id() const {
  require_loaded("eos_id");
  return sp_->eos_id();
}

}  // namespace sra
