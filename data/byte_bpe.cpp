// Byte-level BPE from tokenizer.json: loading (each refused setting names its JSON key), encoding (added
// tokens, pre-tokenisation, merges in tokenizers' order) and decoding. See data/byte_bpe.h.
#include "data/byte_bpe.h"

#include <algorithm>
#include <queue>

#include "core/check.h"
#include "core/json.h"
#include "data/unicode_classes.h"
#include "data/unicode_nfc.h"

namespace sra {

namespace {

std::string index_key(const std::string& key, size_t i) {
  return key + "[" + std::to_string(i) + "]";
}

std::string quoted(std::string_view s) {
  std::string out;
  json_append_quoted(out, s.size() > 80 ? s.substr(0, 80) : s);
  return s.size() > 80 ? out + "..." : out;
}

uint64_t pair_key(int32_t a, int32_t b) {
  return (uint64_t(uint32_t(a)) << 32) | uint32_t(b);
}

std::string byte_level_text(std::string_view bytes) {
  std::string out;
  for (char c : bytes) utf8_append(out, byte_to_unicode(uint8_t(c)));
  return out;
}

}  // namespace

// Reading JSON with errors that name the key: "[tokenizer] NAME: model.merges[3]: ...".
struct ByteBpeReader {
  const std::string& name;

  [[noreturn]] void fail(const std::string& key, const std::string& msg) const {
    throw Error("[tokenizer] " + name + ": " + key + ": " + msg);
  }
  const Json* find(const Json& obj, std::string_view key) const {
    const Json* v = obj.find(key);
    return v && !v->is_null() ? v : nullptr;
  }
  const Json& get(const Json& obj, std::string_view key, const std::string& path) const {
    const Json* v = obj.find(key);
    if (!v) fail(path + (path.empty() ? "" : ".") + std::string(key), "missing");
    return *v;
  }
  const Json& object(const Json& v, const std::string& key) const {
    if (!v.is_object()) fail(key, std::string("expected an object, got ") + Json::type_name(v.type()));
    return v;
  }
  const std::string& string(const Json& v, const std::string& key) const {
    if (!v.is_string()) fail(key, std::string("expected a string, got ") + Json::type_name(v.type()));
    return v.as_string();
  }
  const Json::Array& array(const Json& v, const std::string& key) const {
    if (!v.is_array()) fail(key, std::string("expected an array, got ") + Json::type_name(v.type()));
    return v.as_array();
  }
  int64_t integer(const Json& v, const std::string& key) const {
    if (!v.is_int()) fail(key, std::string("expected an integer, got ") + Json::type_name(v.type()));
    return v.as_int();
  }
  bool flag(const Json& obj, std::string_view key, const std::string& path, bool dflt) const {
    const Json* v = find(obj, key);
    if (!v) return dflt;
    if (!v->is_bool()) fail(path + "." + std::string(key), "expected true or false");
    return v->as_bool();
  }
  // obj[key] must be null or missing.
  void unsupported(const Json& obj, std::string_view key, const std::string& path, const char* why) const {
    if (find(obj, key)) fail(path.empty() ? std::string(key) : path + "." + std::string(key), why);
  }
  std::string type(const Json& obj, const std::string& path) const {
    object(obj, path);
    return string(get(obj, "type", path), path + ".type");
  }
};

std::shared_ptr<const ByteBpe> ByteBpe::parse(std::string_view json_text, const std::string& name) {
  Json root;
  try {
    root = Json::parse(json_text);
  } catch (const Error& e) {
    throw Error("[tokenizer] " + name + ": not valid JSON: " + e.what());
  }
  ByteBpeReader r{name};
  if (!root.is_object()) r.fail("(top level)", "expected a tokenizer.json object");
  auto bpe = std::make_shared<ByteBpe>();
  bpe->name_ = name;
  r.unsupported(root, "truncation", "", "truncation is not supported (set it to null)");
  r.unsupported(root, "padding", "", "padding is not supported (set it to null)");
  if (const Json* norm = r.find(root, "normalizer")) {
    std::string type = r.type(*norm, "normalizer");
    const Json* list = norm->find("normalizers");
    if (type == "Sequence" && list && list->is_array() && list->as_array().size() <= 1) {
      if (list->as_array().size() == 1)
        type = r.type(list->as_array()[0], "normalizer.normalizers[0]");
      else
        type = "";
    }
    if (type == "NFC") {
      bpe->nfc_ = true;
    } else if (!type.empty()) {
      r.fail("normalizer.type",
             "'" + type + "' is not supported (only null, NFC, or a Sequence of at most one NFC)");
    }
  }
  bpe->parse_model(r.object(r.get(root, "model", ""), "model"));
  if (const Json* added = r.find(root, "added_tokens")) bpe->parse_added(*added);
  const Json* pre = r.find(root, "pre_tokenizer");
  if (!pre) r.fail("pre_tokenizer", "is null; byte-level BPE needs ByteLevel (alone or last in a Sequence)");
  bpe->parse_pre_tokenizer(*pre);
  const Json* dec = r.find(root, "decoder");
  if (!dec) r.fail("decoder", "is null; only the ByteLevel decoder is supported");
  std::string dec_type = r.type(*dec, "decoder");
  if (dec_type != "ByteLevel") r.fail("decoder.type", "'" + dec_type + "' is not supported (only ByteLevel)");
  if (const Json* post = r.find(root, "post_processor")) bpe->parse_post_processor(*post, "post_processor");
  bpe->finish();
  return bpe;
}

void ByteBpe::set_token(int32_t id, const std::string& text, const std::string& key) {
  if (size_t(id) >= tokens_.size()) {
    tokens_.resize(size_t(id) + 1);
    used_.resize(size_t(id) + 1, 0);
    special_.resize(size_t(id) + 1, 0);
  }
  if (used_[size_t(id)] && tokens_[size_t(id)] != text)
    ByteBpeReader{name_}.fail(key, "id " + std::to_string(id) + " of " + quoted(text) +
                                       " is also the id of " + quoted(tokens_[size_t(id)]));
  tokens_[size_t(id)] = text;
  used_[size_t(id)] = 1;
}

void ByteBpe::parse_model(const Json& model) {
  ByteBpeReader r{name_};
  std::string type = r.type(model, "model");
  if (type != "BPE") r.fail("model.type", "'" + type + "' is not supported (only BPE)");
  r.unsupported(model, "dropout", "model", "BPE dropout is not supported (set it to null)");
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (const Json* v = r.find(model, key); v && r.string(*v, std::string("model.") + key) != "")
      r.fail(std::string("model.") + key, "'" + v->as_string() + "' is not supported (only null)");
  }
  if (r.flag(model, "byte_fallback", "model", false))
    r.fail("model.byte_fallback", "true is not supported (byte-level BPE needs no byte fallback)");
  fuse_unk_ = r.flag(model, "fuse_unk", "model", false);
  ignore_merges_ = r.flag(model, "ignore_merges", "model", false);

