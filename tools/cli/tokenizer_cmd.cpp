// `sra tokenizer encode` and `sra tokenizer decode`: any tokenizer Tokenizer::load reads (a sentencepiece
// .model, a Hugging Face tokenizer.json or a directory holding one).
//   encode  — --text S, --file F (the whole file as one text; with --lines each line, without its '\n',
//             is one text) or --jsonl F (each line a JSON string, one text each). Prints one line per
//             text: the ids, comma-separated (what decode --ids reads), or with --json {"ids":[...]}.
//             --add-special applies a tokenizer.json's post_processor (e.g. Llama 3's BOS).
//   decode  — --ids 1,2,3: writes the decoded text's bytes (no newline added), or with --json
//             {"text":"..."}; special tokens are skipped unless --keep-special (tokenizer.json only).
// Usage errors (bad or conflicting flags, a malformed --ids or --jsonl line) exit 2; failures while
// running (an unreadable tokenizer or file, an id outside the vocabulary) exit 1.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "core/check.h"
#include "core/json.h"
#include "data/byte_bpe.h"
#include "data/tokenizer.h"
#include "tools/cli/commands.h"

namespace sra::cli {

namespace {

struct TokenizerCodecCli {
  std::string tokenizer;
  std::string text;
  std::string file;
  std::string jsonl;
  std::string ids;
  bool lines = false;
  bool json = false;
  bool add_special = false;
  bool keep_special = false;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  SRA_CHECK(in.good(), "[tokenizer] cannot read '", path, "'");
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The texts to encode, from --text, --file (--lines) or --jsonl.
std::vector<std::string> encode_inputs(const TokenizerCodecCli& o, bool text_given) {
  if (text_given) return {o.text};
  if (!o.file.empty()) {
    std::string all = read_file(o.file);
    if (!o.lines) return {all};
    std::vector<std::string> out;
    for (size_t b = 0; b < all.size();) {
      size_t e = all.find('\n', b);
      if (e == std::string::npos) e = all.size();
      out.push_back(all.substr(b, e - b));
      b = e + 1;
    }
    return out;
  }
  std::string all = read_file(o.jsonl);
  std::vector<std::string> out;
  size_t line = 0;
  for (size_t b = 0; b < all.size(); ++line) {
    size_t e = all.find('\n', b);
    if (e == std::string::npos) e = all.size();
    try {
      Json v = Json::parse(std::string_view(all).substr(b, e - b));
      if (!v.is_string()) throw Error("expected a JSON string");
      out.push_back(v.as_string());
    } catch (const Error& err) {
      throw CLI::ValidationError("--jsonl", o.jsonl + ":" + std::to_string(line + 1) + ": " + err.what());
    }
    b = e + 1;
  }
  return out;
}

int run_encode(const TokenizerCodecCli& o, bool text_given) {
  if (!text_given && o.file.empty() && o.jsonl.empty()) throw CLI::RequiredError("--text, --file or --jsonl");
  if (o.lines && o.file.empty()) throw CLI::ValidationError("--lines", "applies to --file");
  Tokenizer tok = Tokenizer::load(o.tokenizer);
  if (o.add_special && !tok.byte_bpe())
    throw CLI::ValidationError("--add-special",
                               "needs a tokenizer.json ('" + o.tokenizer + "' is " + tok.kind() + ")");
  std::string out;
  for (const std::string& text : encode_inputs(o, text_given)) {
    std::vector<int32_t> ids = o.add_special ? tok.byte_bpe()->encode_ids(text, true) : tok.encode(text);
    out += o.json ? "{\"ids\":[" : "";
    for (size_t i = 0; i < ids.size(); ++i) {
      if (i > 0) out.push_back(',');
      out.append(std::to_string(ids[i]));
    }
    out += o.json ? "]}\n" : "\n";
  }
  std::cout << out << std::flush;
  return 0;
}

std::vector<int32_t> parse_ids(const std::string& s) {
  std::vector<int32_t> ids;
  for (size_t b = 0; b <= s.size();) {
    size_t e = std::min(s.find(',', b), s.size());
    std::string item = s.substr(b, e - b);
    size_t used = 0;
    long long v = -1;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (item.empty() || used != item.size() || v < 0 || v > INT32_MAX)
      throw CLI::ValidationError(
          "--ids", "'" + item + "' is not a token id (a comma-separated list of integers >= 0)");
    ids.push_back(int32_t(v));
    b = e + 1;
  }
  return ids;
}

int run_decode(const TokenizerCodecCli& o) {
  std::vector<int32_t> ids = parse_ids(o.ids);
  Tokenizer tok = Tokenizer::load(o.tokenizer);
  if (o.keep_special && !tok.byte_bpe())
    throw CLI::ValidationError("--keep-special",
                               "needs a tokenizer.json ('" + o.tokenizer + "' is " + tok.kind() + ")");
  std::string text = o.keep_special ? tok.byte_bpe()->decode(ids, false) : tok.decode(ids);
  if (o.json) {
    std::cout << Json::object({{"text", text}}).dump() << "\n";
  } else {
    std::cout << text;
  }
  std::cout << std::flush;
  return 0;
}

}  // namespace

void add_tokenizer_codec(CLI::App& tk) {
  auto o = std::make_shared<TokenizerCodecCli>();
  CLI::App* e = tk.add_subcommand("encode", "Encode text with a tokenizer (.model or tokenizer.json)");
  e->footer(
      "Examples: sra tokenizer encode --tokenizer tok/gsm8k.model --text 'Hello world'\n"
      "          sra tokenizer encode --tokenizer llama3/tokenizer.json --file doc.txt --lines --json\n"
      "Prints one line per text: the ids comma-separated, or {\"ids\":[...]} with --json.");
  e->add_option("--tokenizer", o->tokenizer,
                "sentencepiece .model, tokenizer.json, or a directory holding one")
      ->required();
  auto* text = e->add_option("--text", o->text, "The text to encode");
  auto* file =
      e->add_option("--file", o->file, "Encode this file's bytes (one text, or each line with --lines)");
  auto* jsonl = e->add_option("--jsonl", o->jsonl, "Encode each line of this file, a JSON string");
  text->excludes(file)->excludes(jsonl);
  file->excludes(jsonl);
  e->add_flag("--lines", o->lines, "With --file: each line (without its newline) is a text");
  e->add_flag("--json", o->json, "Print {\"ids\":[...]} per text");
  e->add_flag("--add-special", o->add_special,
              "Apply the tokenizer.json post_processor (its template's special tokens, e.g. BOS)");
  add_command(e, [o, text]() { return run_encode(*o, text->count() > 0); });

  CLI::App* d = tk.add_subcommand("decode", "Decode token ids with a tokenizer (.model or tokenizer.json)");
  d->footer("Example: sra tokenizer decode --tokenizer llama3/tokenizer.json --ids 9906,1917");
  d->add_option("--tokenizer", o->tokenizer,
                "sentencepiece .model, tokenizer.json, or a directory holding one")
      ->required();
  d->add_option("--ids", o->ids, "Comma-separated token ids")->required();
  d->add_flag("--json", o->json, "Print {\"text\":\"...\"} (invalid UTF-8 as U+FFFD)");
  d->add_flag("--keep-special", o->keep_special, "Keep special tokens (tokenizer.json only)");
  add_command(d, [o]() { return run_decode(*o); });
}

}  // namespace sra::cli
