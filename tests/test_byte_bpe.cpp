// Tests for data/byte_bpe (Hugging Face tokenizer.json byte-level BPE): the GPT-2 / Llama 3 / Qwen2
// pre-tokenisation matchers on tricky strings (contractions, digits, runs of spaces, newlines, unicode
// letters, emoji, invalid UTF-8), the \p{L} / \p{N} / \s tables, ids computed by hand for the fixture
// tests/fixtures/bpe/tokenizer.json (256 byte tokens, 9 merges, "hello" reachable only through
// ignore_merges, Llama 3's Split + ByteLevel, added and special tokens, a TemplateProcessing BOS),
// the GPT-2 form (ByteLevel with its regex and add_prefix_space), decode(encode(x)) == x, byte offsets,
// the Tokenizer wrapper (file, directory, checkpoint bytes), errors naming the JSON key, and the NFC
// normalizer (the NFC fixture's texts encode as their NFC form; added tokens; offsets into the input).
// Equality with the tokenizers library itself: tools/bpe_parity.py (on a machine that has it).
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/json.h"
#include "data/byte_bpe.h"
#include "data/tokenizer.h"
#include "data/unicode_classes.h"
#include "data_test_util.h"
#include "run/model_io.h"

using namespace sra;
using sra::testing::error_of;
using sra::testing::slurp;
using sra::testing::temp_dir;
using sra::testing::write_text;

namespace {

std::string fixture_path() {
  std::string local = "tests/fixtures/bpe/tokenizer.json";
  if (std::filesystem::exists(local)) return local;
  return std::string(SRA_SOURCE_DIR) + "/" + local;
}

const std::string& fixture_text() {
  static const std::string text = slurp(fixture_path());
  return text;
}

// (input, its NFC form) from tests/fixtures/nfc/nfc_cases.jsonl (Python's unicodedata; its first line
// names the Unicode version). tests/test_unicode_nfc.cpp checks data/unicode_nfc against the same file.
std::vector<std::pair<std::string, std::string>> nfc_fixture() {
  std::string path = "tests/fixtures/nfc/nfc_cases.jsonl";
  if (!std::filesystem::exists(path)) path = std::string(SRA_SOURCE_DIR) + "/" + path;
  const std::string text = slurp(path);
  std::vector<std::pair<std::string, std::string>> out;
  for (size_t pos = text.find('\n') + 1; pos < text.size();) {
    const size_t nl = std::min(text.find('\n', pos), text.size());
    const Json j = Json::parse(std::string_view(text).substr(pos, nl - pos));
    out.emplace_back(j["in"].as_string(), j["nfc"].as_string());
    pos = nl + 1;
  }
  return out;
}

// The fixture with `edit` applied to its JSON.
std::string variant(const std::function<void(Json&)>& edit) {
  Json j = Json::parse(fixture_text());
  edit(j);
  return j.dump();
}

std::shared_ptr<const ByteBpe> parse(const std::string& text) {
  return ByteBpe::parse(text, "tok.json");
}

// GPT-2's form: ByteLevel alone, with its regex (and add_prefix_space as given).
std::string gpt2_variant(bool add_prefix_space) {
  return variant([&](Json& j) {
    j["pre_tokenizer"] = Json::object({{"type", "ByteLevel"},
                                       {"add_prefix_space", add_prefix_space},
                                       {"trim_offsets", true},
                                       {"use_regex", true}});
  });
}

std::vector<std::string> pieces(SplitPattern p, std::string_view text) {
  std::vector<std::string> out;
  for (const auto& [b, e] : split_pieces(p, text)) out.emplace_back(text.substr(b, e - b));
  return out;
}

using Pieces = std::vector<std::string>;
constexpr SplitPattern kGpt2 = SplitPattern::kGpt2, kLlama3 = SplitPattern::kLlama3,
                       kQwen2 = SplitPattern::kQwen2;

const std::vector<std::string>& tricky_texts() {
  static const std::vector<std::string> texts = {
      "",
      "Hello world",
      "I'm sure they'll say it's 'quoted' and DON'T",
      "12345 + 6 = 12351, 1,000,000.5",
      "a   b    c  ",
      "line one\nline two\n\n\nafter blank lines\r\nwindows \n  indented",
      "\ttab\t\tand trailing\t",
      "caf\xc3\xa9 na\xc3\xafve \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e "
      "\xce\x95\xce\xbb\xce\xbb\xce\xb7\xce\xbd\xce\xb9\xce\xba\xce\xac",
      "emoji \xf0\x9f\x98\x80\xf0\x9f\x98\x80! \xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd ok",
      "nbsp\xc2\xa0word ideographic\xe3\x80\x80space",
      "<|begin_of_text|>hello<|end_of_text|> <tool>x<tool>",
      "invalid \xff\xfe bytes \xc3 cut",
      "$\\frac{1}{2}$ {[()]} <<48/2=24>> ~`!@#%^&*_|",
  };
  return texts;
}

}  // namespace