  const Json& vocab = r.object(r.get(model, "vocab", "model"), "model.vocab");
  if (vocab.size() == 0) r.fail("model.vocab", "is empty");
  vocab_.reserve(vocab.size());
  for (const auto& [text, v] : vocab.as_object()) {
    const std::string key = "model.vocab[" + quoted(text) + "]";
    check_id(r.integer(v, key), key);
    set_token(int32_t(v.as_int()), text, key);
    vocab_.emplace(text, int32_t(v.as_int()));
  }
  if (const Json* unk = r.find(model, "unk_token")) {
    auto it = vocab_.find(r.string(*unk, "model.unk_token"));
    if (it == vocab_.end()) r.fail("model.unk_token", quoted(unk->as_string()) + " is not in model.vocab");
    unk_ = it->second;
  }

  const Json::Array& merges = r.array(r.get(model, "merges", "model"), "model.merges");
  merges_.reserve(merges.size());
  for (size_t i = 0; i < merges.size(); ++i) {
    const std::string key = index_key("model.merges", i);
    std::string a, b;
    if (merges[i].is_string()) {
      const std::string& s = merges[i].as_string();
      size_t sp = s.find(' ');
      if (sp == std::string::npos) r.fail(key, quoted(s) + " is not two tokens separated by a space");
      a = s.substr(0, sp);
      b = s.substr(sp + 1);
    } else {
      const Json::Array& ab = r.array(merges[i], key);
      if (ab.size() != 2) r.fail(key, "expected [a, b], got " + std::to_string(ab.size()) + " items");
      a = r.string(ab[0], key + "[0]");
      b = r.string(ab[1], key + "[1]");
    }
    auto ia = vocab_.find(a), ib = vocab_.find(b), iab = vocab_.find(a + b);
    if (ia == vocab_.end()) r.fail(key, quoted(a) + " is not in model.vocab");
    if (ib == vocab_.end()) r.fail(key, quoted(b) + " is not in model.vocab");
    if (iab == vocab_.end()) r.fail(key, "the merged token " + quoted(a + b) + " is not in model.vocab");
    // A repeated pair keeps its last rank (tokenizers collects the list into a hash map).
    merges_[pair_key(ia->second, ib->second)] = Merge{int32_t(i), iab->second};
  }
  merge_count_ = int64_t(merges.size());
  for (int b = 0; b < 256; ++b) {
    std::string ch;
    utf8_append(ch, byte_to_unicode(uint8_t(b)));
    auto it = vocab_.find(ch);
    byte_id_[b] = it == vocab_.end() ? -1 : it->second;
  }
}

