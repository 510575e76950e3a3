// Tests for data/unicode_nfc (NFC normalization, Unicode Standard Annex #15): every case of the fixture
// tests/fixtures/nfc/nfc_cases.jsonl (written by `python3 tools/gen_unicode_nfc.py --fixture` from Python's
// unicodedata.normalize: marks out of order, equal and different classes, Latin / Greek / Cyrillic /
// Vietnamese, Hangul L+V, L+V+T, LV+T, composition exclusions, singletons, non-starter decompositions,
// blocked compositions, non-starters at the start, every decomposition and every mark of the table's Unicode
// version, random strings) byte for byte, the table lookups, every Hangul syllable, the fast path, invalid
// UTF-8 and the offset map.
#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "core/json.h"
#include "data/byte_bpe_pretok.h"
#include "data/unicode_classes.h"
#include "data/unicode_nfc.h"
#include "data_test_util.h"

using namespace sra;

namespace {

struct NfcCase {
  std::string name, in, nfc;
};

// The fixture's cases; its first line names the Unicode version it was written with.
std::vector<NfcCase> fixture_cases(std::string* version) {
  std::string path = "tests/fixtures/nfc/nfc_cases.jsonl";
  if (!std::filesystem::exists(path)) path = std::string(SRA_SOURCE_DIR) + "/" + path;
  const std::string text = sra::testing::slurp(path);
  std::vector<NfcCase> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    const Json j = Json::parse(std::string_view(text).substr(pos, nl - pos));
    if (pos == 0) {
      *version = j["unicode_version"].as_string();
    } else {
      out.push_back(NfcCase{j["name"].as_string(), j["in"].as_string(), j["nfc"].as_string()});
    }
    pos = nl + 1;
  }
  return out;
}

// "U+0065 U+0301" (invalid bytes as "<FF>"), for failure messages.
std::string code_points(std::string_view s) {
  std::string out;
  char buf[16];
  for (size_t i = 0; i < s.size();) {
    size_t len = 1;
    const int32_t cp = utf8_decode(s, i, &len);
    if (cp < 0) {
      std::snprintf(buf, sizeof buf, "<%02X>", unsigned(uint8_t(s[i])));
    } else {
      std::snprintf(buf, sizeof buf, "U+%04X", unsigned(cp));
    }
    if (!out.empty()) out += ' ';
    out += buf;
    i += len;
  }
  return out;
}

bool has_unsafe(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    size_t len = 1;
    const int32_t cp = utf8_decode(s, i, &len);
    if (cp >= 0 && unicode_nfc_unsafe(uint32_t(cp))) return true;
    i += len;
  }
  return false;
}

}  // namespace

TEST_CASE("unicode_nfc: the fixture's cases equal Python's unicodedata NFC byte for byte") {
  std::string version;
  const std::vector<NfcCase> cases = fixture_cases(&version);
  REQUIRE(cases.size() >= 300);
  CHECK(version == unicode_nfc_version());
  CHECK(std::string(unicode_nfc_version()) == unicode_classes_version());
  int changed = 0;
  for (const NfcCase& c : cases) {
    INFO(c.name << ": " << code_points(c.in).substr(0, 400));
    const std::string got = nfc(c.in);
    if (got != c.nfc) {
      CHECK(code_points(got) == code_points(c.nfc));  // shows where they part
      CHECK(got == c.nfc);
    }
    CHECK(nfc(c.nfc) == c.nfc);  // NFC is idempotent
    std::string out = "untouched";
    const bool did = nfc_normalize(c.in, out);
    CHECK(did == (c.in != c.nfc));
    CHECK(out == (did ? c.nfc : "untouched"));
    if (!has_unsafe(c.in)) CHECK(c.in == c.nfc);  // the quick check never passes a text NFC changes
    changed += did;
  }
  CHECK(changed >= 200);
}

TEST_CASE("unicode_nfc: table lookups") {
  CHECK(unicode_combining_class('a') == 0);
  CHECK(unicode_combining_class(0x301) == 230);
  CHECK(unicode_combining_class(0x316) == 220);
  CHECK(unicode_combining_class(0x31B) == 216);
  CHECK(unicode_combining_class(0x345) == 240);
  CHECK(unicode_combining_class(0x1D165) == 216);
  CHECK(unicode_combining_class(0x1161) == 0);
  uint32_t a = 0, b = 0;
  CHECK((unicode_canonical_mapping(0xC5, &a, &b) && a == 'A' && b == 0x30A));
  CHECK((unicode_canonical_mapping(0x212B, &a, &b) && a == 0xC5 && b == 0));  // singleton
  CHECK((unicode_canonical_mapping(0x344, &a, &b) && a == 0x308 && b == 0x301));
  CHECK(!unicode_canonical_mapping('a', &a, &b));
  CHECK(!unicode_canonical_mapping(0xAC00, &a, &b));  // Hangul: computed, not listed
  CHECK(!unicode_canonical_mapping(0xFB01, &a, &b));  // a compatibility mapping only
  CHECK(unicode_primary_composite('A', 0x30A) == 0xC5);
  CHECK(unicode_primary_composite(0xC5, 0x301) == 0x1FA);
  CHECK(unicode_primary_composite(0x915, 0x93C) == 0);  // U+0958 is a composition exclusion
  CHECK(unicode_primary_composite(0x308, 0x301) == 0);  // U+0344: non-starter decomposition
  CHECK(unicode_primary_composite(0x1100, 0x1161) == 0);
  CHECK(unicode_primary_composite(0x11935, 0x11930) == 0x11938);
  CHECK(!unicode_nfc_unsafe('a'));
  CHECK(!unicode_nfc_unsafe(0xE9));
  CHECK(unicode_nfc_unsafe(0x301));    // combining acute
  CHECK(unicode_nfc_unsafe(0x212B));   // Angstrom sign -> U+00C5
  CHECK(unicode_nfc_unsafe(0x1161));   // Hangul vowel jamo: composes with a leading jamo
  CHECK(!unicode_nfc_unsafe(0xD55C));  // a syllable
}

