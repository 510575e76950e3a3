// NFC normalization (Unicode Standard Annex #15) over the generated tables of data/unicode_nfc.cpp: the
// quick check as the fast path, then chunk by chunk canonical decomposition, canonical ordering and
// canonical composition. See data/unicode_nfc.h.
#include <algorithm>
#include <utility>

#include "data/byte_bpe_pretok.h"
#include "data/unicode_classes.h"
#include "data/unicode_nfc.h"

namespace sra {

namespace {

// Hangul syllables, composed and decomposed algorithmically (The Unicode Standard, section 3.12).
constexpr uint32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr uint32_t kLCount = 19, kVCount = 21, kTCount = 28;
constexpr uint32_t kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

struct Char {
  uint32_t cp;
  int ccc;
};

// Appends cp's full canonical decomposition (mappings applied until none is left).
void decompose(uint32_t cp, std::vector<Char>& out) {
  if (cp >= kSBase && cp < kSBase + kSCount) {
    const uint32_t s = cp - kSBase;
    out.push_back(Char{kLBase + s / kNCount, 0});
    out.push_back(Char{kVBase + (s % kNCount) / kTCount, 0});
    if (s % kTCount != 0) out.push_back(Char{kTBase + s % kTCount, 0});
    return;
  }
  uint32_t first = 0, second = 0;
  if (!unicode_canonical_mapping(cp, &first, &second)) {
    out.push_back(Char{cp, unicode_combining_class(cp)});
    return;
  }
  decompose(first, out);
  if (second != 0) decompose(second, out);
}

// The primary composite of a and b (Hangul L + V, LV + T included), 0 when none.
uint32_t compose(uint32_t a, uint32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount)
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase &&
      b < kTBase + kTCount)
    return a + (b - kTBase);
  return unicode_primary_composite(a, b);
}

// Canonical ordering: each run of non-starters sorted by combining class, keeping the order of equal ones.
void reorder(std::vector<Char>& s) {
  for (size_t i = 0; i < s.size();) {
    if (s[i].ccc == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < s.size() && s[j].ccc != 0) ++j;
    std::stable_sort(s.begin() + std::ptrdiff_t(i), s.begin() + std::ptrdiff_t(j),
                     [](const Char& x, const Char& y) { return x.ccc < y.ccc; });
    i = j;
  }
}

// Canonical composition, in place: each character that is not blocked from the last starter (no starter
// and no character of the same or a higher class between them) and forms a primary composite with it
// replaces the starter by the composite. Non-starters at the start have no starter to compose with.
void recompose(std::vector<Char>& s) {
  if (s.empty()) return;
  size_t starter = 0;
  int last = s[0].ccc == 0 ? 0 : 256;  // class of the last character kept; 256: no starter yet
  size_t w = 1;
  for (size_t r = 1; r < s.size(); ++r) {
    const Char c = s[r];
    if (last == 0 || last < c.ccc) {
      if (const uint32_t composite = compose(s[starter].cp, c.cp)) {
        s[starter].cp = composite;
        continue;
      }
    }
    if (c.ccc == 0) starter = w;
    last = c.ccc;
    s[w++] = c;
  }
  s.resize(w);
}

// The NFC form of chunk (valid UTF-8) into out (replaced); buf is scratch space.
void normalize_chunk(std::string_view chunk, std::string& out, std::vector<Char>& buf) {
  buf.clear();
  for (size_t i = 0; i < chunk.size();) {
    size_t len = 1;
    decompose(uint32_t(utf8_decode(chunk, i, &len)), buf);
    i += len;
  }
  reorder(buf);
  recompose(buf);
  out.clear();
  for (const Char& c : buf) utf8_append(out, c.cp);
}

// The lengths of the longest common prefix and suffix of a and b (a != b) that end and start on code point
// boundaries of both, so that an edit covers only the code points that changed ("y" + U+212B: U+212B).
std::pair<size_t, size_t> common_ends(std::string_view a, std::string_view b) {
  auto inside = [](std::string_view s, size_t i) { return i < s.size() && (uint8_t(s[i]) & 0xC0) == 0x80; };
  const size_t n = std::min(a.size(), b.size());
  size_t head = 0, tail = 0;
  while (head < n && a[head] == b[head]) ++head;
  while (head > 0 && (inside(a, head) || inside(b, head))) --head;
  while (tail < n - head && a[a.size() - 1 - tail] == b[b.size() - 1 - tail]) ++tail;
  while (tail > 0 && (inside(a, a.size() - tail) || inside(b, b.size() - tail))) --tail;
  return {head, tail};
}

}  // namespace

// One pass over the text: a code point that passes the quick check (or an invalid byte) ends the chunk
// before it. Chunks without an unsafe code point are never looked at again; the others are normalized, and
// only when one changes does the output start (with the text before it copied in one piece).
bool nfc_normalize(std::string_view text, std::string& out, std::vector<NfcEdit>* edits) {
  bool changed = false, dirty = false;
  size_t copied = 0;  // text[0, copied) is in out (once changed)
  size_t chunk = 0;   // where the current chunk starts
  std::string normal;
  std::vector<Char> buf;
  auto flush = [&](size_t end) {
    if (!dirty) return;
    dirty = false;
    const std::string_view piece = text.substr(chunk, end - chunk);
    normalize_chunk(piece, normal, buf);
    if (normal == piece) return;
    if (!changed) out.clear();
    changed = true;
    out.append(text.substr(copied, chunk - copied));
    if (edits) {
      const auto [head, tail] = common_ends(piece, normal);
      edits->push_back(
          NfcEdit{chunk + head, end - tail, out.size() + head, out.size() + normal.size() - tail});
    }
    out += normal;
    copied = end;
  };
  if (edits) edits->clear();
  for (size_t i = 0; i < text.size();) {
    size_t len = 1;
    const int32_t cp = utf8_decode(text, i, &len);
    if (cp < 0 || !unicode_nfc_unsafe(uint32_t(cp))) {
      flush(i);
      chunk = cp < 0 ? i + 1 : i;
    } else {
      dirty = true;
    }
    i += len;
  }
  flush(text.size());
  if (changed) out.append(text.substr(copied));
  return changed;
}

std::string nfc(std::string_view text) {
  std::string out;
  return nfc_normalize(text, out) ? out : std::string(text);
}

size_t nfc_input_offset(const std::vector<NfcEdit>& edits, size_t offset, bool end) {
  // The last edit starting at or before offset (before it, for an end offset).
  auto it = std::upper_bound(edits.begin(), edits.end(), offset, [end](size_t o, const NfcEdit& e) {
    return end ? o <= e.out_begin : o < e.out_begin;
  });
  if (it == edits.begin()) return offset;
  const NfcEdit& e = *std::prev(it);
  if (end ? offset <= e.out_end : offset < e.out_end) return end ? e.in_end : e.in_begin;
  return offset - e.out_end + e.in_end;
}

}  // namespace sra
