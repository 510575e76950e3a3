// Tests for data/tokenizer: unigram and BPE training on ~200 KB of tinyshakespeare (vocab 500 / 400),
// fixed special ids, lossless encode/decode round trips (newlines, runs of spaces, digits, non-ASCII),
// control ids decoding to nothing, byte offsets, the FNV-1a model hash (known vectors, independent
// recomputation, determinism of training), errors for bad options and missing/corrupt model files, and
// issue 22: newlines and other control characters round-trip with and without byte fallback,
// round_trip_problem / corpus_round_trip_problem name the first character that does not survive,
// warn_if_lossy's warning, and `sra tokenizer train`'s check (an error, or a warning with --allow-lossy).
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "cli_test_util.h"
#include "data/tokenizer.h"
#include "data_test_util.h"

using namespace sra;
using sra::testing::error_of;
using sra::testing::Run;
using sra::testing::run_sra;
using sra::testing::slurp;
using sra::testing::temp_dir;
using sra::testing::write_text;

namespace {

const std::vector<std::string>& round_trip_texts() {
  static const std::vector<std::string> texts = {
      "",
      "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n",
      "  leading spaces, trailing spaces   ",
      "Question: Let x3 = 7.  Set y1 to x3 + 5.\nAnswer: 12 \n\n#### 24",
      "tabs\tand\r\nwindows line ends",
      "caf\xc3\xa9, na\xc3\xafve, \xe2\x88\x91 x_i, \xe6\x97\xa5\xe6\x9c\xac, emoji \xf0\x9f\x98\x80",
      "$\\frac{1}{2} + \\boxed{8+4i}$ {[()]} <<48/2=24>> ~`!@#%^&*_|",
  };
  return texts;
}

// A small corpus in the synthetic task's shape: multi-line prompts (written one line each, as
// sentencepiece reads them), tabs, carriage returns, a form feed and one rare character.
std::string prompt_corpus(int lines, const std::string& rare_line) {
  std::string text;
  for (int i = 0; i < lines; ++i) {
    text += "Question: let x" + std::to_string(i % 7) + " = " + std::to_string(i * 37 % 100) +
            ".\tset y to x + 5.\r\n";
    text += "Answer:\n";
    if (i % 50 == 0) text += "\f\n";
    if (i == lines / 2) text += rare_line + "\n";
  }
  return text;
}

std::string train_on(const std::string& text, const std::string& tag, bool byte_fallback, int64_t vocab,
                     double coverage = 1.0) {
  auto dir = temp_dir(tag);
  write_text(dir / "corpus.txt", text);
  TokenizerTrainOptions opt;
  opt.inputs = {(dir / "corpus.txt").string()};
  opt.model_prefix = (dir / "m").string();
  opt.vocab_size = vocab;
  opt.byte_fallback = byte_fallback;
  opt.character_coverage = coverage;
  opt.seed = 7;
  return train_tokenizer(opt);
}

}  // namespace

TEST_CASE("tokenizer: unigram and BPE models have the requested vocab and fixed special ids") {
  for (const std::string* path : {&sra::testing::unigram_model_path(), &sra::testing::bpe_model_path()}) {
    CAPTURE(*path);
    Tokenizer tok = Tokenizer::load(*path);
    CHECK(tok.loaded());
    CHECK(tok.vocab_size() == (*path == sra::testing::unigram_model_path() ? 500 : 400));
    CHECK(tok.pad_id() == 0);
    CHECK(tok.unk_id() == 1);
    CHECK(tok.bos_id() == 2);
    CHECK(tok.eos_id() == 3);
    CHECK(tok.piece(0) == "<pad>");
    CHECK(tok.piece(1) == "<unk>");
    CHECK(tok.piece(2) == "<s>");
    CHECK(tok.piece(3) == "</s>");
    CHECK(tok.piece(4) == "\n");             // the corpus's one control character, a piece of its own
    CHECK(tok.piece(5 + 0x0A) == "<0x0A>");  // byte fallback pieces follow
    CHECK(tok.path() == *path);
  }
}