void ByteBpe::check_id(int64_t id, const std::string& key) const {
  if (id < 0 || id >= (int64_t(1) << 30))
    ByteBpeReader{name_}.fail(key, "id " + std::to_string(id) + " is outside [0, 2^30)");
}

void ByteBpe::parse_added(const Json& added) {
  ByteBpeReader r{name_};
  const Json::Array& list = r.array(added, "added_tokens");
  // tokenizers gives an added token the vocab's id when the model has it, else the next free id; a file
  // whose ids disagree would encode differently there, so it is refused.
  const int64_t model_size = int64_t(vocab_.size());
  int64_t max_added = -1;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string key = index_key("added_tokens", i);
    const Json& t = r.object(list[i], key);
    Added a;
    a.content = r.string(r.get(t, "content", key), key + ".content");
    if (a.content.empty()) r.fail(key + ".content", "is empty");
    for (const char* opt : {"single_word", "lstrip", "rstrip"}) {
      if (r.flag(t, opt, key, false)) r.fail(key + "." + opt, "true is not supported");
    }
    a.special = r.flag(t, "special", key, false);
    a.normalized = r.flag(t, "normalized", key, !a.special);
    int64_t file_id = r.integer(r.get(t, "id", key), key + ".id");
    check_id(file_id, key + ".id");
    for (const Added& prev : added_) {
      if (prev.content == a.content) r.fail(key + ".content", quoted(a.content) + " is listed twice");
    }
    auto it = vocab_.find(a.content);
    int64_t want = it != vocab_.end()        ? it->second
                   : max_added < 0           ? model_size
                   : max_added >= model_size ? max_added + 1
                                             : model_size;
    if (file_id != want)
      r.fail(key + ".id", std::to_string(file_id) + " for " + quoted(a.content) +
                              ", but tokenizers gives it " + std::to_string(want) +
                              (it != vocab_.end() ? " (its id in model.vocab)" : " (the next free id)"));
    max_added = std::max(max_added, want);
    a.id = int32_t(file_id);
    set_token(a.id, a.content, key);
    added_.push_back(a);
  }
}

