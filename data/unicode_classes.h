// Unicode character classes of the byte-level BPE pre-tokenisation patterns (data/byte_bpe.h):
//   unicode_is_letter(cp)     — \p{L}: general category Lu, Ll, Lt, Lm or Lo.
//   unicode_is_number(cp)     — \p{N}: general category Nd, Nl or No.
//   unicode_is_whitespace(cp) — \s as Oniguruma (the regex engine of Hugging Face tokenizers) reads it in
//                               UTF-8: U+0009-U+000D, U+0020, U+0085, U+00A0, U+1680, U+2000-U+200A,
//                               U+2028, U+2029, U+202F, U+205F, U+3000 (the White_Space property).
// The L and N ranges are generated (tools/gen_unicode_classes.py writes data/unicode_classes.cpp from
// Python's unicodedata); unicode_classes_version() names the Unicode version they come from. Characters
// assigned in later Unicode versions are neither letters nor numbers here.
#pragma once
#include <cstdint>

namespace sra {

bool unicode_is_letter(uint32_t cp);
bool unicode_is_number(uint32_t cp);
const char* unicode_classes_version();

inline bool unicode_is_whitespace(uint32_t cp) {
  if (cp <= 0x20) return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D);
  if (cp < 0x85) return false;
  return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
         cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

}  // namespace sra