TEST_CASE("byte_bpe: unicode classes (letters, numbers, whitespace)") {
  CHECK(unicode_is_letter('a'));
  CHECK(unicode_is_letter('Z'));
  CHECK(!unicode_is_letter('1'));
  CHECK(!unicode_is_letter('_'));
  CHECK(unicode_is_letter(0xE9));      // é
  CHECK(unicode_is_letter(0x65E5));    // 日
  CHECK(unicode_is_letter(0x3B1));     // α
  CHECK(unicode_is_letter(0x2B0));     // ʰ (Lm)
  CHECK(!unicode_is_letter(0x1F600));  // 😀 (So)
  CHECK(!unicode_is_letter(0x301));    // combining acute (Mn)
  CHECK(unicode_is_number('7'));
  CHECK(unicode_is_number(0xB2));    // ² (No)
  CHECK(unicode_is_number(0x2163));  // Ⅳ (Nl)
  CHECK(unicode_is_number(0x664));   // Arabic-Indic four (Nd)
  CHECK(!unicode_is_number('x'));
  CHECK(unicode_is_whitespace(' '));
  CHECK(unicode_is_whitespace('\n'));
  CHECK(unicode_is_whitespace(0x0B));
  CHECK(unicode_is_whitespace(0xA0));
  CHECK(unicode_is_whitespace(0x3000));
  CHECK(unicode_is_whitespace(0x85));
  CHECK(!unicode_is_whitespace(0x1C));  // Python's isspace() says yes; Oniguruma's \s says no
  CHECK(!unicode_is_whitespace(0x200B));
  CHECK(std::string(unicode_classes_version()).size() >= 4);
}

TEST_CASE("byte_bpe: GPT-2's bytes_to_unicode table") {
  CHECK(byte_to_unicode('!') == '!');
  CHECK(byte_to_unicode(' ') == 0x120);   // Ġ
  CHECK(byte_to_unicode('\n') == 0x10A);  // Ċ
  CHECK(byte_to_unicode(0) == 0x100);
  CHECK(byte_to_unicode(0xAD) == 0x143);
  CHECK(byte_to_unicode(0xE9) == 0xE9);
  for (int b = 0; b < 256; ++b) REQUIRE(unicode_to_byte(byte_to_unicode(uint8_t(b))) == b);
  CHECK(unicode_to_byte(0x144) == -1);
  CHECK(unicode_to_byte(0x20) == -1);  // space is not its own character
}

TEST_CASE("byte_bpe: the recognised Split patterns") {
  CHECK(split_pattern_of(R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)") ==
        kGpt2);
  CHECK(
      split_pattern_of(
          R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)") ==
      kLlama3);
  CHECK(
      split_pattern_of(
          R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)") ==
      kQwen2);
  CHECK(!split_pattern_of(R"(\w+|\s+)"));
}

