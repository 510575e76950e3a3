// A small JSON value type, parser and writer (RFC 8259), for datasets, predictions, metrics.jsonl and
// summaries.
//   Json                 — null | bool | int (int64, kept exactly) | double | string | array | object.
//                          Objects keep their keys in insertion order; duplicate keys are a parse error.
//   Json::parse(text)    — parses one value (surrounded by optional whitespace). Errors throw sra::Error
//                          "[json] <what> at byte offset N" (N counts from 0 in `text`); callers reading
//                          files prefix "file:line: ". Nesting deeper than kMaxDepth is an error.
//                          Numbers without '.', 'e' or 'E' that fit int64 become ints, others doubles.
//                          \uXXXX escapes (with surrogate pairs) become UTF-8; a lone surrogate becomes
//                          U+FFFD. Other bytes are copied as they are.
//   dump()               — compact, one line: no spaces, keys in insertion order. Strings escape '"',
//                          '\\' and control characters (\n, \t, ..., else \u00XX); valid UTF-8 passes
//                          through, each byte of invalid UTF-8 is written as \ufffd. Doubles use the
//                          shortest text that reads back to the same double, with ".0" added when that
//                          text looks like an int; NaN and infinities are written as null.
//   Access               — as_*() throw "[json] expected <type>, got <type>"; operator[](key) on a const
//                          object throws "[json] missing key 'key'"; find(key) returns nullptr instead.
//   Building             — Json::object({{"a", 1}, {"b", "x"}}), Json::array({1, 2}), j.set("k", v),
//                          j.push_back(v), or the non-const j["k"] = v (inserts null first when missing).
#pragma once
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace sra {

class Json {
 public:
  enum class Type { kNull, kBool, kInt, kDouble, kString, kArray, kObject };
  using Array = std::vector<Json>;
  using Member = std::pair<std::string, Json>;
  using Object = std::vector<Member>;
  static constexpr int kMaxDepth = 512;

  Json() : value_(nullptr) {}
  Json(std::nullptr_t) : value_(nullptr) {}
  Json(bool b) : value_(b) {}
  template <typename T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>, int> = 0>
  Json(T v) {
    if constexpr (std::is_unsigned_v<T> && sizeof(T) >= sizeof(int64_t)) {
      if (v > static_cast<uint64_t>(INT64_MAX)) {
        value_ = static_cast<double>(v);
        return;
      }
    }
    value_ = static_cast<int64_t>(v);
  }
  Json(double d) : value_(d) {}
  Json(float f) : value_(static_cast<double>(f)) {}
  Json(const char* s) : value_(std::string(s)) {}
  Json(std::string s) : value_(std::move(s)) {}
  Json(std::string_view s) : value_(std::string(s)) {}
  Json(Array a) : value_(std::move(a)) {}
  Json(Object o) : value_(std::move(o)) {}

  static Json array(std::initializer_list<Json> items = {}) { return Json(Array(items)); }
  // Later duplicates of a key replace earlier ones.
  static Json object(std::initializer_list<Member> members = {});

  static Json parse(std::string_view text);
  std::string dump() const;
  void dump_to(std::string& out) const;

  Type type() const { return static_cast<Type>(value_.index()); }
  static const char* type_name(Type t);
  bool is_null() const { return type() == Type::kNull; }
  bool is_bool() const { return type() == Type::kBool; }
  bool is_int() const { return type() == Type::kInt; }
  bool is_double() const { return type() == Type::kDouble; }
  bool is_number() const { return is_int() || is_double(); }
  bool is_string() const { return type() == Type::kString; }
  bool is_array() const { return type() == Type::kArray; }
  bool is_object() const { return type() == Type::kObject; }

  bool as_bool() const;
  // An int, or a double with an integral value in int64 range.
  int64_t as_int() const;
  // An int or a double.
  double as_double() const;
  const std::string& as_string() const;
  const Array& as_array() const;
  Array& as_array();
  const Object& as_object() const;
  Object& as_object();

  // Objects: member count; arrays: element count; strings: byte count; else 0.
  size_t size() const;
  bool contains(std::string_view key) const { return find(key) != nullptr; }
  const Json* find(std::string_view key) const;
  Json* find(std::string_view key);
  const Json& operator[](std::string_view key) const;
  // On null (becomes an object) or an object: the member, inserted as null when missing.
  Json& operator[](std::string_view key);
  const Json& operator[](size_t i) const;
  Json& operator[](size_t i);
  // Avoid the ambiguity between the size_t and string_view overloads for literals and ints.
  const Json& operator[](const char* key) const { return (*this)[std::string_view(key)]; }
  Json& operator[](const char* key) { return (*this)[std::string_view(key)]; }
  const Json& operator[](int i) const { return (*this)[static_cast<size_t>(i)]; }
  Json& operator[](int i) { return (*this)[static_cast<size_t>(i)]; }

  // Object: insert or replace `key`; null becomes an object. Returns *this for chaining.
  Json& set(std::string_view key, Json value);
  // Array: append; null becomes an array. Returns *this for chaining.
  Json& push_back(Json value);

  // Structural equality; an int and a double are equal when they hold the same number.
  bool operator==(const Json& other) const;
  bool operator!=(const Json& other) const { return !(*this == other); }

 private:
  std::variant<std::nullptr_t, bool, int64_t, double, std::string, Array, Object> value_;
};

// Appends `s` as a quoted JSON string literal to `out` (the escaping that dump() uses).
void json_append_quoted(std::string& out, std::string_view s);

}  // namespace sra
