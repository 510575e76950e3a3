// Sentencepiece training (through the command-line form of Train(), so paths must not contain
// whitespace), the Tokenizer wrapper and the round-trip checks. Training messages are silenced with
// minloglevel=1 (warnings and errors still print), or 2 (errors only) when control characters become
// pieces (see train_tokenizer).
#include "data/tokenizer.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <ostream>
#include <set>
#include <utility>

#include "core/check.h"
#include "core/strings.h"
#include "data/byte_bpe.h"

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
  return s.find_first_of(kWhitespace) != std::string::npos;
}

// Every ASCII control byte (0x01-0x1F, 0x7F) used by the files, in byte order.
std::string control_bytes_used(const std::vector<std::string>& paths) {
  bool used[128] = {};
  for (const std::string& path : paths) {
    std::ifstream in(path, std::ios::binary);
    char buf[1 << 16];
    while (in.read(buf, sizeof buf) || in.gcount() > 0) {
      for (std::streamsize i = 0; i < in.gcount(); ++i) {
        unsigned char c = static_cast<unsigned char>(buf[i]);
        if ((c >= 0x01 && c < 0x20) || c == 0x7F) used[c] = true;
      }
    }
  }
  std::string out;
  for (int c = 1; c < 128; ++c) {
    if (used[c]) out.push_back(char(c));
  }
  return out;
}

// The code point starting at s[i] (a stray byte is returned as itself) and its length in bytes.
int32_t decode_utf8(std::string_view s, size_t i, size_t* len) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 1;
  if (i + n > s.size()) n = 1;
  int32_t cp = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
  for (size_t k = 1; k < n; ++k) {
    unsigned char d = static_cast<unsigned char>(s[i + k]);
    if ((d & 0xC0) != 0x80) {
      n = 1;
      cp = c;
      break;
    }
    cp = (cp << 6) | (d & 0x3F);
  }
  *len = n;
  return cp;
}

// The first character of `text` that decode(encode(text)) does not reproduce: its byte offset, or npos
// when the round trip is exact; text.size() when the decoded text only adds characters at the end.
size_t first_lost_byte(const Tokenizer& tok, const std::string& text) {
  std::string back = tok.decode(tok.encode(text));
  if (back == text) return std::string::npos;
  size_t p = 0;
  while (p < text.size() && p < back.size() && text[p] == back[p]) ++p;
  while (p > 0 && p < text.size() && (static_cast<unsigned char>(text[p]) & 0xC0) == 0x80) --p;
  return p;
}

struct CorpusLine {
  size_t file = 0;
  int64_t line = 0;
};

}  // namespace

std::string describe_codepoint(int32_t cp) {
  if (cp < 0) return "end of text";
  char hex[16];
  std::snprintf(hex, sizeof hex, "U+%04X", unsigned(cp));
  std::string out = hex;
  static const std::pair<int32_t, const char*> kNamed[] = {{'\n', "newline"},         {'\t', "tab"},
                                                           {'\r', "carriage return"}, {'\v', "vertical tab"},
                                                           {'\f', "form feed"},       {' ', "space"}};
  for (const auto& [c, name] : kNamed) {
    if (cp == c) return out + " (" + name + ")";
  }
  if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0)) return out + " (control)";
  std::string utf8;
  if (cp < 0x80) {
    utf8.push_back(char(cp));
  } else if (cp < 0x800) {
    utf8 += {char(0xC0 | (cp >> 6)), char(0x80 | (cp & 0x3F))};
  } else if (cp < 0x10000) {
    utf8 += {char(0xE0 | (cp >> 12)), char(0x80 | ((cp >> 6) & 0x3F)), char(0x80 | (cp & 0x3F))};
  } else {
    utf8 += {char(0xF0 | (cp >> 18)), char(0x80 | ((cp >> 12) & 0x3F)), char(0x80 | ((cp >> 6) & 0x3F)),
             char(0x80 | (cp & 0x3F))};
  }
  return out + " '" + utf8 + "'";
}

std::string RoundTripProblem::describe() const {
  return describe_codepoint(codepoint) + " at line " + std::to_string(line) + " of text " +
         std::to_string(text);
}