void ByteBpe::parse_pre_tokenizer(const Json& pre) {
  ByteBpeReader r{name_};
  auto byte_level = [&](const Json& p, const std::string& key) {
    // tokenizers' defaults when the keys are missing: add_prefix_space true, use_regex true.
    add_prefix_space_ = r.flag(p, "add_prefix_space", key, true);
    byte_level_regex_ = r.flag(p, "use_regex", key, true);
  };
  auto split = [&](const Json& p, const std::string& key) {
    const Json& pattern = r.object(r.get(p, "pattern", key), key + ".pattern");
    const Json* regex = pattern.find("Regex");
    if (!regex) r.fail(key + ".pattern", "only a {\"Regex\": ...} pattern is supported");
    const std::string& text = r.string(*regex, key + ".pattern.Regex");
    std::optional<SplitPattern> known = split_pattern_of(text);
    if (!known)
      r.fail(key + ".pattern.Regex", quoted(text) +
                                         " is not one of the patterns implemented here (GPT-2's, " +
                                         "Llama 3's, Qwen2's: data/byte_bpe_pretok.h)");
    const std::string& behavior = r.string(r.get(p, "behavior", key), key + ".behavior");
    if (behavior != "Isolated")
      r.fail(key + ".behavior", "'" + behavior + "' is not supported (only Isolated)");
    if (r.flag(p, "invert", key, false)) r.fail(key + ".invert", "true is not supported");
    splits_.push_back(*known);
  };
  const std::string type = r.type(pre, "pre_tokenizer");
  if (type == "ByteLevel") return byte_level(pre, "pre_tokenizer");
  if (type != "Sequence")
    r.fail("pre_tokenizer.type",
           "'" + type + "' is not supported (ByteLevel, or a Sequence of Split and ByteLevel)");
  const Json::Array& list =
      r.array(r.get(pre, "pretokenizers", "pre_tokenizer"), "pre_tokenizer.pretokenizers");
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string key = index_key("pre_tokenizer.pretokenizers", i);
    const std::string t = r.type(list[i], key);
    if (t == "Split" && i + 1 < list.size()) {
      split(list[i], key);
    } else if (t == "ByteLevel" && i + 1 == list.size()) {
      byte_level(list[i], key);
    } else {
      r.fail(key + ".type", "'" + t + "' is not supported here (a Sequence of Split pre-tokenizers ending " +
                                "with ByteLevel)");
    }
  }
  if (list.empty() || r.type(list.back(), "pre_tokenizer") != "ByteLevel")
    r.fail("pre_tokenizer.pretokenizers", "must end with ByteLevel");
}

void ByteBpe::parse_post_processor(const Json& post, const std::string& key) {
  ByteBpeReader r{name_};
  const std::string type = r.type(post, key);
  if (type == "ByteLevel") return;  // offsets only
  if (type == "Sequence") {
    const Json::Array& list = r.array(r.get(post, "processors", key), key + ".processors");
    for (size_t i = 0; i < list.size(); ++i) parse_post_processor(list[i], index_key(key + ".processors", i));
    return;
  }
  if (type != "TemplateProcessing")
    r.fail(key + ".type",
           "'" + type + "' is not supported (ByteLevel, TemplateProcessing or a Sequence of them)");
  if (!prefix_ids_.empty() || !suffix_ids_.empty()) r.fail(key, "a second TemplateProcessing");
  const Json::Array& single = r.array(r.get(post, "single", key), key + ".single");
  const Json& specials = r.object(r.get(post, "special_tokens", key), key + ".special_tokens");
  int sequences = 0;
  for (size_t i = 0; i < single.size(); ++i) {
    const std::string k = index_key(key + ".single", i);
    const Json& item = r.object(single[i], k);
    if (const Json* seq = item.find("Sequence")) {
      const std::string& id = r.string(r.get(r.object(*seq, k + ".Sequence"), "id", k + ".Sequence"), k);
      if (id != "A") r.fail(k + ".Sequence.id", "'" + id + "' in the single template (expected A)");
      ++sequences;
      continue;
    }
    const Json* sp = item.find("SpecialToken");
    if (!sp) r.fail(k, "expected a Sequence or a SpecialToken");
    const std::string& tok =
        r.string(r.get(r.object(*sp, k + ".SpecialToken"), "id", k + ".SpecialToken"), k);
    const Json* entry = specials.find(tok);
    if (!entry) r.fail(key + ".special_tokens", "has no entry " + quoted(tok) + " (used by " + k + ")");
    const std::string ids_key = key + ".special_tokens[" + quoted(tok) + "].ids";
    for (const Json& id : r.array(r.get(r.object(*entry, ids_key), "ids", ids_key), ids_key)) {
      int64_t v = r.integer(id, ids_key);
      if (v < 0 || v >= vocab_size() || !used_[size_t(v)])
        r.fail(ids_key, std::to_string(v) + " is not a token id");
      (sequences ? suffix_ids_ : prefix_ids_).push_back(int32_t(v));
    }
  }
  if (sequences != 1) r.fail(key + ".single", "must hold the sequence A once");
}

