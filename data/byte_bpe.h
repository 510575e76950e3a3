// Byte-level BPE from a Hugging Face tokenizer.json (GPT-2, Llama 3, Qwen2 style), encoding as the
// tokenizers library does:
//   1. added_tokens split the text first (leftmost, then longest, match; those with "normalized": false
//      in a first pass, the others in the remaining text), and each becomes its own id;
//   2. the pre_tokenizer cuts the rest into pieces: Split pre-tokenizers with one of the known patterns
//      (data/byte_bpe_pretok.h; "behavior": "Isolated"), then ByteLevel (optional leading space on each
//      piece, GPT-2's pattern when use_regex) — alone or in a Sequence ending with ByteLevel;
//   3. each piece's bytes become GPT-2's byte characters and the BPE model merges them: lowest merge rank
//      first, the leftmost of equal ranks (tokenizers' Word::merge_all). With "ignore_merges" a piece that
//      is itself in the vocab is one token. A byte whose character is not in the vocab becomes unk_token
//      (fused when fuse_unk), or is dropped when there is none, as in tokenizers.
//   4. with add_special, the post_processor's TemplateProcessing "single" template adds its special
//      tokens (e.g. Llama 3's <|begin_of_text|>) around the ids.
// decode(ids): each token's characters mapped back to bytes (the ByteLevel decoder; a token with a
// character outside the byte table gives its own UTF-8 bytes), concatenated; special added tokens are
// skipped when skip_special (tokenizers' default). Unlike tokenizers, invalid UTF-8 in the result is kept
// as bytes (not replaced by U+FFFD), so decoding token by token and joining gives the same bytes.
// Normalizer: null, or NFC (Qwen2 sets it; data/unicode_nfc.h, Unicode unicode_nfc_version()): as in
// tokenizers, each stretch of text between added tokens that are not "normalized" is put in NFC on its own
// before the "normalized" added tokens, the pre-tokenizer and the model see it (a text already in NFC,
// which the quick check tells, is used as it is), and "normalized" added tokens match by their NFC form.
// Token offsets still refer to the input: a token that begins or ends inside a stretch that NFC changed
// (e.g. "e" + U+0301 became U+00E9) covers the whole stretch. Invalid UTF-8 bytes are kept as they are.
// Refused with "[tokenizer] NAME: <json key> ..." naming the key: a model other than BPE, dropout,
// continuing_subword_prefix / end_of_word_suffix, byte_fallback, another normalizer, a pre_tokenizer or Split
// pattern other than the above, a decoder other than ByteLevel, post_processors other than ByteLevel /
// TemplateProcessing (or a Sequence of them), truncation or padding, added tokens with single_word /
// lstrip / rstrip, merges naming tokens not in the vocab, duplicate or negative ids.
// bos_id: the template's first special token, else the first added token among <|begin_of_text|>, <s>,
// <|startoftext|>, <|endoftext|>; eos_id: <|end_of_text|>, </s>, <|endoftext|>; -1 when none.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "data/byte_bpe_pretok.h"

namespace sra {

class Json;

// One token: its id and the bytes [begin, end) of the input it covers (special tokens from the
// post-processor cover nothing: begin == end).
struct BpeSpan {
  int32_t id = 0;
  int64_t begin = 0;
  int64_t end = 0;
};

class ByteBpe {
 public:
  // Parses tokenizer.json text; `name` (the file) starts every error message.
  static std::shared_ptr<const ByteBpe> parse(std::string_view json_text, const std::string& name);

  std::vector<BpeSpan> encode(std::string_view text, bool add_special = false) const;
  std::vector<int32_t> encode_ids(std::string_view text, bool add_special = false) const;
  std::string decode(const std::vector<int32_t>& ids, bool skip_special = true) const;

  int64_t vocab_size() const { return int64_t(tokens_.size()); }  // the largest id + 1
  const std::string& token(int32_t id) const;                     // the token's text in the file
  int32_t token_id(std::string_view token) const;                 // added tokens first; -1 when none
  bool is_special(int32_t id) const;
  int32_t bos_id() const { return bos_; }
  int32_t eos_id() const { return eos_; }
  int32_t unk_id() const { return unk_; }
  // "byte-level BPE, 128256 ids (256 added), 280147 merges, pre-tokenizer Split(llama3) + ByteLevel,
  // ignore_merges"
  std::string describe() const;

 private:
  struct Added {
    std::string content;
    std::string match;  // what it matches: content, or its NFC form when normalized by an NFC normalizer
    int32_t id = 0;
    bool special = false;
    bool normalized = false;
  };
  struct Merge {
    int32_t rank = 0;
    int32_t id = 0;
  };

  void parse_model(const Json& model);
  void parse_added(const Json& added);
  void parse_pre_tokenizer(const Json& pre);
  void parse_post_processor(const Json& post, const std::string& key);
  void check_id(int64_t id, const std::string& key) const;
  void set_token(int32_t id, const std::string& text, const std::string& key);

  void finish();
  void split_normalized(std::string_view text, size_t begin, size_t end, std::vector<BpeSpan>& out) const;
  void split_added(std::string_view text, size_t begin, size_t end, bool normalized_pass,
                   std::vector<BpeSpan>& out) const;
  void encode_segment(std::string_view text, size_t begin, size_t end, std::vector<BpeSpan>& out) const;
  void encode_piece(std::string_view bytes, int64_t origin, std::vector<BpeSpan>& out) const;
  void merge_word(std::vector<BpeSpan>& word) const;
  const Merge* find_merge(int32_t a, int32_t b) const;

  std::string name_;
  std::unordered_map<std::string, int32_t> vocab_;  // model vocab, keyed by the token's text
  std::vector<std::string> tokens_;                 // id -> text ("" for an unused id)
  std::vector<uint8_t> used_;                       // id -> has a token
  std::vector<std::string> bytes_;                  // id -> decoded bytes
  std::vector<uint8_t> special_;                    // id -> special added token
  std::unordered_map<uint64_t, Merge> merges_;
  int64_t merge_count_ = 0;
  int32_t byte_id_[256] = {};  // id of each byte's character, -1 when not in the vocab
  std::vector<Added> added_;
  std::vector<std::vector<int32_t>> added_index_;  // [pass * 256 + first byte] -> indices into added_
  std::vector<SplitPattern> splits_;
  bool add_prefix_space_ = false;
  bool byte_level_regex_ = true;
  bool ignore_merges_ = false;
  bool nfc_ = false;  // normalizer NFC
  bool fuse_unk_ = false;
  int32_t unk_ = -1;
  int32_t bos_ = -1;
  int32_t eos_ = -1;
  std::vector<int32_t> prefix_ids_, suffix_ids_;  // the template's special tokens around the text
};

}  // namespace sra