TEST_CASE("byte_bpe: Llama 3 pre-tokenisation of tricky strings") {
  CHECK(pieces(kLlama3, "Hello world") == Pieces{"Hello", " world"});
  CHECK(pieces(kLlama3, "I'm they'll DON'T") == Pieces{"I", "'m", " they", "'ll", " DON", "'T"});
  CHECK(pieces(kLlama3, "'hello") == Pieces{"'hello"});                    // [^\r\n\p{L}\p{N}]?\p{L}+
  CHECK(pieces(kLlama3, "x'\xc5\xbfy") == Pieces{"x", "'\xc5\xbf", "y"});  // 'ſ case-folds to 's
  CHECK(pieces(kLlama3, "12345") == Pieces{"123", "45"});
  CHECK(pieces(kLlama3, "a 2024") == Pieces{"a", " ", "202", "4"});
  CHECK(pieces(kLlama3, "a   b") == Pieces{"a", "  ", " b"});  // \s+(?!\S) leaves one space
  CHECK(pieces(kLlama3, "a  ") == Pieces{"a", "  "});
  CHECK(pieces(kLlama3, "a\n\nb") == Pieces{"a", "\n\n", "b"});
  CHECK(pieces(kLlama3, "a \n  b") == Pieces{"a", " \n", " ", " b"});  // \s*[\r\n]+ stops at the last \n
  CHECK(pieces(kLlama3, "x.\n\ny") == Pieces{"x", ".\n\n", "y"});      // punctuation takes the newlines
  CHECK(pieces(kLlama3, "Hello, world!!") == Pieces{"Hello", ",", " world", "!!"});
  CHECK(pieces(kLlama3, "\tfoo") == Pieces{"\tfoo"});
  CHECK(pieces(kLlama3, "\nfoo") == Pieces{"\n", "foo"});
  CHECK(pieces(kLlama3, "na\xc3\xafve caf\xc3\xa9") == Pieces{"na\xc3\xafve", " caf\xc3\xa9"});
  CHECK(pieces(kLlama3, "\xe6\x97\xa5\xe6\x9c\xac") == Pieces{"\xe6\x97\xa5\xe6\x9c\xac"});
  CHECK(pieces(kLlama3, "hi \xf0\x9f\x98\x80\xf0\x9f\x98\x80!") ==
        Pieces{"hi", " \xf0\x9f\x98\x80\xf0\x9f\x98\x80!"});
  CHECK(pieces(kLlama3,
               "a\xc2\xa0"
               "b") == Pieces{"a",
                              "\xc2\xa0"
                              "b"});                                     // NBSP is \s, and not a letter
  CHECK(pieces(kLlama3, "x\xff\xfey") == Pieces{"x", "\xff\xfe", "y"});  // invalid bytes: other characters
}

TEST_CASE("byte_bpe: Qwen2 and GPT-2 pre-tokenisation") {
  CHECK(pieces(kQwen2, "12345") == Pieces{"1", "2", "3", "4", "5"});
  CHECK(pieces(kQwen2, "I'M 42") == Pieces{"I", "'M", " ", "4", "2"});
  CHECK(pieces(kGpt2, "12345 abc 123") == Pieces{"12345", " abc", " 123"});
  CHECK(pieces(kGpt2, "I'm I'M") == Pieces{"I", "'m", " I", "'", "M"});  // case-sensitive contractions
  CHECK(pieces(kGpt2, "'hello") == Pieces{"'", "hello"});
  CHECK(pieces(kGpt2, "a\n\nb") == Pieces{"a", "\n", "\n", "b"});
  CHECK(pieces(kGpt2, "a   b  ") == Pieces{"a", "  ", " b", "  "});
  CHECK(pieces(kGpt2, "\tfoo") == Pieces{"\t", "foo"});
  CHECK(pieces(kGpt2, "Hello, world!!") == Pieces{"Hello", ",", " world", "!!"});
}

