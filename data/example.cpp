// [BOS] prompt target [EOS] with a loss mask on the target, and critical-span → token mapping.
#include "data/example.h"

#include "core/check.h"

namespace sra {

std::vector<uint8_t> tokens_overlapping(const std::vector<TokenSpan>& tokens,
                                        const std::vector<TextSpan>& spans) {
  std::vector<uint8_t> out(tokens.size(), 0);
  int64_t next_begin = -1, next_end = -1;  // range of the nearest non-empty token to the right
  for (size_t k = tokens.size(); k-- > 0;) {
    int64_t b = tokens[k].begin, e = tokens[k].end;
    if (e > b) {
      next_begin = b;
      next_end = e;
    } else if (next_end > next_begin) {
      b = next_begin;
      e = next_end;
    }
    for (const TextSpan& s : spans) {
      if (b < s.end && s.begin < e) {
        out[k] = 1;
        break;
      }
    }
  }
  return out;
}

TokenizedExample tokenize_example(const Tokenizer& tok, const TextExample& ex) {
  SRA_CHECK(tok.bos_id() >= 0 && tok.eos_id() >= 0, "[data] tokenizer '", tok.path(),
            "' has no BOS/EOS ids (train it with train_tokenizer)");
  TokenizedExample out;
  out.ids.push_back(tok.bos_id());
  if (ex.critical.empty()) {
    for (int32_t id : tok.encode(ex.prompt)) out.ids.push_back(id);
  } else {
    for (const TextSpan& s : ex.critical) {
      SRA_CHECK(0 <= s.begin && s.begin <= s.end && s.end <= int64_t(ex.prompt.size()),
                "[data] critical span [", s.begin, ", ", s.end, ") is outside the prompt of ",
                ex.prompt.size(), " bytes");
    }
    std::vector<TokenSpan> spans = tok.encode_with_offsets(ex.prompt);
    std::vector<uint8_t> flags = tokens_overlapping(spans, ex.critical);
    out.critical.push_back(0);
    for (size_t i = 0; i < spans.size(); ++i) {
      out.ids.push_back(spans[i].id);
      out.critical.push_back(flags[i]);
    }
  }
  size_t prompt_len = out.ids.size();
  for (int32_t id : tok.encode(ex.target)) out.ids.push_back(id);
  out.ids.push_back(tok.eos_id());
  out.mask.assign(out.ids.size(), 1);
  for (size_t i = 0; i < prompt_len; ++i) out.mask[i] = 0;
  if (!out.critical.empty()) out.critical.resize(out.ids.size(), 0);
  return out;
}

}  // namespace sra
