// Packing evaluated samples for the all-gather of a multi-rank evaluation (see eval/shard.h): a flat
// little-endian byte string, u64 lengths before strings, doubles as their bits (exact round trip).
#include "eval/shard.h"

#include <cstdint>
#include <cstring>

#include "core/check.h"

namespace sra::eval {

namespace {

struct Writer {
  std::string out;
  void u64(uint64_t v) { out.append(reinterpret_cast<const char*>(&v), 8); }
  void f64(double v) {
    uint64_t b;
    std::memcpy(&b, &v, 8);
    u64(b);
  }
  void str(const std::string& s) {
    u64(s.size());
    out += s;
  }
};

struct Reader {
  const std::string& in;
  size_t pos = 0;
  uint64_t u64() {
    SRA_CHECK(pos + 8 <= in.size(), "[eval] truncated sample pack from another rank");
    uint64_t v;
    std::memcpy(&v, in.data() + pos, 8);
    pos += 8;
    return v;
  }
  double f64() {
    uint64_t b = u64();
    double v;
    std::memcpy(&v, &b, 8);
    return v;
  }
  std::string str() {
    uint64_t n = u64();
    SRA_CHECK(pos + n <= in.size(), "[eval] truncated sample pack from another rank");
    std::string s = in.substr(pos, n);
    pos += n;
    return s;
  }
};

}  // namespace

std::string pack_samples(const std::vector<EvalSample>& samples, const std::vector<size_t>& positions) {
  Writer w;
  w.u64(positions.size());
  for (size_t i : positions) {
    const EvalSample& s = samples[i];
    w.u64(i);
    w.str(s.output);
    w.u64(s.score.correct);
    w.u64(s.score.correct_flexible);
    w.u64(s.score.extracted.has_value());
    w.str(s.score.extracted.value_or(""));
    w.str(s.score.extracted_flexible);
    w.str(s.score.reason);
    w.u64(uint64_t(s.answer_tokens));
    w.u64(uint64_t(s.cache_bytes));
    w.str(s.finish_reason);
    for (double v : {s.selected_ratio, s.flops, s.attention_flops, s.latency_ms}) w.f64(v);
  }
  return w.out;
}

void unpack_samples(const std::string& bytes, std::vector<EvalSample>& samples) {
  Reader r{bytes};
  const uint64_t n = r.u64();
  for (uint64_t k = 0; k < n; ++k) {
    const uint64_t i = r.u64();
    SRA_CHECK(i < samples.size(), "[eval] sample position ", i, " from another rank is outside the ",
              samples.size(), " problems (do the ranks evaluate the same problems?)");
    EvalSample& s = samples[i];
    s.output = r.str();
    s.score.correct = r.u64() != 0;
    s.score.correct_flexible = r.u64() != 0;
    const bool has = r.u64() != 0;
    std::string extracted = r.str();
    s.score.extracted = has ? std::optional<std::string>(extracted) : std::nullopt;
    s.score.extracted_flexible = r.str();
    s.score.reason = r.str();
    s.answer_tokens = int64_t(r.u64());
    s.cache_bytes = int64_t(r.u64());
    s.finish_reason = r.str();
    s.selected_ratio = r.f64();
    s.flops = r.f64();
    s.attention_flops = r.f64();
    s.latency_ms = r.f64();
  }
}

}  // namespace sra::eval