TEST_CASE("byte_bpe: the pieces tile any input") {
  std::vector<std::string> texts = tricky_texts();
  std::string all_bytes;
  for (int b = 0; b < 256; ++b) all_bytes.push_back(char(b));
  texts.push_back(all_bytes);
  for (SplitPattern p : {kGpt2, kLlama3, kQwen2}) {
    for (const std::string& t : texts) {
      std::string joined;
      for (const std::string& s : pieces(p, t)) {
        CHECK(!s.empty());
        joined += s;
      }
      CHECK(joined == t);
    }
  }
}

TEST_CASE("byte_bpe: fixture ids computed by hand") {
  auto bpe = parse(fixture_text());
  CHECK(bpe->vocab_size() == 269);
  CHECK(bpe->bos_id() == 266);
  CHECK(bpe->eos_id() == 267);
  CHECK(bpe->unk_id() == -1);
  CHECK(bpe->token(256) == "he");
  CHECK(bpe->token(32) == "\xc4\xa0");  // Ġ
  CHECK(bpe->token_id("<tool>") == 268);
  CHECK(bpe->is_special(266));
  CHECK(!bpe->is_special(268));
  // "the" + " hello": t h e -> t he; Ġ h e l l o -> h e first (rank 0), then l l (rank 3); e l (rank 5)
  // is stale by then.
  CHECK(bpe->encode_ids("the hello") == std::vector<int32_t>{116, 256, 32, 256, 259, 111});
  CHECK(bpe->encode_ids("hello") == std::vector<int32_t>{265});  // ignore_merges: in the vocab
  CHECK(bpe->encode_ids(" the") == std::vector<int32_t>{258});   // h e, then Ġ t, then Ġt he
  CHECK(bpe->encode_ids("hel") == std::vector<int32_t>{256, 'l'});
  CHECK(bpe->encode_ids("12345") == std::vector<int32_t>{263, '4', '5'});
  CHECK(bpe->encode_ids("\n\n") == std::vector<int32_t>{264});
  CHECK(bpe->encode_ids("\xc3\xa9") == std::vector<int32_t>{0xC3, 0xA9});
  CHECK(bpe->encode_ids("<|begin_of_text|>hello<|end_of_text|>") == std::vector<int32_t>{266, 265, 267});
  // A cut special token is ordinary text: "<|" "end" "_of" "_text" "|" under Llama 3's pattern.
  CHECK(bpe->encode_ids("<tool>x<|end_of_text|") ==
        std::vector<int32_t>{268, 'x', '<', '|', 'e', 'n', 'd', '_', 'o', 'f', '_', 't', 'e', 'x', 't', '|'});
  CHECK(bpe->encode_ids("hello", true) == std::vector<int32_t>{266, 265});
  CHECK(bpe->encode_ids("", true) == std::vector<int32_t>{266});
  CHECK(bpe->encode_ids("").empty());
  CHECK(bpe->decode({266, 265, 267}) == "hello");
  CHECK(bpe->decode({266, 265, 267}, false) == "<|begin_of_text|>hello<|end_of_text|>");
  CHECK(bpe->decode({268, 258}) == "<tool> the");
  CHECK(bpe->describe().find("269 ids (3 added), 9 merges, pre-tokenizer Split(llama3) + ByteLevel") !=
        std::string::npos);
}

TEST_CASE("byte_bpe: byte offsets of the tokens") {
  auto bpe = parse(fixture_text());
  std::vector<BpeSpan> s = bpe->encode("the hello");
  REQUIRE(s.size() == 6);
  const int64_t want[6][2] = {{0, 1}, {1, 3}, {3, 4}, {4, 6}, {6, 8}, {8, 9}};
  for (size_t i = 0; i < 6; ++i) {
    CHECK(s[i].begin == want[i][0]);
    CHECK(s[i].end == want[i][1]);
  }
  s = bpe->encode("x<tool>", true);
  REQUIRE(s.size() == 3);
  CHECK((s[0].id == 266 && s[0].begin == 0 && s[0].end == 0));  // the template's BOS covers nothing
  CHECK((s[2].id == 268 && s[2].begin == 1 && s[2].end == 7));
}

