// The audit trail, rendered: the text of a prompt and its generated answer with each token marked when
// any SRA layer kept it as critical. Terminal: critical tokens in reverse video (colour) or [brackets]
// (plain); HTML: one <span> per token, critical ones highlighted, with a tooltip giving position, layers
// and router scores.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace sra {

struct TokenView {
  std::string text;  // the token's text (bytes or a decoded sentencepiece piece)
  int64_t position = 0;
  bool generated = false;         // false for prompt tokens
  std::vector<uint8_t> critical;  // per SRA layer (empty when unknown, e.g. the last generated token)
  std::vector<double> scores;     // per SRA layer
  bool is_critical() const;
};

std::string render_selection_text(const std::vector<TokenView>& tokens, bool colour);
std::string render_selection_html(const std::vector<TokenView>& tokens, const std::string& title,
                                  const std::string& summary);

}  // namespace sra
