// NFC normalization (Unicode Standard Annex #15) of UTF-8 text, for tokenizer.json files whose normalizer
// is NFC (Qwen2; data/byte_bpe.cpp):
//   nfc_normalize(text, out, edits) — false when text is its own NFC form (out untouched: the caller keeps
//       text, nothing is copied); else true with the NFC form in out. Texts without a code point that NFC
//       may change (the quick check, unicode_nfc_unsafe in data/unicode_classes.h) take the fast path.
//       The others are normalized chunk by chunk, a chunk starting at each code point that passes the quick
//       check (nothing before it can reorder or compose with it or what follows): each chunk's canonical
//       decomposition (recursive; Hangul syllables algorithmically), canonical ordering (a stable sort of
//       each run of non-starters by combining class) and canonical composition (primary composites only,
//       Hangul LV / LVT algorithmically). A byte that is not valid UTF-8 (data/byte_bpe_pretok.h
//       utf8_decode) is kept as it is and ends the chunk, like a starter that composes with nothing.
//       edits (optional) receives, in order, the stretches that changed: each changed chunk less the code
//       points it shares with its NFC form at either end ("y" + U+212B -> "y" + U+00C5: U+212B alone).
//   nfc(text)                 — the NFC form as a string.
//   nfc_input_offset(edits, offset, end) — maps a byte offset of the NFC form back to the input: offsets
//       inside an edit widen to its start (a token's begin, end false) or its end (end true).
// The tables (generated from Python's unicodedata by tools/gen_unicode_nfc.py into data/unicode_nfc.cpp,
// Unicode unicode_nfc_version()):
//   unicode_combining_class(cp)          — the canonical combining class (0 for starters, unassigned).
//   unicode_canonical_mapping(cp, &a, &b) — cp's canonical decomposition mapping, one level: false when it
//       has none (Hangul syllables too: computed); b is 0 for a singleton.
//   unicode_primary_composite(a, b)      — the primary composite of the pair, 0 when none (Hangul
//       excluded: computed). Composition exclusions and non-starter decompositions are not composites.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sra {

// A stretch of the input, [in_begin, in_end), whose NFC form is the output's [out_begin, out_end).
struct NfcEdit {
  size_t in_begin = 0, in_end = 0;
  size_t out_begin = 0, out_end = 0;
};

bool nfc_normalize(std::string_view text, std::string& out, std::vector<NfcEdit>* edits = nullptr);
std::string nfc(std::string_view text);
size_t nfc_input_offset(const std::vector<NfcEdit>& edits, size_t offset, bool end);

int unicode_combining_class(uint32_t cp);
bool unicode_canonical_mapping(uint32_t cp, uint32_t* first, uint32_t* second);
uint32_t unicode_primary_composite(uint32_t first, uint32_t second);

}  // namespace sra
