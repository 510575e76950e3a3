// Hand-written matchers of the GPT-2, Llama 3 and Qwen2 pre-tokenisation patterns (data/byte_bpe_pretok.h)
// and GPT-2's byte <-> unicode table. Each matcher decodes the text to code points once and, at each
// position, tries the pattern's alternatives in order; every character matches some alternative, so the
// pieces always tile the text.
#include "data/byte_bpe_pretok.h"

#include <array>

#include "data/unicode_classes.h"

namespace sra {

namespace {

constexpr std::string_view kGpt2Regex =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
constexpr std::string_view kLlama3Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kQwen2Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

constexpr int32_t kInvalid = -1;

// The text as code points (an invalid byte: kInvalid) with the byte offset of each; pos[n] = text size.
struct Chars {
  std::vector<int32_t> cp;
  std::vector<size_t> pos;
  size_t n = 0;

  explicit Chars(std::string_view s) {
    for (size_t i = 0; i < s.size();) {
      size_t len = 1;
      cp.push_back(utf8_decode(s, i, &len));
      pos.push_back(i);
      i += len;
    }
    n = cp.size();
    pos.push_back(s.size());
  }
  bool ws(size_t k) const { return k < n && cp[k] != kInvalid && unicode_is_whitespace(uint32_t(cp[k])); }
  bool letter(size_t k) const { return k < n && cp[k] != kInvalid && unicode_is_letter(uint32_t(cp[k])); }
  bool number(size_t k) const { return k < n && cp[k] != kInvalid && unicode_is_number(uint32_t(cp[k])); }
  // [^\s\p{L}\p{N}]
  bool other(size_t k) const { return k < n && !ws(k) && !letter(k) && !number(k); }
  bool crlf(size_t k) const { return k < n && (cp[k] == '\r' || cp[k] == '\n'); }
  bool is(size_t k, int32_t c) const { return k < n && cp[k] == c; }
  size_t run_end(size_t k, bool (Chars::*pred)(size_t) const) const {
    while ((this->*pred)(k)) ++k;
    return k;
  }
};

// 's|'t|'re|'ve|'m|'ll|'d at i: the end of the match, or 0. Case-insensitive: letters fold to lower case
// and U+017F (long s) to 's'.
size_t contraction(const Chars& c, size_t i, bool ignore_case) {
  if (!c.is(i, '\'') || i + 1 >= c.n) return 0;
  auto fold = [&](size_t k) -> int32_t {
    if (k >= c.n) return 0;
    int32_t x = c.cp[k];
    if (!ignore_case) return x;
    if (x >= 'A' && x <= 'Z') return x + 32;
    return x == 0x17F ? 's' : x;
  };
  int32_t a = fold(i + 1);
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return i + 2;
  int32_t b = fold(i + 2);
  if ((a == 'r' || a == 'v') && b == 'e') return i + 3;
  if (a == 'l' && b == 'l') return i + 3;
  return 0;
}

// \s+(?!\S) then \s+, at a whitespace character i: the end of the match.
size_t trailing_space(const Chars& c, size_t i) {
  size_t j = c.run_end(i, &Chars::ws);
  if (j == c.n || j - i < 2) return j;  // at the end, or a single character (then \s+)
  return j - 1;                         // leave the last one to the next piece
}

// One match of the GPT-2 pattern at i (always non-empty).
size_t match_gpt2(const Chars& c, size_t i) {
  if (size_t e = contraction(c, i, false)) return e;
  const size_t k = c.is(i, ' ') ? i + 1 : i;  // ' ?'
  if (c.letter(k)) return c.run_end(k, &Chars::letter);
  if (c.number(k)) return c.run_end(k, &Chars::number);
  if (c.other(k)) return c.run_end(k, &Chars::other);
  if (c.ws(i)) return trailing_space(c, i);
  return i + 1;
}

// One match of the Llama 3 (max_digits 3) or Qwen2 (max_digits 1) pattern at i.
size_t match_llama3(const Chars& c, size_t i, size_t max_digits) {
  if (size_t e = contraction(c, i, true)) return e;
  // [^\r\n\p{L}\p{N}]?\p{L}+
  if (c.letter(i)) return c.run_end(i, &Chars::letter);
  if (i < c.n && !c.crlf(i) && !c.number(i) && c.letter(i + 1)) return c.run_end(i + 1, &Chars::letter);
  // \p{N}{1,max}
  if (c.number(i)) {
    size_t j = i + 1;
    while (j < i + max_digits && c.number(j)) ++j;
    return j;
  }
  // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
  const size_t k = c.is(i, ' ') ? i + 1 : i;
  if (c.other(k)) return c.run_end(c.run_end(k, &Chars::other), &Chars::crlf);
  if (c.ws(i)) {
    // \s*[\r\n]+: the whitespace run up to and including its last \r or \n.
    size_t j = c.run_end(i, &Chars::ws);
    for (size_t m = j; m-- > i;) {
      if (c.crlf(m)) return m + 1;
    }
    return trailing_space(c, i);
  }
  return i + 1;
}

}  // namespace

const char* split_pattern_name(SplitPattern p) {
  switch (p) {
    case SplitPattern::kGpt2:
      return "gpt2";
    case SplitPattern::kLlama3:
      return "llama3";
    case SplitPattern::kQwen2:
      return "qwen2";
  }
  return "?";
}

std::optional<SplitPattern> split_pattern_of(std::string_view regex) {
  if (regex == kGpt2Regex) return SplitPattern::kGpt2;
  if (regex == kLlama3Regex) return SplitPattern::kLlama3;
  if (regex == kQwen2Regex) return SplitPattern::kQwen2;
  return std::nullopt;
}

std::vector<std::pair<size_t, size_t>> split_pieces(SplitPattern p, std::string_view text) {
  Chars c(text);
  std::vector<std::pair<size_t, size_t>> out;
  for (size_t i = 0; i < c.n;) {
    size_t j = p == SplitPattern::kGpt2     ? match_gpt2(c, i)
               : p == SplitPattern::kLlama3 ? match_llama3(c, i, 3)
                                            : match_llama3(c, i, 1);
    out.emplace_back(c.pos[i], c.pos[j]);
    i = j;
  }
  return out;
}

namespace {

struct ByteTable {
  std::array<uint32_t, 256> to_cp{};
  std::array<int16_t, 0x144> from_cp{};  // every mapped code point is below U+0144
  ByteTable() {
    from_cp.fill(-1);
    uint32_t next = 256;
    for (uint32_t b = 0; b < 256; ++b) {
      bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      to_cp[b] = printable ? b : next++;
      from_cp[to_cp[b]] = int16_t(b);
    }
  }
};

const ByteTable& byte_table() {
  static const ByteTable t;
  return t;
}

}  // namespace

uint32_t byte_to_unicode(uint8_t b) {
  return byte_table().to_cp[b];
}

int32_t unicode_to_byte(uint32_t cp) {
  return cp < 0x144 ? byte_table().from_cp[cp] : -1;
}

int32_t utf8_decode(std::string_view s, size_t i, size_t* len) {
  const unsigned char c = static_cast<unsigned char>(s[i]);
  *len = 1;
  if (c < 0x80) return c;
  size_t n = (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
  if (n == 0 || i + n > s.size()) return kInvalid;
  int32_t cp = n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
  for (size_t k = 1; k < n; ++k) {
    const unsigned char d = static_cast<unsigned char>(s[i + k]);
    if ((d & 0xC0) != 0x80) return kInvalid;
    cp = (cp << 6) | (d & 0x3F);
  }
  static constexpr int32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return kInvalid;  // overlong, ...
  *len = n;
  return cp;
}

void utf8_append(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(char(cp));
  } else if (cp < 0x800) {
    out += {char(0xC0 | (cp >> 6)), char(0x80 | (cp & 0x3F))};
  } else if (cp < 0x10000) {
    out += {char(0xE0 | (cp >> 12)), char(0x80 | ((cp >> 6) & 0x3F)), char(0x80 | (cp & 0x3F))};
  } else {
    out += {char(0xF0 | (cp >> 18)), char(0x80 | ((cp >> 12) & 0x3F)), char(0x80 | ((cp >> 6) & 0x3F)),
            char(0x80 | (cp & 0x3F))};
  }
}

}  // namespace sra