TEST_CASE("tokenizer: encode/decode round trips exactly and compresses English") {
  for (const std::string* path : {&sra::testing::unigram_model_path(), &sra::testing::bpe_model_path()}) {
    CAPTURE(*path);
    Tokenizer tok = Tokenizer::load(*path);
    for (const std::string& text : round_trip_texts()) {
      CAPTURE(text);
      std::vector<int32_t> ids = tok.encode(text);
      for (int32_t id : ids) {
        CHECK(id >= 0);
        CHECK(id < tok.vocab_size());
        CHECK(id != tok.unk_id());  // byte fallback: nothing is unknown
        CHECK(id != tok.pad_id());
      }
      CHECK(tok.decode(ids) == text);
    }
    CHECK(tok.encode("").empty());
    // Learned pieces: the text of the training sample takes well under one token per byte.
    std::string sample = slurp(sra::testing::shakespeare_sample_path()).substr(0, 20000);
    std::vector<int32_t> ids = tok.encode(sample);
    CHECK(ids.size() < sample.size() * 7 / 10);  // BPE 400 has only 140 learned pieces: ~0.64 per byte
    CHECK(tok.decode(ids) == sample);
  }
}

TEST_CASE("tokenizer: control ids decode to nothing; out-of-range ids are errors") {
  Tokenizer tok = Tokenizer::load(sra::testing::bpe_model_path());
  std::string text = "Speak, speak.";
  std::vector<int32_t> ids = tok.encode(text);
  std::vector<int32_t> framed = {tok.bos_id()};
  framed.insert(framed.end(), ids.begin(), ids.end());
  framed.push_back(tok.eos_id());
  framed.push_back(tok.pad_id());
  framed.push_back(tok.pad_id());
  CHECK(tok.decode(framed) == text);
  CHECK(error_of([&] {
          tok.decode({5, 400});
        }) == "[tokenizer] decode: id 400 at position 1 is out of range for vocab size 400");
  CHECK(error_of([&] { tok.decode({-1}); }) ==
        "[tokenizer] decode: id -1 at position 0 is out of range for vocab size 400");
  CHECK(error_of([&] { tok.piece(1000); }) ==
        "[tokenizer] piece: id 1000 is out of range for vocab size 400");
  Tokenizer empty;
  CHECK_FALSE(empty.loaded());
  CHECK(error_of([&] { empty.encode("x"); }) == "[tokenizer] encode on a tokenizer that was not loaded");
}

TEST_CASE("tokenizer: encode_with_offsets gives the ids of encode and byte ranges that tile the text") {
  Tokenizer tok = Tokenizer::load(sra::testing::unigram_model_path());
  for (const std::string& text : round_trip_texts()) {
    CAPTURE(text);
    std::vector<TokenSpan> spans = tok.encode_with_offsets(text);
    std::vector<int32_t> ids = tok.encode(text);
    REQUIRE(spans.size() == ids.size());
    int64_t covered = 0;
    for (size_t i = 0; i < spans.size(); ++i) {
      CHECK(spans[i].id == ids[i]);
      if (spans[i].end == spans[i].begin) continue;  // leading byte pieces of a multi-byte character
      CHECK(spans[i].begin == covered);
      covered = spans[i].end;
    }
    CHECK(covered == int64_t(text.size()));
  }
}

TEST_CASE("tokenizer: the hash is FNV-1a 64 of the model bytes and training is deterministic") {
  CHECK(fnv1a64("") == 0xcbf29ce484222325ull);
  CHECK(fnv1a64("a") == 0xaf63dc4c8601ec8cull);
  CHECK(fnv1a64("foobar") == 0x85944171f73967e8ull);
  CHECK(hex64(0xaf63dc4c8601ec8cull) == "af63dc4c8601ec8c");
  CHECK(hex64(0x1) == "0000000000000001");

  Tokenizer uni = Tokenizer::load(sra::testing::unigram_model_path());
  Tokenizer bpe = Tokenizer::load(sra::testing::bpe_model_path());
  // Independent recomputation: FNV-1a over the file, byte by byte.
  std::string bytes = slurp(sra::testing::unigram_model_path());
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : bytes) h = (h ^ c) * 1099511628211ull;
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(h));
  CHECK(uni.hash() == std::string(hex));
  CHECK(uni.hash().size() == 16);
  CHECK(uni.hash() != bpe.hash());
  CHECK(Tokenizer::load(sra::testing::unigram_model_path()).hash() == uni.hash());

  // Same options and data, another directory → the same pieces in the same order. (The file, and so the
  // hash, also records the training spec, paths included: copies of one model share a hash, a retrained
  // model elsewhere does not.)
  auto opt =
      sra::testing::small_tokenizer_options("unigram", 500, (temp_dir("spm_again") / "unigram").string());
  Tokenizer again = Tokenizer::load(train_tokenizer(opt));
  REQUIRE(again.vocab_size() == uni.vocab_size());
  for (int32_t id = 0; id < uni.vocab_size(); ++id) REQUIRE(again.piece(id) == uni.piece(id));
  CHECK(again.hash() != uni.hash());
  auto copy = temp_dir("spm_copy") / "copy.model";
  std::filesystem::copy_file(sra::testing::unigram_model_path(), copy);
  CHECK(Tokenizer::load(copy.string()).hash() == uni.hash());
}