TEST_CASE("byte_bpe: without ignore_merges a vocab word is built from merges") {
  auto bpe = parse(variant([](Json& j) { j["model"]["ignore_merges"] = false; }));
  CHECK(bpe->encode_ids("hello") == std::vector<int32_t>{256, 259, 'o'});
}

TEST_CASE("byte_bpe: merges as [a, b] pairs give the same model") {
  auto bpe = parse(variant([](Json& j) {
    Json pairs = Json::array();
    for (const Json& m : j["model"]["merges"].as_array()) {
      const std::string& s = m.as_string();
      pairs.push_back(Json::array({s.substr(0, s.find(' ')), s.substr(s.find(' ') + 1)}));
    }
    j["model"]["merges"] = pairs;
  }));
  CHECK(bpe->encode_ids("the hello 12345\n\n") == parse(fixture_text())->encode_ids("the hello 12345\n\n"));
}

TEST_CASE("byte_bpe: GPT-2's form (ByteLevel with its regex, add_prefix_space)") {
  auto bpe = parse(gpt2_variant(true));
  // " the hello": the leading space is added; " hello" is not a vocab word, so merges apply.
  std::vector<BpeSpan> s = bpe->encode("the hello");
  REQUIRE(s.size() == 5);
  CHECK(s[0].id == 258);
  CHECK((s[0].begin == 0 && s[0].end == 3));
  CHECK(bpe->encode_ids(" the") == std::vector<int32_t>{258});  // already starts with a space
  CHECK(bpe->decode(bpe->encode_ids("the")) == " the");
  auto plain = parse(gpt2_variant(false));
  CHECK(plain->encode_ids("12345") == std::vector<int32_t>{263, '4', '5'});  // one GPT-2 piece
  CHECK(plain->encode_ids("a\n\nb") ==
        std::vector<int32_t>{'a', '\n', '\n', 'b'});                    // two pieces: no ĊĊ merge
  CHECK(plain->encode_ids("a\n\n") == std::vector<int32_t>{'a', 264});  // one piece at the end
}

TEST_CASE("byte_bpe: decode(encode(x)) == x") {
  for (const std::string& json : {fixture_text(), gpt2_variant(false)}) {
    auto bpe = parse(json);
    for (const std::string& t : tricky_texts()) {
      // special tokens are skipped by default; keep them for the texts that hold some
      CHECK(bpe->decode(bpe->encode_ids(t), false) == t);
    }
    std::string all_bytes;
    for (int b = 255; b >= 0; --b) all_bytes.push_back(char(b));
    CHECK(bpe->decode(bpe->encode_ids(all_bytes)) == all_bytes);
  }
}

TEST_CASE("byte_bpe: unk_token (fused or not) and dropped bytes") {
  // 'z' (id 122) leaves the vocab; "zzz" takes its id so that the ids stay as tokenizers expects them.
  auto without = [](Json& j) {
    Json::Object& v = j["model"]["vocab"].as_object();
    v.erase(std::remove_if(v.begin(), v.end(), [](const Json::Member& m) { return m.first == "z"; }),
            v.end());
    v.emplace_back("zzz", 122);
  };
  CHECK(parse(variant(without))->encode_ids("azz") == std::vector<int32_t>{'a'});  // no unk: dropped
  auto unk = parse(variant([&](Json& j) {
    without(j);
    j["model"]["unk_token"] = "!";
  }));
  CHECK(unk->encode_ids("azz") == std::vector<int32_t>{'a', '!', '!'});
  auto fused = parse(variant([&](Json& j) {
    without(j);
    j["model"]["unk_token"] = "!";
    j["model"]["fuse_unk"] = true;
  }));
  CHECK(fused->encode_ids("azz") == std::vector<int32_t>{'a', '!'});
}

