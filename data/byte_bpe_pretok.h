// The pre-tokenisation of byte-level BPE (Hugging Face tokenizers' Split and ByteLevel pre-tokenizers),
// with the regular expressions they use written out as hand-made matchers (no regex engine):
//   kGpt2    ByteLevel(use_regex=true) and GPT-2's tokenizer.json:
//            's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//   kLlama3  Llama 3's Split pattern:
//            (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
//            \s*[\r\n]+|\s+(?!\S)|\s+
//   kQwen2   the same with \p{N} (one digit per piece) in place of \p{N}{1,3}.
// Matching follows the regex engine (Oniguruma): at each position the first alternative that matches
// wins, each with its greedy quantifiers and their backtracking, e.g. \s+(?!\S) before a word leaves the
// run's last whitespace character to the next piece. \s, \p{L}, \p{N}: data/unicode_classes.h. The (?i:)
// contractions also match capitals and U+017F (long s, which case-folds to s). Text is read as UTF-8; a
// byte that does not start a valid sequence is one character of its own that is none of \s, \p{L}, \p{N}.
//   split_pattern_of(regex)       — which pattern a tokenizer.json regex string is (nullopt: none we know).
//   split_pieces(pattern, text)   — the byte ranges [begin, end) of the pieces, in order; they tile the
//                                   text (Split's "Isolated" behaviour: matches and the gaps between them).
//   byte_to_unicode(b) / unicode_to_byte(cp) — GPT-2's bytes_to_unicode table (printable bytes map to
//                                   themselves, the other 68 to U+0100..U+0143); -1 for a code point that
//                                   no byte maps to.
//   utf8_decode(s, i, &len)       — the code point at s[i] and its length (an invalid byte: -1, length 1).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sra {

enum class SplitPattern { kGpt2, kLlama3, kQwen2 };

const char* split_pattern_name(SplitPattern p);  // "gpt2", "llama3", "qwen2"
std::optional<SplitPattern> split_pattern_of(std::string_view regex);
std::vector<std::pair<size_t, size_t>> split_pieces(SplitPattern p, std::string_view text);

uint32_t byte_to_unicode(uint8_t b);
int32_t unicode_to_byte(uint32_t cp);
int32_t utf8_decode(std::string_view s, size_t i, size_t* len);
void utf8_append(std::string& out, uint32_t cp);

}  // namespace sra