std::optional<RoundTripProblem> round_trip_problem(const Tokenizer& tok,
                                                   const std::vector<std::string>& texts) {
  for (size_t t = 0; t < texts.size(); ++t) {
    const std::string& text = texts[t];
    size_t p = first_lost_byte(tok, text);
    if (p == std::string::npos) continue;
    RoundTripProblem r;
    r.text = t;
    r.byte = p;
    for (size_t i = 0; i < p; ++i) r.line += text[i] == '\n';
    if (p < text.size()) {
      size_t len = 0;
      r.codepoint = decode_utf8(text, p, &len);
    }
    return r;
  }
  return std::nullopt;
}

bool warn_if_lossy(const Tokenizer& tok, const std::vector<std::string>& texts, std::string_view what,
                   std::ostream& err) {
  std::optional<RoundTripProblem> r = round_trip_problem(tok, texts);
  if (!r) return false;
  err << "warning: [tokenizer] '" << tok.path() << "' does not round-trip " << what
      << ": decode(encode(x)) != x, first at " << describe_codepoint(r->codepoint) << ", line " << r->line
      << " of text " << r->text << " (of " << texts.size()
      << "); the model cannot read or write that character (retrain it with sra tokenizer train)\n";
  return true;
}

std::string CorpusRoundTripProblem::describe() const {
  return describe_codepoint(codepoint) + " at " + file + " line " + std::to_string(line) + ": \"" +
         line_text + "\"";
}

std::optional<CorpusRoundTripProblem> corpus_round_trip_problem(const Tokenizer& tok,
                                                                const std::vector<std::string>& files,
                                                                int64_t sample_bytes) {
  constexpr int64_t kChunkLines = 16;
  std::vector<std::string> contents;
  for (const std::string& f : files) contents.push_back(read_bytes(f, "corpus file"));
  auto problem = [&](const CorpusLine& at, int32_t cp) {
    const std::string& text = contents[at.file];
    size_t begin = 0;
    for (int64_t l = 1; l < at.line; ++l) begin = text.find('\n', begin) + 1;
    size_t end = std::min(text.find('\n', begin), text.size());
    return CorpusRoundTripProblem{files[at.file], at.line, cp,
                                  text.substr(begin, std::min<size_t>(end - begin, 80))};
  };
  // Every distinct character on its own, in order of first occurrence.
  struct Seen {
    int32_t cp;
    CorpusLine at;
    size_t pos, len;
  };
  std::set<int32_t> seen;
  std::vector<Seen> order;
  for (size_t f = 0; f < contents.size(); ++f) {
    const std::string& text = contents[f];
    int64_t line = 1;
    for (size_t i = 0; i < text.size();) {
      size_t len = 1;
      int32_t cp = decode_utf8(text, i, &len);
      if (seen.insert(cp).second) order.push_back(Seen{cp, CorpusLine{f, line}, i, len});
      line += text[i] == '\n';
      i += len;
    }
  }
  for (const Seen& s : order) {
    if (first_lost_byte(tok, contents[s.at.file].substr(s.pos, s.len)) != std::string::npos)
      return problem(s.at, s.cp);
  }
  // Chunks of kChunkLines lines, every stride-th one.
  int64_t total = 0;
  for (const std::string& c : contents) total += int64_t(c.size());
  const int64_t stride =
      sample_bytes > 0 && total > sample_bytes ? (total + sample_bytes - 1) / sample_bytes : 1;
  int64_t chunk_index = 0;
  for (size_t f = 0; f < contents.size(); ++f) {
    const std::string& text = contents[f];
    size_t begin = 0;
    int64_t line = 1;
    while (begin < text.size()) {
      size_t end = begin;
      int64_t lines = 0;
      while (end < text.size() && lines < kChunkLines) {
        size_t nl = text.find('\n', end);
        end = nl == std::string::npos ? text.size() : nl + 1;
        ++lines;
      }
      if (chunk_index++ % stride == 0) {
        std::string chunk = text.substr(begin, end - begin);
        std::optional<RoundTripProblem> r = round_trip_problem(tok, {chunk});
        if (r) return problem(CorpusLine{f, line + r->line - 1}, r->codepoint);
      }
      begin = end;
      line += lines;
    }
  }
  return std::nullopt;
}

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
      {"split_digits", bool_str(opt.split_digits)},
      {"num_threads", std::to_string(opt.num_threads)},
      {"minloglevel", "1"},
  };
  // Control characters as user-defined pieces (see tokenizer.h); the command-line form splits only on
  // ' ' and the list on ',', neither of which is a control character.
  std::string controls = control_bytes_used(opt.inputs);
  if (!controls.empty()) {
    std::string list;
    for (char c : controls) {
      if (!list.empty()) list += ',';
      list += c;
    }
    args.emplace_back("user_defined_symbols", list);
    // Writing them raw into <prefix>.vocab (read by nothing here) makes sentencepiece warn that they
    // "break the format" of that file, once per piece: only errors print then.
    for (auto& [key, value] : args) {
      if (key == "minloglevel") value = "2";
    }
  }
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
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    const std::string json = (std::filesystem::path(path) / "tokenizer.json").string();
    SRA_CHECK(std::filesystem::is_regular_file(json, ec), "[tokenizer] directory '", path,
              "' holds no tokenizer.json (give a sentencepiece .model file or a tokenizer.json)");
    return load(json);
  }
  std::string bytes = read_bytes(path, "tokenizer model");
  const bool json = path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0;
  if (json) {
    SRA_CHECK(!bytes.empty(), "[tokenizer] tokenizer.json '", path, "' is empty");
    SRA_CHECK(bytes.find_first_not_of(kWhitespace) != std::string::npos &&
                  bytes[bytes.find_first_not_of(kWhitespace)] == '{',
              "[tokenizer] '", path, "' is not a tokenizer.json (it does not start with '{')");
  }
  return from_bytes(bytes, path);
}