TEST_CASE("unicode_nfc: every Hangul syllable from its jamo, and back") {
  for (uint32_t s = 0xAC00; s <= 0xD7A3; ++s) {
    const uint32_t i = s - 0xAC00;
    std::string jamo, syllable;
    utf8_append(jamo, 0x1100 + i / 588);
    utf8_append(jamo, 0x1161 + (i % 588) / 28);
    if (i % 28 != 0) utf8_append(jamo, 0x11A7 + i % 28);
    utf8_append(syllable, s);
    REQUIRE(nfc(jamo) == syllable);
    if (i % 28 == 0) {  // LV + T
      std::string lv_t = syllable;
      utf8_append(lv_t, 0x11A8);
      std::string want;
      utf8_append(want, s + 1);
      REQUIRE(nfc(lv_t) == want);
    }
  }
}

TEST_CASE("unicode_nfc: the fast path leaves text alone; invalid UTF-8 is kept and blocks composition") {
  std::string out = "untouched";
  CHECK(!nfc_normalize("plain caf\xc3\xa9 \xed\x95\x9c \xf0\x9f\x98\x80", out));
  CHECK(out == "untouched");
  CHECK(!nfc_normalize("", out));
  CHECK(!nfc_normalize("x\xcc\x81", out));  // NFC-stable although the quick check cannot tell
  CHECK(nfc("e\xcc\x81") == "\xc3\xa9");
  CHECK(nfc("e\xff\xcc\x81") == "e\xff\xcc\x81");  // the invalid byte stands between e and the acute
  CHECK(nfc("a\xcc\x81\xff") == "\xc3\xa1\xff");   // ... and after a composition
  CHECK(nfc("\xffo\xcc\x81\xcc\x9b") == "\xff\xe1\xbb\x9b");       // o + acute + horn -> U+1EDB
  CHECK(nfc("e\xcc") == "e\xcc");                                  // a cut sequence
  CHECK(nfc("e\xe0\x80\x80\xcc\x81") == "e\xe0\x80\x80\xcc\x81");  // overlong bytes
  CHECK(nfc("\xed\xa0\x80\xcc\x81") == "\xed\xa0\x80\xcc\x81");    // a surrogate's bytes
  // Random bytes and fragments: no crash, idempotent, invalid bytes kept in place.
  const std::vector<std::string> parts = {"a",
                                          "e",
                                          "\xcc\x81",
                                          "\xcc\xa3",
                                          "\xcd\x85",
                                          "\xe1\x84\x80",
                                          "\xe1\x85\xa1",
                                          "\xe1\x86\xa8",
                                          "\xea\xb0\x80",
                                          "\xe2\x84\xab",
                                          "\xff",
                                          "\xcc",
                                          "\x80",
                                          " ",
                                          "\xe0\xa5\x98",
                                          "\xf0\x9d\x85\x9e"};
  std::mt19937 rng(5);
  for (int n = 0; n < 2000; ++n) {
    std::string s;
    const int len = int(rng() % 12);
    for (int k = 0; k < len; ++k) s += parts[rng() % parts.size()];
    const std::string once = nfc(s);
    CHECK(nfc(once) == once);
    size_t invalid_in = 0, invalid_out = 0;
    for (size_t i = 0; i < s.size(); ++i) invalid_in += uint8_t(s[i]) == 0xFF;
    for (size_t i = 0; i < once.size(); ++i) invalid_out += uint8_t(once[i]) == 0xFF;
    CHECK(invalid_in == invalid_out);
  }
}

TEST_CASE("unicode_nfc: edits map output offsets back to the input") {
  // "x" "e"+acute "y" U+212B -> "x" U+00E9 "y" U+00C5
  const std::string in = "xe\xcc\x81y\xe2\x84\xab";
  std::string out;
  std::vector<NfcEdit> edits;
  REQUIRE(nfc_normalize(in, out, &edits));
  CHECK(out == "x\xc3\xa9y\xc3\x85");
  REQUIRE(edits.size() == 2);
  CHECK((edits[0].in_begin == 1 && edits[0].in_end == 4 && edits[0].out_begin == 1 && edits[0].out_end == 3));
  CHECK((edits[1].in_begin == 5 && edits[1].in_end == 8 && edits[1].out_begin == 4 && edits[1].out_end == 6));
  const size_t begins[7] = {0, 1, 1, 4, 5, 5, 8}, ends[7] = {0, 1, 4, 4, 5, 8, 8};
  for (size_t o = 0; o <= out.size(); ++o) {
    CAPTURE(o);
    CHECK(nfc_input_offset(edits, o, false) == begins[o]);
    CHECK(nfc_input_offset(edits, o, true) == ends[o]);
  }
  CHECK(nfc_input_offset({}, 3, true) == 3);
}
