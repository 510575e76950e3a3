#include "data/text_dataset.h"

#include <fstream>
#include <iterator>

namespace sra {

ByteText ByteText::load(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  SRA_CHECK(f.good(), "[data] cannot read ", path);
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  SRA_CHECK(!bytes.empty(), "[data] ", path, " is empty");
  std::vector<int64_t> t(bytes.size());
  for (size_t i = 0; i < bytes.size(); ++i) t[i] = int64_t(static_cast<unsigned char>(bytes[i]));
  return ByteText(std::move(t));
}

std::pair<ByteText, ByteText> ByteText::split(double frac) const {
  size_t cut = size_t(double(tokens_.size()) * frac);
  return {ByteText({tokens_.begin(), tokens_.begin() + long(cut)}),
          ByteText({tokens_.begin() + long(cut), tokens_.end()})};
}

Tensor ByteText::sample_batch(int64_t batch, int64_t seq_len, Generator& gen) const {
  SRA_CHECK(size() > seq_len + 1, "[data] text of ", size(), " tokens is too short for windows of ",
            seq_len + 1);
  Tensor out = Tensor::empty({batch, seq_len + 1}, DType::i64);
  int64_t* p = out.data<int64_t>();
  for (int64_t b = 0; b < batch; ++b) {
    int64_t off = int64_t(gen.next_below(uint64_t(size() - seq_len - 1)));
    for (int64_t t = 0; t <= seq_len; ++t) p[b * (seq_len + 1) + t] = tokens_[size_t(off + t)];
  }
  return out;
}

}  // namespace sra