TEST_CASE("tokenizer: load errors for missing, empty and corrupt model files") {
  auto dir = temp_dir("spm_bad");
  std::string missing = (dir / "missing.model").string();
  CHECK(error_of([&] { Tokenizer::load(missing); }) ==
        "[tokenizer] cannot read tokenizer model '" + missing + "'");
  write_text(dir / "empty.model", "");
  CHECK(error_of([&] { Tokenizer::load((dir / "empty.model").string()); }) ==
        "[tokenizer] model file '" + (dir / "empty.model").string() + "' is empty");
  write_text(dir / "text.model", "this is a text file, not a model\n");
  std::string msg = error_of([&] { Tokenizer::load((dir / "text.model").string()); });
  CHECK(msg.find("[tokenizer] '" + (dir / "text.model").string() + "' is not a valid sentencepiece model") ==
        0);
  std::string model = slurp(sra::testing::bpe_model_path());
  write_text(dir / "truncated.model", model.substr(0, model.size() / 2));
  msg = error_of([&] { Tokenizer::load((dir / "truncated.model").string()); });
  CHECK(msg.find("is not a valid sentencepiece model") != std::string::npos);
}

TEST_CASE("tokenizer: training errors") {
  auto dir = temp_dir("spm_train_bad");
  auto opt = sra::testing::small_tokenizer_options("wordpiece", 400, (dir / "m").string());
  CHECK(error_of([&] { train_tokenizer(opt); }) ==
        "[tokenizer] model_type must be 'unigram' or 'bpe', got 'wordpiece'");
  opt.model_type = "bpe";
  opt.inputs = {(dir / "nope.txt").string()};
  CHECK(error_of([&] { train_tokenizer(opt); }) ==
        "[tokenizer] cannot read input file '" + (dir / "nope.txt").string() + "'");
  write_text(dir / "empty.txt", "");
  opt.inputs = {(dir / "empty.txt").string()};
  CHECK(error_of([&] { train_tokenizer(opt); }) ==
        "[tokenizer] input file '" + (dir / "empty.txt").string() + "' is empty");
  opt.inputs = {};
  CHECK(error_of([&] { train_tokenizer(opt); }) == "[tokenizer] no input files to train on");
  opt.inputs = {"a,b.txt"};
  CHECK(error_of([&] { train_tokenizer(opt); }) ==
        "[tokenizer] input path 'a,b.txt' contains ',' or whitespace (sentencepiece splits its arguments "
        "there)");
  opt.inputs = {"a b.txt"};
  CHECK(error_of([&] { train_tokenizer(opt); }).find("contains ',' or whitespace") != std::string::npos);
  opt.inputs = {sra::testing::shakespeare_sample_path()};
  opt.model_prefix = (dir / "with space").string();
  CHECK(error_of([&] { train_tokenizer(opt); }).find("contains whitespace") != std::string::npos);
  opt.model_prefix = (dir / "m").string();
  // Too small for 4 specials + 256 byte pieces + the characters: sentencepiece's own message.
  opt.inputs = {sra::testing::shakespeare_sample_path()};
  opt.vocab_size = 100;
  std::string msg = error_of([&] { train_tokenizer(opt); });
  CHECK(msg.find("[tokenizer] training '" + (dir / "m").string() + "' failed: ") == 0);
}