void ByteBpe::finish() {
  bytes_.assign(tokens_.size(), std::string());
  for (size_t id = 0; id < tokens_.size(); ++id) {
    const std::string& t = tokens_[id];
    std::string out;
    bool all_mapped = true;
    for (size_t i = 0; i < t.size() && all_mapped;) {
      size_t len = 1;
      int32_t cp = utf8_decode(t, i, &len);
      int32_t b = cp < 0 ? -1 : unicode_to_byte(uint32_t(cp));
      all_mapped = b >= 0;
      out.push_back(char(b));
      i += len;
    }
    bytes_[id] = all_mapped ? out : t;
  }
  added_index_.assign(2 * 256, {});
  for (size_t i = 0; i < added_.size(); ++i) {
    Added& a = added_[i];
    special_[size_t(a.id)] = a.special;
    // tokenizers matches a "normalized" added token by its normalized form
    a.match = nfc_ && a.normalized ? nfc(a.content) : a.content;
    added_index_[(a.normalized ? 256 : 0) + uint8_t(a.match[0])].push_back(int32_t(i));
  }
  if (!prefix_ids_.empty()) bos_ = prefix_ids_.front();
  for (const char* name : {"<|begin_of_text|>", "<s>", "<|startoftext|>", "<|endoftext|>"}) {
    if (bos_ < 0) bos_ = token_id(name);
  }
  for (const char* name : {"<|end_of_text|>", "</s>", "<|endoftext|>"}) {
    if (eos_ < 0) eos_ = token_id(name);
  }
}

int32_t ByteBpe::token_id(std::string_view token) const {
  for (const Added& a : added_) {
    if (a.content == token) return a.id;
  }
  auto it = vocab_.find(std::string(token));
  return it == vocab_.end() ? -1 : it->second;
}

const std::string& ByteBpe::token(int32_t id) const {
  SRA_CHECK(id >= 0 && id < vocab_size() && used_[size_t(id)], "[tokenizer] ", name_, ": id ", id,
            id >= 0 && id < vocab_size() ? " has no token" : " is out of range for vocab size ",
            vocab_size());
  return tokens_[size_t(id)];
}

bool ByteBpe::is_special(int32_t id) const {
  return id >= 0 && id < vocab_size() && special_[size_t(id)];
}

std::string ByteBpe::describe() const {
  std::string pre;
  for (SplitPattern p : splits_) pre += std::string("Split(") + split_pattern_name(p) + ") + ";
  pre += byte_level_regex_ ? "ByteLevel(gpt2)" : "ByteLevel";
  std::string out = "byte-level BPE, " + std::to_string(vocab_size()) + " ids (" +
                    std::to_string(added_.size()) + " added), " + std::to_string(merge_count_) +
                    " merges, pre-tokenizer " + pre;
  if (nfc_) out += std::string(", normalizer NFC (Unicode ") + unicode_nfc_version() + ")";
  if (add_prefix_space_) out += ", add_prefix_space";
  if (ignore_merges_) out += ", ignore_merges";
  return out;
}

// ---- encoding ----------------------------------------------------------------------------------

std::vector<BpeSpan> ByteBpe::encode(std::string_view text, bool add_special) const {
  std::vector<BpeSpan> out;
  if (add_special) {
    for (int32_t id : prefix_ids_) out.push_back(BpeSpan{id, 0, 0});
  }
  split_added(text, 0, text.size(), false, out);
  if (add_special) {
    const int64_t n = int64_t(text.size());
    for (int32_t id : suffix_ids_) out.push_back(BpeSpan{id, n, n});
  }
  return out;
}

std::vector<int32_t> ByteBpe::encode_ids(std::string_view text, bool add_special) const {
  std::vector<BpeSpan> spans = encode(text, add_special);
  std::vector<int32_t> ids(spans.size());
  for (size_t i = 0; i < spans.size(); ++i) ids[i] = spans[i].id;
  return ids;
}

