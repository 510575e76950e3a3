// Tests for core/json: parsing (types, int64 exactness, escapes, surrogate pairs, errors with byte
// offsets, depth limit, duplicate keys), writing (escaping, UTF-8 passthrough, invalid UTF-8, doubles),
// access errors naming the key, builders and insertion order, and round trips; core/strings (trim,
// is_space) and data/jsonl string_field.
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "core/check.h"
#include "core/json.h"
#include "core/strings.h"
#include "data/jsonl.h"

using sra::Json;

namespace {
std::string error_of(const std::string& text) {
  try {
    Json::parse(text);
  } catch (const sra::Error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("json: parses scalars and keeps int64 exactly") {
  CHECK(Json::parse("null").is_null());
  CHECK(Json::parse("true").as_bool() == true);
  CHECK(Json::parse(" false ").as_bool() == false);
  CHECK(Json::parse("9223372036854775807").as_int() == INT64_MAX);
  CHECK(Json::parse("-9223372036854775808").as_int() == INT64_MIN);
  CHECK(Json::parse("12345678901234567").as_int() == 12345678901234567LL);
  CHECK(Json::parse("0").is_int());
  CHECK(Json::parse("-0").as_int() == 0);
  CHECK(Json::parse("1.5").as_double() == 1.5);
  CHECK(Json::parse("1e3").is_double());
  CHECK(Json::parse("1e3").as_int() == 1000);
  CHECK(Json::parse("2.5E-3").as_double() == doctest::Approx(0.0025));
  CHECK(Json::parse("3").as_double() == 3.0);
  // Larger than int64: a double.
  CHECK(Json::parse("92233720368547758070").is_double());
  CHECK(std::isinf(Json::parse("1e999").as_double()));
}

TEST_CASE("json: strings, escapes and surrogate pairs") {
  CHECK(Json::parse(R"("a\"b\\c\/d\b\f\n\r\t")").as_string() == "a\"b\\c/d\b\f\n\r\t");
  CHECK(Json::parse(R"("\u00e9")").as_string() == "\xC3\xA9");
  CHECK(Json::parse(R"("\u20AC")").as_string() == "\xE2\x82\xAC");
  CHECK(Json::parse(R"("\ud83d\ude00")").as_string() == "\xF0\x9F\x98\x80");
  // Lone surrogates become U+FFFD.
  CHECK(Json::parse(R"("\ud83d")").as_string() == "\xEF\xBF\xBD");
  CHECK(Json::parse(R"("\ude00x")").as_string() == "\xEF\xBF\xBDx");
  CHECK(Json::parse(R"("\ud83d\u0041")").as_string() ==
        "\xEF\xBF\xBD"
        "A");
  // Raw UTF-8 passes through.
  CHECK(Json::parse("\"caf\xC3\xA9\"").as_string() == "caf\xC3\xA9");
}

TEST_CASE("json: arrays and objects keep order; access errors name the key") {
  Json j = Json::parse(R"( {"z": 1, "a": [1, 2.5, "x", null, {"k": false}], "m": {}} )");
  REQUIRE(j.is_object());
  CHECK(j.size() == 3);
  CHECK(j.as_object()[0].first == "z");
  CHECK(j.as_object()[1].first == "a");
  CHECK(j["a"].size() == 5);
  CHECK(j["a"][1].as_double() == 2.5);
  CHECK(j["a"][4]["k"].as_bool() == false);
  CHECK(j.contains("m"));
  CHECK_FALSE(j.contains("q"));
  CHECK(j.find("q") == nullptr);
  const Json& cj = j;
  CHECK_THROWS_WITH_AS(cj["missing"], "[json] missing key 'missing'", sra::Error);
  CHECK_THROWS_WITH_AS(cj["z"].as_string(), "[json] expected string, got int", sra::Error);
  CHECK_THROWS_AS(cj["a"][9], sra::Error);
  CHECK_THROWS_WITH_AS(Json(1.5).as_int(), "[json] expected an integer, got the non-integral number 1.5",
                       sra::Error);
  CHECK(j.dump() == R"({"z":1,"a":[1,2.5,"x",null,{"k":false}],"m":{}})");
}

TEST_CASE("json: parse errors give the byte offset") {
  CHECK(error_of("") == "[json] unexpected end of input, expected a value at byte offset 0");
  CHECK(error_of("{\"a\" 1}") == "[json] expected ':' after an object key, got '1' at byte offset 5");
  CHECK(error_of("[1, 2") == "[json] expected ',' or ']' in an array, got end of input at byte offset 5");
  CHECK(error_of("[1,]") == "[json] unexpected ']', expected a value at byte offset 3");
  CHECK(error_of("{\"a\":1,}") == "[json] expected '\"' to start an object key, got '}' at byte offset 7");
  CHECK(error_of("01") == "[json] leading zero in a number at byte offset 1");
  CHECK(error_of("1.") == "[json] expected a digit after '.' in a number at byte offset 2");
  CHECK(error_of("tru") == "[json] unexpected 't', expected a value at byte offset 0");
  CHECK(error_of("\"abc") == "[json] unterminated string at byte offset 0");
  CHECK(error_of("\"a\nb\"") ==
        "[json] raw control character in a string (it must be escaped) at byte offset 2");
  CHECK(error_of(R"("\x")") == "[json] invalid escape '\\x' in a string at byte offset 1");
  CHECK(error_of(R"("\u12G4")") == "[json] invalid hex digit in \\u escape at byte offset 5");
  CHECK(error_of("1 2") == "[json] unexpected trailing characters after the value at byte offset 2");
  CHECK(error_of(R"({"a":1,"a":2})") == "[json] duplicate object key 'a' at byte offset 7");
  CHECK(error_of("NaN").find("[json] unexpected 'N'") == 0);
  // Duplicate detection past the small-object path.
  std::string many = "{";
  for (int i = 0; i < 20; ++i) many += "\"k" + std::to_string(i) + "\":" + std::to_string(i) + ",";
  CHECK(Json::parse(many + "\"x\":0}").size() == 21);
  CHECK(error_of(many + "\"k3\":0}").find("[json] duplicate object key 'k3'") == 0);
}

TEST_CASE("json: nesting depth is limited") {
  std::string ok(Json::kMaxDepth, '['), ok_close(Json::kMaxDepth, ']');
  CHECK(Json::parse(ok + ok_close).is_array());
  std::string deep(100000, '[');
  CHECK(error_of(deep).find("[json] nesting deeper than 512") == 0);
  std::string deep_obj;
  for (int i = 0; i < 1000; ++i) deep_obj += "{\"a\":";
  CHECK(error_of(deep_obj).find("[json] nesting deeper than 512") == 0);
}

TEST_CASE("json: writer escaping, UTF-8 and doubles") {
  CHECK(Json("a\"b\\c\n\t\x01\x1f").dump() == R"("a\"b\\c\n\t\u0001\u001f")");
  CHECK(Json("caf\xC3\xA9 \xF0\x9F\x98\x80").dump() == "\"caf\xC3\xA9 \xF0\x9F\x98\x80\"");
  // Invalid UTF-8 bytes (a lone continuation byte, a truncated sequence, an overlong form).
  CHECK(Json("a\x80z").dump() == R"("a\ufffdz")");
  CHECK(Json("a\xE2\x82").dump() == R"("a\ufffd\ufffd")");
  CHECK(Json("\xC0\xAF").dump() == R"("\ufffd\ufffd")");
  CHECK(Json(1.0).dump() == "1.0");
  CHECK(Json(0.1).dump() == "0.1");
  CHECK(Json(-2.5e-8).dump() == "-2.5e-08");
  CHECK(Json(1e300).dump() == "1e+300");
  CHECK(Json(std::nan("")).dump() == "null");
  CHECK(Json(INT64_MIN).dump() == "-9223372036854775808");
  CHECK(Json(static_cast<uint64_t>(UINT64_MAX)).is_double());
  CHECK(Json(3u).is_int());
}

TEST_CASE("json: builders and round trips") {
  Json j = Json::object({{"dataset", "gsm8k"}, {"n", 1319}, {"acc", 0.5}});
  j.set("strict", Json::object({{"correct", 3}}));
  j["list"].push_back(1).push_back("two").push_back(Json::array({true, nullptr}));
  j.set("n", 7);  // replaces in place
  CHECK(j.dump() ==
        R"({"dataset":"gsm8k","n":7,"acc":0.5,"strict":{"correct":3},"list":[1,"two",[true,null]]})");
  CHECK(Json::parse(j.dump()) == j);
  std::string tricky = "line1\nline2 \"q\" \\ \xE2\x82\xAC \x7f";
  CHECK(Json::parse(Json(tricky).dump()).as_string() == tricky);
  for (double d : {0.1, 1.0 / 3.0, 1e-300, 123456789.125, -0.0}) {
    CHECK(Json::parse(Json(d).dump()).as_double() == d);
  }
  CHECK(Json(1) == Json(1.0));
  CHECK(Json("1") != Json(1));
}

TEST_CASE("strings: trim, is_space and string_field") {
  CHECK(sra::trim("  a b\t\n") == "a b");
  CHECK(sra::trim("\f\v x \r") == "x");                 // Python's str.strip() whitespace
  CHECK(sra::trim("\f x \v", " \t\n\r") == "\f x \v");  // only the given characters
  CHECK(sra::trim(" \t ").empty());
  CHECK(sra::trim("").empty());
  CHECK(sra::is_space('\v'));
  CHECK_FALSE(sra::is_space('\0'));
  CHECK_FALSE(sra::is_space('x'));
  Json row = Json::parse(R"({"q": "text", "n": 3})");
  CHECK(sra::string_field(row, "q") == "text");
  CHECK_THROWS_WITH_AS(sra::string_field(row, "a"), "[data] missing string field 'a'", sra::Error);
  CHECK_THROWS_WITH_AS(sra::string_field(row, "n"), "[data] 'n' must be a string, got int", sra::Error);
  CHECK_THROWS_WITH_AS(sra::string_field(Json::parse("[1]"), "q"), "[data] expected a JSON object, got array",
                       sra::Error);
}