TEST_CASE(
    "tokenizer: newlines, tabs and other control characters round-trip, with and without byte fallback") {
  const std::string corpus = prompt_corpus(400, "caf\xc3\xa9");
  const std::vector<std::string> texts = {"Answer:\nQuestion: x\n",
                                          "Question: let x3 = 7.\tset y to x + 5.\r\n", "\n\n\f\n",
                                          "Answer:\ncaf\xc3\xa9\n"};
  for (bool byte_fallback : {false, true}) {
    CAPTURE(byte_fallback);
    std::string model = train_on(corpus, "spm_newline", byte_fallback, byte_fallback ? 304 : 48);
    Tokenizer tok = Tokenizer::load(model);
    // The corpus's control characters are pieces of their own, in byte order after the specials.
    CHECK(tok.piece(4) == "\t");
    CHECK(tok.piece(5) == "\n");
    CHECK(tok.piece(6) == "\f");
    CHECK(tok.piece(7) == "\r");
    for (const std::string& text : texts) {
      CAPTURE(text);
      std::vector<int32_t> ids = tok.encode(text);
      for (int32_t id : ids) CHECK(id != tok.unk_id());
      CHECK(tok.decode(ids) == text);
    }
    CHECK(tok.encode("\n") == std::vector<int32_t>{5});  // one piece, not <unk> or the byte <0x0A>
    CHECK_FALSE(round_trip_problem(tok, texts).has_value());
    CHECK_FALSE(
        corpus_round_trip_problem(tok, {model.substr(0, model.size() - 7) + "corpus.txt"}).has_value());
  }
}

TEST_CASE("tokenizer: round_trip_problem names the first character that does not survive") {
  CHECK(describe_codepoint('\n') == "U+000A (newline)");
  CHECK(describe_codepoint('\t') == "U+0009 (tab)");
  CHECK(describe_codepoint('\r') == "U+000D (carriage return)");
  CHECK(describe_codepoint(1) == "U+0001 (control)");
  CHECK(describe_codepoint('Z') == "U+005A 'Z'");
  CHECK(describe_codepoint(0xE9) == "U+00E9 '\xc3\xa9'");
  CHECK(describe_codepoint(0x1F600) == "U+1F600 '\xf0\x9f\x98\x80'");
  CHECK(describe_codepoint(-1) == "end of text");
  // A corpus of one line has no newline to learn (what sentencepiece sees of any corpus before this
  // fix): without byte fallback "\n" becomes <unk>, as in the demo's tokenizer (issue 22).
  std::string one_line;
  for (int i = 0; i < 100; ++i) one_line += "Question: what is " + std::to_string(i) + "? Answer: ok. ";
  Tokenizer tok = Tokenizer::load(train_on(one_line, "spm_one_line", false, 34));
  CHECK(tok.decode(tok.encode("Answer:\nQuestion: 1\n")) != "Answer:\nQuestion: 1\n");
  auto p = round_trip_problem(tok, {"Answer: 12", "Question: 3\nAnswer:\nQuestion: 4"});
  REQUIRE(p.has_value());
  CHECK(p->text == 1);
  CHECK(p->byte == 11);
  CHECK(p->line == 1);  // the newline ending line 1
  CHECK(p->codepoint == '\n');
  CHECK(p->describe() == "U+000A (newline) at line 1 of text 1");
  p = round_trip_problem(tok, {"Question: 3 Answer: 4 Zebra"});  // 'Z' is not in that corpus
  REQUIRE(p.has_value());
  CHECK(p->codepoint == 'Z');
  CHECK(p->byte == 22);
  CHECK(p->describe() == "U+005A 'Z' at line 1 of text 0");
  p = round_trip_problem(tok, {"ok", "Answer:\n\u00e9"});
  REQUIRE(p.has_value());
  CHECK(p->codepoint == '\n');  // the first loss, not the later one
  CHECK_FALSE(round_trip_problem(tok, {"", "Question: 5? Answer: ok."}).has_value());
  CHECK_FALSE(round_trip_problem(tok, {}).has_value());
}