// Added tokens in text[begin, end): the leftmost match, the longest there (tokenizers' aho-corasick,
// LeftmostLongest). The first pass (normalized_pass false) hands what lies between its matches to the
// normalizer and the second pass, which hands it to the pre-tokenizer and the model.
void ByteBpe::split_added(std::string_view text, size_t begin, size_t end, bool normalized_pass,
                          std::vector<BpeSpan>& out) const {
  auto rest = [&](size_t b, size_t e) {
    if (b >= e) return;
    if (normalized_pass) {
      encode_segment(text, b, e, out);
    } else if (nfc_) {
      split_normalized(text, b, e, out);
    } else {
      split_added(text, b, e, true, out);
    }
  };
  const size_t base = normalized_pass ? 256 : 0;
  size_t gap = begin;
  for (size_t i = begin; i < end;) {
    const Added* best = nullptr;
    for (int32_t k : added_index_[base + uint8_t(text[i])]) {
      const Added& a = added_[size_t(k)];
      if (a.match.size() <= end - i && text.compare(i, a.match.size(), a.match) == 0 &&
          (!best || a.match.size() > best->match.size()))
        best = &a;
    }
    if (!best) {
      ++i;
      continue;
    }
    rest(gap, i);
    out.push_back(BpeSpan{best->id, int64_t(i), int64_t(i + best->match.size())});
    i += best->match.size();
    gap = i;
  }
  rest(gap, end);
}

// The NFC normalizer on text[begin, end), a stretch between added tokens that are not normalized (tokenizers
// normalizes each such stretch on its own), then the second pass of split_added on its NFC form, with the
// tokens' offsets mapped back to the input. A stretch already in NFC is not copied.
void ByteBpe::split_normalized(std::string_view text, size_t begin, size_t end,
                               std::vector<BpeSpan>& out) const {
  std::string normal;
  std::vector<NfcEdit> edits;
  if (!nfc_normalize(text.substr(begin, end - begin), normal, &edits))
    return split_added(text, begin, end, true, out);
  const size_t first = out.size();
  split_added(normal, 0, normal.size(), true, out);
  for (size_t k = first; k < out.size(); ++k) {
    out[k].begin = int64_t(begin + nfc_input_offset(edits, size_t(out[k].begin), false));
    out[k].end = int64_t(begin + nfc_input_offset(edits, size_t(out[k].end), true));
  }
}

// Pre-tokenizes text[begin, end) and encodes each piece.
void ByteBpe::encode_segment(std::string_view text, size_t begin, size_t end,
                             std::vector<BpeSpan>& out) const {
  std::vector<std::pair<size_t, size_t>> pieces = {{begin, end}};
  for (SplitPattern p : splits_) {
    std::vector<std::pair<size_t, size_t>> next;
    for (const auto& [b, e] : pieces) {
      for (const auto& [pb, pe] : split_pieces(p, text.substr(b, e - b))) next.emplace_back(b + pb, b + pe);
    }
    pieces = std::move(next);
  }
  std::string buf;
  for (const auto& [b, e] : pieces) {
    std::string_view piece = text.substr(b, e - b);
    // ByteLevel's add_prefix_space: a space before each piece that does not start with one. It covers no
    // input byte: the first token's span starts at the piece.
    const bool prefixed = add_prefix_space_ && piece.front() != ' ';
    if (prefixed) {
      buf.clear();
      buf.push_back(' ');
      buf.append(piece);
      piece = buf;
    }
    const int64_t origin = int64_t(b) - (prefixed ? 1 : 0);
    const size_t first = out.size();
    if (byte_level_regex_) {
      for (const auto& [pb, pe] : split_pieces(SplitPattern::kGpt2, piece))
        encode_piece(piece.substr(pb, pe - pb), origin + int64_t(pb), out);
    } else {
      encode_piece(piece, origin, out);
    }
    for (size_t k = first; k < out.size(); ++k) out[k].begin = std::max(out[k].begin, int64_t(b));
  }
}