const char* Tokenizer::kind() const {
  return bpe_ ? "byte-level BPE" : sp_ ? "sentencepiece" : "";
}

const std::string& Tokenizer::model_bytes() const {
  static const std::string none;
  return bytes_ ? *bytes_ : none;
}

Tokenizer Tokenizer::from_bytes(const std::string& bytes, const std::string& path) {
  SRA_CHECK(!bytes.empty(), "[tokenizer] model file '", path, "' is empty");
  const size_t first = bytes.find_first_not_of(kWhitespace);
  if (first != std::string::npos && bytes[first] == '{') {
    Tokenizer t;
    t.bpe_ = ByteBpe::parse(bytes, path);
    t.hash_ = hex64(fnv1a64(bytes));
    t.path_ = path;
    t.bytes_ = std::make_shared<const std::string>(bytes);
    return t;
  }
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
  SRA_CHECK(loaded(), "[tokenizer] ", what, " on a tokenizer that was not loaded");
}

std::vector<int32_t> Tokenizer::encode(std::string_view text) const {
  require_loaded("encode");
  if (bpe_) return bpe_->encode_ids(text);
  std::vector<int> ids;
  sentencepiece::util::Status status = sp_->Encode(text, &ids);
  SRA_CHECK(status.ok(), "[tokenizer] encode failed: ", status.ToString());
  return std::vector<int32_t>(ids.begin(), ids.end());
}

std::vector<TokenSpan> Tokenizer::encode_with_offsets(std::string_view text) const {
  require_loaded("encode_with_offsets");
  if (bpe_) {
    std::vector<TokenSpan> out;
    for (const BpeSpan& s : bpe_->encode(text)) out.push_back(TokenSpan{s.id, s.begin, s.end});
    return out;
  }
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
  if (bpe_) return bpe_->decode(ids);
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
  if (bpe_) return bpe_->token(id);
  SRA_CHECK(id >= 0 && id < vocab_size(), "[tokenizer] piece: id ", id, " is out of range for vocab size ",
            vocab_size());
  return sp_->IdToPiece(id);
}

int64_t Tokenizer::vocab_size() const {
  require_loaded("vocab_size");
  if (bpe_) return bpe_->vocab_size();
  return sp_->GetPieceSize();
}
int32_t Tokenizer::pad_id() const {
  require_loaded("pad_id");
  if (bpe_) return -1;
  return sp_->pad_id();
}
int32_t Tokenizer::unk_id() const {
  require_loaded("unk_id");
  if (bpe_) return bpe_->unk_id();
  return sp_->unk_id();
}
int32_t Tokenizer::bos_id() const {
  require_loaded("bos_id");
  if (bpe_) return bpe_->bos_id();
  return sp_->bos_id();
}
int32_t Tokenizer::eos_id() const {
  require_loaded("eos_id");
  if (bpe_) return bpe_->eos_id();
  return sp_->eos_id();
}

}  // namespace sra