TEST_CASE("tokenizer: corpus_round_trip_problem finds a character left out by the coverage, with its line") {
  // One rare character; character_coverage 0.9995 without byte fallback drops it.
  const std::string corpus = prompt_corpus(400, "x \xc3\xaf");
  const int64_t line = 1 + std::count(corpus.begin(), corpus.begin() + corpus.find("x \xc3\xaf"), '\n');
  Tokenizer tok = Tokenizer::load(train_on(corpus, "spm_rare", false, 40, 0.9995));
  std::string file = tok.path().substr(0, tok.path().size() - 7) + "corpus.txt";
  auto p = corpus_round_trip_problem(tok, {file});
  REQUIRE(p.has_value());
  CHECK(p->file == file);
  CHECK(p->codepoint == 0xEF);
  CHECK(p->line == line);
  CHECK(p->line_text == "x \xc3\xaf");
  CHECK(p->describe() ==
        "U+00EF '\xc3\xaf' at " + file + " line " + std::to_string(line) + ": \"x \xc3\xaf\"");
  // Lossless on the rest: the same corpus without that line passes, chunks included.
  std::string rest = corpus;
  rest.erase(rest.find("x \xc3\xaf"), 5);
  write_text(file, rest);
  CHECK_FALSE(corpus_round_trip_problem(tok, {file}).has_value());
  CHECK_FALSE(corpus_round_trip_problem(tok, {file}, 1000).has_value());  // a sample of the chunks
}

TEST_CASE("tokenizer: warn_if_lossy prints one warning naming the tokenizer and the character") {
  std::string one_line;
  for (int i = 0; i < 100; ++i) one_line += "Question: what is " + std::to_string(i) + "? Answer: ok. ";
  Tokenizer lossy = Tokenizer::load(train_on(one_line, "spm_warn", false, 34));
  std::vector<std::string> prompts = {"Question: what is 3?", "Question: what is 4?\nAnswer:"};
  std::ostringstream err;
  CHECK(warn_if_lossy(lossy, prompts, "the dataset's prompts", err));
  CHECK(err.str() ==
        "warning: [tokenizer] '" + lossy.path() +
            "' does not round-trip the dataset's prompts: decode(encode(x)) != x, first at U+000A "
            "(newline), line 1 of text 1 (of 2); the model cannot read or write that character "
            "(retrain it with sra tokenizer train)\n");
  std::ostringstream quiet;
  Tokenizer lossless = Tokenizer::load(sra::testing::unigram_model_path());
  CHECK_FALSE(warn_if_lossy(lossless, prompts, "the dataset's prompts", quiet));
  CHECK(quiet.str().empty());
}

TEST_CASE("tokenizer: sra tokenizer train fails on a lossy model, or warns with --allow-lossy") {
  auto dir = temp_dir("spm_cli_lossy");
  const std::string corpus = prompt_corpus(400, "x \xc3\xaf");
  const int64_t line = 1 + std::count(corpus.begin(), corpus.begin() + corpus.find("x \xc3\xaf"), '\n');
  write_text(dir / "corpus.txt", corpus);
  std::vector<std::string> args = {"tokenizer",
                                   "train",
                                   "--input",
                                   (dir / "corpus.txt").string(),
                                   "--vocab-size",
                                   "40",
                                   "--no-byte-fallback",
                                   "--character-coverage",
                                   "0.9995",
                                   "--out",
                                   (dir / "m").string()};
  Run r = run_sra(args);
  INFO(r.out, r.err);
  CHECK(r.rc == 1);
  CHECK(r.err.find(
            "error: [tokenizer] " + (dir / "m").string() +
            ".model does not round-trip its corpus: decode(encode(x)) != x, first at U+00EF '\xc3\xaf' at " +
            (dir / "corpus.txt").string() + " line " + std::to_string(line) + ": \"x \xc3\xaf\"") !=
        std::string::npos);
  args.push_back("--allow-lossy");
  Run w = run_sra(args);
  INFO(w.out, w.err);
  CHECK(w.rc == 0);
  CHECK(w.err.find("warning: [tokenizer] ") != std::string::npos);
  CHECK(w.err.find("U+00EF") != std::string::npos);
  // Without --character-coverage, --no-byte-fallback keeps every character: the check passes.
  args.pop_back();
  args.erase(args.begin() + 7, args.begin() + 9);
  Run ok = run_sra(args);
  INFO(ok.out, ok.err);
  CHECK(ok.rc == 0);
  CHECK(ok.out.find("round trip: decode(encode(x)) == x") != std::string::npos);
  CHECK(ok.err.find("warning") == std::string::npos);
}