TEST_CASE("byte_bpe: Tokenizer loads tokenizer.json from a file, a directory and checkpoint bytes") {
  Tokenizer tok = Tokenizer::load(fixture_path());
  CHECK(std::string(tok.kind()) == "byte-level BPE");
  REQUIRE(tok.byte_bpe() != nullptr);
  CHECK(tok.vocab_size() == 269);
  CHECK(tok.bos_id() == 266);
  CHECK(tok.eos_id() == 267);
  CHECK(tok.pad_id() == -1);
  CHECK(tok.piece(258) == "\xc4\xa0the");
  CHECK(tok.encode("<|begin_of_text|>the hello") == std::vector<int32_t>{266, 116, 256, 32, 256, 259, 111});
  CHECK(tok.decode({266, 258}) == " the");
  CHECK(tok.hash() == hex64(fnv1a64(fixture_text())));
  std::vector<TokenSpan> spans = tok.encode_with_offsets("the hello");
  REQUIRE(spans.size() == 6);
  CHECK((spans[1].begin == 1 && spans[1].end == 3));

  Tokenizer dir = Tokenizer::load(std::filesystem::path(fixture_path()).parent_path().string());
  CHECK(dir.hash() == tok.hash());
  CHECK(dir.encode("the hello") == tok.encode("the hello"));

  Checkpoint ckpt;
  add_tokenizer(ckpt, tok);
  Tokenizer back = checkpoint_tokenizer(ckpt, "x.ckpt", "", "test");
  CHECK(std::string(back.kind()) == "byte-level BPE");
  CHECK(back.hash() == tok.hash());
  CHECK(back.path() == tok.path());
  CHECK(back.encode("12345 the") == tok.encode("12345 the"));
}

