// Training examples: a prompt and a target, as text and as tokens with a loss mask.
//   tokenize_example(tok, ex) → ids  = [BOS] encode(prompt) encode(target) [EOS]
//                               mask =   0   0 ... 0        1 ... 1          1
//   mask[i] = 1 marks token i as a training target (predicted from tokens 0..i-1): the target's tokens
//   and the closing EOS, so the model learns to stop. Prompt and target are encoded separately, so the
//   prompt/target boundary is a token boundary.
//   critical: when ex.critical lists byte spans of the prompt (synthetic problems: the assignments on
//   the reasoning chain), critical[i] = 1 for each prompt token whose bytes overlap one of them; else
//   it is left empty. A token with an empty byte range (the leading byte-fallback pieces of a
//   multi-byte character) takes the range of the next token.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/tokenizer.h"

namespace sra {

// Bytes [begin, end) of a string.
struct TextSpan {
  int64_t begin = 0;
  int64_t end = 0;
  bool operator==(const TextSpan& o) const { return begin == o.begin && end == o.end; }
};

struct TextExample {
  std::string prompt;
  std::string target;
  std::string answer;              // the final answer alone (GSM8K: after "####"; MATH: "answer")
  std::vector<TextSpan> critical;  // byte spans of `prompt`; empty for GSM8K / MATH
};

struct TokenizedExample {
  std::vector<int32_t> ids;
  std::vector<uint8_t> mask;      // same length as ids; 0 or 1
  std::vector<uint8_t> critical;  // empty, or same length as ids
};

TokenizedExample tokenize_example(const Tokenizer& tok, const TextExample& ex);

// For each token of `tokens` (from encode_with_offsets), 1 when its bytes overlap one of `spans`.
std::vector<uint8_t> tokens_overlapping(const std::vector<TokenSpan>& tokens,
                                        const std::vector<TextSpan>& spans);

}  // namespace sra
