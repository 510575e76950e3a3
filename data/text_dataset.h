// Byte-level text: a file's bytes are its tokens (vocab 256). Used by the CPU demo until the
// sentencepiece pipeline lands. split(frac) gives a train prefix and a held-out suffix;
// sample_batch draws B windows of T+1 tokens at offsets from a counter-based Generator.
#pragma once
#include <string>
#include <vector>

#include "core/rng.h"
#include "core/tensor.h"

namespace sra {

class ByteText {
 public:
  static ByteText load(const std::string& path);  // throws "[data] cannot read <path>" / "... is empty"
  ByteText() = default;
  explicit ByteText(std::vector<int64_t> tokens) : tokens_(std::move(tokens)) {}
  int64_t size() const { return int64_t(tokens_.size()); }
  // [0, n·frac) and [n·frac, n)
  std::pair<ByteText, ByteText> split(double frac) const;
  // (B, T+1) i64 windows; throws when the text is shorter than T+1.
  Tensor sample_batch(int64_t batch, int64_t seq_len, Generator& gen) const;
  const std::vector<int64_t>& tokens() const { return tokens_; }

 private:
  std::vector<int64_t> tokens_;
};

}  // namespace sra