TEST_CASE("byte_bpe: bad tokenizer.json files are errors naming the key") {
  auto err = [](const std::function<void(Json&)>& edit) { return error_of([&] { parse(variant(edit)); }); };
  CHECK(error_of([] { parse("{\"model\": "); }).find("[tokenizer] tok.json: not valid JSON: [json]") == 0);
  CHECK(error_of([] { parse("[1]"); }) ==
        "[tokenizer] tok.json: (top level): expected a tokenizer.json object");
  CHECK(err([](Json& j) { j["model"]["type"] = "WordPiece"; }) ==
        "[tokenizer] tok.json: model.type: 'WordPiece' is not supported (only BPE)");
  CHECK(err([](Json& j) { j["model"]["dropout"] = 0.1; }) ==
        "[tokenizer] tok.json: model.dropout: BPE dropout is not supported (set it to null)");
  CHECK(err([](Json& j) { j["model"]["byte_fallback"] = true; }).find("model.byte_fallback: true") !=
        std::string::npos);
  CHECK(err([](Json& j) {
          j["normalizer"] = Json::object({{"type", "NFKC"}});
        }) ==
        "[tokenizer] tok.json: normalizer.type: 'NFKC' is not supported (only null, NFC, or a Sequence of at "
        "most one NFC)");
  CHECK(err([](Json& j) {
          j["pre_tokenizer"] = Json::object({{"type", "Metaspace"}});
        }).find("pre_tokenizer.type: 'Metaspace' is not supported") != std::string::npos);
  CHECK(err([](Json& j) {
          j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "\\w+";
        }).find("pre_tokenizer.pretokenizers[0].pattern.Regex: \"\\\\w+\" is not one of the patterns") !=
        std::string::npos);
  CHECK(err([](Json& j) { j["pre_tokenizer"]["pretokenizers"][0]["behavior"] = "Removed"; }) ==
        "[tokenizer] tok.json: pre_tokenizer.pretokenizers[0].behavior: 'Removed' is not supported (only "
        "Isolated)");
  CHECK(err([](Json& j) { j["decoder"] = nullptr; }) ==
        "[tokenizer] tok.json: decoder: is null; only the ByteLevel decoder is supported");
  CHECK(err([](Json& j) {
          j["truncation"] = Json::object({{"max_length", 5}});
        }) == "[tokenizer] tok.json: truncation: truncation is not supported (set it to null)");
  CHECK(err([](Json& j) { j["model"]["merges"][2] = "Ġt hx"; }) ==
        "[tokenizer] tok.json: model.merges[2]: \"hx\" is not in model.vocab");
  CHECK(err([](Json& j) { j["model"]["merges"][2] = "Ġthe"; }) ==
        "[tokenizer] tok.json: model.merges[2]: \"Ġthe\" is not two tokens separated by a space");
  CHECK(err([](Json& j) { j["model"]["merges"][0] = "l o"; }) ==
        "[tokenizer] tok.json: model.merges[0]: the merged token \"lo\" is not in model.vocab");
  CHECK(err([](Json& j) { j["model"]["vocab"]["he"] = -3; }) ==
        "[tokenizer] tok.json: model.vocab[\"he\"]: id -3 is outside [0, 2^30)");
  CHECK(err([](Json& j) { j["model"]["vocab"]["he"] = 5; }).find("id 5 of \"he\" is also the id of") !=
        std::string::npos);
  CHECK(err([](Json& j) { j["added_tokens"][1]["id"] = 300; }) ==
        "[tokenizer] tok.json: added_tokens[1].id: 300 for \"<|end_of_text|>\", but tokenizers gives it 267 "
        "(the next free id)");
  CHECK(err([](Json& j) { j["added_tokens"][0]["lstrip"] = true; }) ==
        "[tokenizer] tok.json: added_tokens[0].lstrip: true is not supported");
  CHECK(err([](Json& j) {
          j["post_processor"] = Json::object({{"type", "RobertaProcessing"}});
        }).find("post_processor.type: 'RobertaProcessing' is not supported") != std::string::npos);
  CHECK(err([](Json& j) { j.as_object().erase(j.as_object().end() - 1); }) ==
        "[tokenizer] tok.json: model: missing");

  auto dir = temp_dir("byte_bpe_bad");
  write_text(dir / "empty.json", "");
  CHECK(error_of([&] { Tokenizer::load((dir / "empty.json").string()); }) ==
        "[tokenizer] tokenizer.json '" + (dir / "empty.json").string() + "' is empty");
  write_text(dir / "list.json", "[]");
  CHECK(error_of([&] { Tokenizer::load((dir / "list.json").string()); }).find("is not a tokenizer.json") !=
        std::string::npos);
  CHECK(error_of([&] { Tokenizer::load(dir.string()); }) ==
        "[tokenizer] directory '" + dir.string() +
            "' holds no tokenizer.json (give a sentencepiece .model file "
            "or a tokenizer.json)");
  write_text(dir / "tokenizer.json", fixture_text().substr(0, 500));  // truncated
  CHECK(error_of([&] { Tokenizer::load(dir.string()); }).find("not valid JSON") != std::string::npos);
  CHECK(error_of([] { parse(fixture_text())->decode({269}); }) ==
        "[tokenizer] decode: id 269 at position 0 is out of range for vocab size 269");
}