// One pre-token's bytes (origin: the input offset of bytes[0]) through the model.
void ByteBpe::encode_piece(std::string_view bytes, int64_t origin, std::vector<BpeSpan>& out) const {
  if (bytes.empty()) return;
  const int64_t n = int64_t(bytes.size());
  if (ignore_merges_) {
    auto it = vocab_.find(byte_level_text(bytes));
    if (it != vocab_.end()) {
      out.push_back(BpeSpan{it->second, origin, origin + n});
      return;
    }
  }
  std::vector<BpeSpan> word;
  word.reserve(bytes.size());
  BpeSpan unk{-1, 0, 0};  // pending unk_token (tokenizers fuses runs of them when fuse_unk)
  for (int64_t k = 0; k < n; ++k) {
    const int32_t id = byte_id_[uint8_t(bytes[size_t(k)])];
    if (id >= 0) {
      if (unk.id >= 0) word.push_back(unk);
      unk.id = -1;
      word.push_back(BpeSpan{id, origin + k, origin + k + 1});
    } else if (unk_ >= 0) {
      if (unk.id >= 0 && fuse_unk_) {
        unk.end = origin + k + 1;
      } else {
        if (unk.id >= 0) word.push_back(unk);
        unk = BpeSpan{unk_, origin + k, origin + k + 1};
      }
    }  // else dropped, as tokenizers does without an unk_token
  }
  if (unk.id >= 0) word.push_back(unk);
  merge_word(word);
  out.insert(out.end(), word.begin(), word.end());
}

const ByteBpe::Merge* ByteBpe::find_merge(int32_t a, int32_t b) const {
  auto it = merges_.find(pair_key(a, b));
  return it == merges_.end() ? nullptr : &it->second;
}

// tokenizers' Word::merge_all: a queue of candidate merges ordered by rank, then position; a popped
// candidate whose symbols have changed since it was queued is skipped.
void ByteBpe::merge_word(std::vector<BpeSpan>& word) const {
  const int32_t n = int32_t(word.size());
  if (n < 2) return;
  struct Candidate {
    int32_t rank, pos, id;
    bool operator<(const Candidate& o) const {  // the queue's top: lowest rank, then lowest position
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  std::vector<int32_t> prev(static_cast<size_t>(n)), next(static_cast<size_t>(n));
  std::vector<uint8_t> dead(static_cast<size_t>(n), 0);
  std::priority_queue<Candidate> queue;
  for (int32_t i = 0; i < n; ++i) {
    prev[size_t(i)] = i - 1;
    next[size_t(i)] = i + 1 < n ? i + 1 : -1;
    if (i + 1 < n) {
      if (const Merge* m = find_merge(word[size_t(i)].id, word[size_t(i + 1)].id))
        queue.push(Candidate{m->rank, i, m->id});
    }
  }
  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    const size_t p = size_t(top.pos);
    if (dead[p] || next[p] < 0) continue;
    const size_t q = size_t(next[p]);
    const Merge* m = find_merge(word[p].id, word[q].id);
    if (!m || m->id != top.id) continue;
    word[p].id = top.id;
    word[p].end = word[q].end;
    dead[q] = 1;
    next[p] = next[q];
    if (next[q] >= 0) prev[size_t(next[q])] = int32_t(p);
    if (prev[p] >= 0) {
      if (const Merge* l = find_merge(word[size_t(prev[p])].id, word[p].id))
        queue.push(Candidate{l->rank, prev[p], l->id});
    }
    if (next[p] >= 0) {
      if (const Merge* r = find_merge(word[p].id, word[size_t(next[p])].id))
        queue.push(Candidate{r->rank, int32_t(p), r->id});
    }
  }
  size_t w = 0;
  for (size_t i = 0; i < size_t(n); ++i) {
    if (!dead[i]) word[w++] = word[i];
  }
  word.resize(w);
}

// ---- decoding ----------------------------------------------------------------------------------

std::string ByteBpe::decode(const std::vector<int32_t>& ids, bool skip_special) const {
  std::string out;
  for (size_t i = 0; i < ids.size(); ++i) {
    const int32_t id = ids[i];
    SRA_CHECK(id >= 0 && id < vocab_size(), "[tokenizer] decode: id ", id, " at position ", i,
              " is out of range for vocab size ", vocab_size());
    SRA_CHECK(used_[size_t(id)], "[tokenizer] decode: id ", id, " at position ", i, " has no token in ",
              name_);
    if (skip_special && special_[size_t(id)]) continue;
    out += bytes_[size_t(id)];
  }
  return out;
}

}  // namespace sra