TEST_CASE("byte_bpe: an NFC normalizer encodes the NFC form of the text") {
  auto plain = parse(fixture_text());
  const Json nfc_alone = Json::object({{"type", "NFC"}});
  const Json nfc_seq = Json::object({{"type", "Sequence"}, {"normalizers", Json::array({nfc_alone})}});
  for (const Json& norm : {nfc_alone, nfc_seq}) {
    auto bpe = parse(variant([&](Json& j) { j["normalizer"] = norm; }));
    CHECK(bpe->describe().find(std::string("normalizer NFC (Unicode ") + unicode_nfc_version() + ")") !=
          std::string::npos);
    // NFC leaves these unchanged: ASCII, precomposed letters, CJK, a Hangul syllable, emoji, invalid bytes
    for (const std::string t : {"the hello 12345\n", "caf\xc3\xa9 na\xc3\xafve", "\xe6\x97\xa5\xed\x95\x9c",
                                "\xf0\x9f\x98\x80!", "e\xff\xcc\x81"})
      CHECK(bpe->encode_ids(t) == plain->encode_ids(t));
    // Texts the quick check used to refuse: e + U+0301 (combining acute), U+212B ANGSTROM SIGN, Hangul jamo.
    CHECK(bpe->encode_ids("cafe\xcc\x81") == plain->encode_ids("caf\xc3\xa9"));
    CHECK(bpe->encode_ids("cafe\xcc\x81") != plain->encode_ids("cafe\xcc\x81"));
    CHECK(bpe->encode_ids("\xe2\x84\xab") == std::vector<int32_t>{0xC3, 0x85});
    CHECK(bpe->encode_ids("\xe1\x84\x92\xe1\x85\xa1\xe1\x86\xab") == plain->encode_ids("\xed\x95\x9c"));
    // The NFC fixture's texts: the ids of the expected NFC form, and decode gives that form.
    for (const auto& [in, want] : nfc_fixture()) {
      INFO(in);
      CHECK(bpe->encode_ids(in) == plain->encode_ids(want));
      CHECK(bpe->decode(bpe->encode_ids(in)) == want);
    }
  }
}

TEST_CASE("byte_bpe: NFC keeps added tokens and maps offsets back to the input") {
  auto bpe = parse(variant([](Json& j) {
    j["normalizer"] = Json::object({{"type", "NFC"}});
    j["added_tokens"][2]["content"] = "<to\xcc\x81ol>";  // "normalized": true, so it matches <t\xc3\xb3ol>
  }));
  // Each stretch between tokens that are not normalized is normalized on its own, as in tokenizers: the
  // '>' of <|end_of_text|> does not compose with U+0338 (which would make U+226F) and the token is kept.
  CHECK(bpe->encode_ids("<|end_of_text|>\xcc\xb8") == std::vector<int32_t>{267, 0xCC, 0xB8});
  CHECK(bpe->encode_ids("a>\xcc\xb8") == std::vector<int32_t>{'a', 0xE2, 0x89, 0xAF});
  CHECK(bpe->encode_ids("x<t\xc3\xb3ol>") == std::vector<int32_t>{'x', 268});
  CHECK(bpe->encode_ids("x<to\xcc\x81ol>") == std::vector<int32_t>{'x', 268});
  CHECK(bpe->token(268) == "<to\xcc\x81ol>");
  // "cafe" + U+0301 + "!" is encoded as "caf\xc3\xa9!"; both bytes of U+00E9 cover "e" + U+0301.
  std::vector<BpeSpan> s = bpe->encode("cafe\xcc\x81!");
  REQUIRE(s.size() == 6);
  const int64_t want[6][2] = {{0, 1}, {1, 2}, {2, 3}, {3, 6}, {3, 6}, {6, 7}};
  for (size_t i = 0; i < 6; ++i) {
    CAPTURE(i);
    CHECK(s[i].begin == want[i][0]);
    CHECK(s[i].end == want[i][1]);
  }
  s = bpe->encode("\xe2\x84\xabx<to\xcc\x81ol>");  // U+212B -> U+00C5, and the added token after it
  REQUIRE(s.size() == 4);
  CHECK((s[0].begin == 0 && s[0].end == 3 && s[1].begin == 0 && s[1].end == 3));
  CHECK((s[2].id == 'x' && s[2].begin == 3 && s[2].end == 4));
  CHECK((s[3].id == 268 && s[3].begin == 4 && s[3].end == 12));
}
