// JSON parser and writer (see json.h for the rules).
// Parser: recursive descent over the bytes with a depth limit; numbers follow the RFC 8259 grammar
// (-?(0|[1-9]d*)(.d+)?([eE][+-]?d+)?); strings decode the escapes, join surrogate pairs into UTF-8
// and reject raw control characters. Writer: one line, shortest round-trip doubles, escaped strings.
#include "core/json.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <unordered_set>

#include "core/check.h"

namespace sra {

namespace {

const char* kTypeNames[] = {"null", "bool", "int", "double", "string", "array", "object"};

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Length of the valid UTF-8 sequence starting at s[i], or 0 when it is not valid UTF-8.
size_t utf8_sequence_length(std::string_view s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(i);
  size_t n;
  uint32_t cp;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
    cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  if (n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) return 0;
  if (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) return 0;
  return n;
}

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  Json parse_document() {
    skip_ws();
    Json v = parse_value(0);
    skip_ws();
    if (pos_ != text_.size()) fail("unexpected trailing characters after the value");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw Error("[json] " + what + " at byte offset " + std::to_string(pos_));
  }
  [[noreturn]] void fail_at(const std::string& what, size_t pos) const {
    throw Error("[json] " + what + " at byte offset " + std::to_string(pos));
  }

  void skip_ws() {
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
      ++pos_;
    }
  }

  std::string describe_here() const {
    if (pos_ >= text_.size()) return "end of input";
    unsigned char c = static_cast<unsigned char>(text_[pos_]);
    if (c >= 0x20 && c < 0x7F) return std::string("'") + static_cast<char>(c) + "'";
    char buf[16];
    std::snprintf(buf, sizeof(buf), "byte 0x%02X", c);
    return buf;
  }

  bool consume_literal(const char* lit) {
    size_t n = std::strlen(lit);
    if (text_.substr(pos_, n) != lit) return false;
    pos_ += n;
    return true;
  }

  Json parse_value(int depth) {
    if (pos_ >= text_.size()) fail("unexpected end of input, expected a value");
    char c = text_[pos_];
    switch (c) {
      case '{':
        return parse_object(depth + 1);
      case '[':
        return parse_array(depth + 1);
      case '"':
        return Json(parse_string());
      case 't':
        if (consume_literal("true")) return Json(true);
        break;
      case 'f':
        if (consume_literal("false")) return Json(false);
        break;
      case 'n':
        if (consume_literal("null")) return Json(nullptr);
        break;
      default:
        if (c == '-' || (c >= '0' && c <= '9')) return parse_number();
        break;
    }
    fail("unexpected " + describe_here() + ", expected a value");
  }

  Json parse_object(int depth) {
    if (depth > Json::kMaxDepth) fail("nesting deeper than " + std::to_string(Json::kMaxDepth));
    ++pos_;  // '{'
    Json::Object members;
    std::unordered_set<std::string> seen;  // used once the object grows past a few members
    skip_ws();
    if (pos_ < text_.size() && text_[pos_] == '}') {
      ++pos_;
      return Json(std::move(members));
    }
    while (true) {
      skip_ws();
      if (pos_ >= text_.size() || text_[pos_] != '"')
        fail("expected '\"' to start an object key, got " + describe_here());
      size_t key_pos = pos_;
      std::string key = parse_string();
      bool dup = false;
      if (members.size() < 8) {
        for (const auto& m : members) dup = dup || m.first == key;
        if (members.size() == 7) {
          for (const auto& m : members) seen.insert(m.first);
          seen.insert(key);
        }
      } else {
        dup = !seen.insert(key).second;
      }
      if (dup) fail_at("duplicate object key '" + key + "'", key_pos);
      skip_ws();
      if (pos_ >= text_.size() || text_[pos_] != ':')
        fail("expected ':' after an object key, got " + describe_here());
      ++pos_;
      skip_ws();
      Json value = parse_value(depth);
      members.emplace_back(std::move(key), std::move(value));
      skip_ws();
      if (pos_ < text_.size() && text_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < text_.size() && text_[pos_] == '}') {
        ++pos_;
        return Json(std::move(members));
      }
      fail("expected ',' or '}' in an object, got " + describe_here());
    }
  }

  Json parse_array(int depth) {
    if (depth > Json::kMaxDepth) fail("nesting deeper than " + std::to_string(Json::kMaxDepth));
    ++pos_;  // '['
    Json::Array items;
    skip_ws();
    if (pos_ < text_.size() && text_[pos_] == ']') {
      ++pos_;
      return Json(std::move(items));
    }
    while (true) {
      skip_ws();
      items.push_back(parse_value(depth));
      skip_ws();
      if (pos_ < text_.size() && text_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < text_.size() && text_[pos_] == ']') {
        ++pos_;
        return Json(std::move(items));
      }
      fail("expected ',' or ']' in an array, got " + describe_here());
    }
  }

  uint32_t parse_hex4() {
    if (pos_ + 4 > text_.size()) fail("truncated \\u escape");
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      char c = text_[pos_ + k];
      v <<= 4;
      if (c >= '0' && c <= '9') {
        v |= static_cast<uint32_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        v |= static_cast<uint32_t>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        v |= static_cast<uint32_t>(c - 'A' + 10);
      } else {
        fail_at("invalid hex digit in \\u escape", pos_ + k);
      }
    }
    pos_ += 4;
    return v;
  }

  std::string parse_string() {
    size_t start = pos_;
    ++pos_;  // opening quote
    std::string out;
    while (true) {
      // Copy a run of plain bytes at once.
      size_t run = pos_;
      while (run < text_.size()) {
        unsigned char c = static_cast<unsigned char>(text_[run]);
        if (c == '"' || c == '\\' || c < 0x20) break;
        ++run;
      }
      out.append(text_.data() + pos_, run - pos_);
      pos_ = run;
      if (pos_ >= text_.size()) fail_at("unterminated string", start);
      char c = text_[pos_];
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (c != '\\') fail("raw control character in a string (it must be escaped)");
      ++pos_;
      if (pos_ >= text_.size()) fail_at("unterminated string", start);
      char e = text_[pos_++];
      switch (e) {
        case '"':
          out.push_back('"');
          break;
        case '\\':
          out.push_back('\\');
          break;
        case '/':
          out.push_back('/');
          break;
        case 'b':
          out.push_back('\b');
          break;
        case 'f':
          out.push_back('\f');
          break;
        case 'n':
          out.push_back('\n');
          break;
        case 'r':
          out.push_back('\r');
          break;
        case 't':
          out.push_back('\t');
          break;
        case 'u': {
          uint32_t cp = parse_hex4();
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            // A high surrogate: join with a following \uDC00-\uDFFF, else it is lone.
            if (pos_ + 6 <= text_.size() && text_[pos_] == '\\' && text_[pos_ + 1] == 'u') {
              size_t save = pos_;
              pos_ += 2;
              uint32_t lo = parse_hex4();
              if (lo >= 0xDC00 && lo <= 0xDFFF) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
              } else {
                pos_ = save;
                cp = 0xFFFD;
              }
            } else {
              cp = 0xFFFD;
            }
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            cp = 0xFFFD;
          }
          append_utf8(out, cp);
          break;
        }
        default:
          pos_ -= 2;
          fail("invalid escape '\\" + std::string(1, e) + "' in a string");
      }
    }
  }

  Json parse_number() {
    size_t start = pos_;
    bool is_integer = true;
    if (text_[pos_] == '-') ++pos_;
    auto digits = [&]() {
      size_t d = pos_;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
      return pos_ - d;
    };
    if (pos_ >= text_.size() || !(text_[pos_] >= '0' && text_[pos_] <= '9'))
      fail("expected a digit in a number");
    if (text_[pos_] == '0') {
      ++pos_;
      if (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') fail("leading zero in a number");
    } else {
      digits();
    }
    if (pos_ < text_.size() && text_[pos_] == '.') {
      is_integer = false;
      ++pos_;
      if (digits() == 0) fail("expected a digit after '.' in a number");
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      is_integer = false;
      ++pos_;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
      if (digits() == 0) fail("expected a digit in a number's exponent");
    }
    const char* first = text_.data() + start;
    const char* last = text_.data() + pos_;
    if (is_integer) {
      int64_t v = 0;
      auto r = std::from_chars(first, last, v);
      if (r.ec == std::errc() && r.ptr == last) return Json(v);
      // Too large for int64: keep it as a double.
    }
    double d = 0;
    auto r = std::from_chars(first, last, d);
    if (r.ec == std::errc::result_out_of_range) {
      // Overflow gives +-inf, underflow 0 (strtod semantics).
      d = std::strtod(std::string(first, last).c_str(), nullptr);
    } else if (r.ec != std::errc() || r.ptr != last) {
      fail_at("invalid number", start);
    }
    return Json(d);
  }

  std::string_view text_;
  size_t pos_ = 0;
};

void append_double(std::string& out, double d) {
  if (!std::isfinite(d)) {
    out += "null";
    return;
  }
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), d);
  std::string_view s(buf, static_cast<size_t>(r.ptr - buf));
  out += s;
  if (s.find_first_of(".eE") == std::string_view::npos) out += ".0";
}

}  // namespace

void json_append_quoted(std::string& out, std::string_view s) {
  static const char* kHex = "0123456789abcdef";
  out.push_back('"');
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      size_t n = utf8_sequence_length(s, i);
      if (n == 0) {
        out += "\\ufffd";
        ++i;
      } else {
        out.append(s.data() + i, n);
        i += n;
      }
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 15]);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
    ++i;
  }
  out.push_back('"');
}

Json Json::object(std::initializer_list<Member> members) {
  Json j(Object{});
  for (const auto& m : members) j.set(m.first, m.second);
  return j;
}

Json Json::parse(std::string_view text) {
  return Parser(text).parse_document();
}

const char* Json::type_name(Type t) {
  return kTypeNames[static_cast<int>(t)];
}

std::string Json::dump() const {
  std::string out;
  dump_to(out);
  return out;
}

void Json::dump_to(std::string& out) const {
  switch (type()) {
    case Type::kNull:
      out += "null";
      break;
    case Type::kBool:
      out += std::get<bool>(value_) ? "true" : "false";
      break;
    case Type::kInt:
      out += std::to_string(std::get<int64_t>(value_));
      break;
    case Type::kDouble:
      append_double(out, std::get<double>(value_));
      break;
    case Type::kString:
      json_append_quoted(out, std::get<std::string>(value_));
      break;
    case Type::kArray: {
      out.push_back('[');
      bool first = true;
      for (const auto& v : std::get<Array>(value_)) {
        if (!first) out.push_back(',');
        first = false;
        v.dump_to(out);
      }
      out.push_back(']');
      break;
    }
    case Type::kObject: {
      out.push_back('{');
      bool first = true;
      for (const auto& m : std::get<Object>(value_)) {
        if (!first) out.push_back(',');
        first = false;
        json_append_quoted(out, m.first);
        out.push_back(':');
        m.second.dump_to(out);
      }
      out.push_back('}');
      break;
    }
  }
}

namespace {
[[noreturn]] void type_error(const char* want, Json::Type got) {
  throw Error(std::string("[json] expected ") + want + ", got " + Json::type_name(got));
}
}  // namespace

bool Json::as_bool() const {
  if (!is_bool()) type_error("bool", type());
  return std::get<bool>(value_);
}

int64_t Json::as_int() const {
  if (is_int()) return std::get<int64_t>(value_);
  if (is_double()) {
    double d = std::get<double>(value_);
    // 2^63 is exactly representable; the valid range is [-2^63, 2^63).
    if (std::isfinite(d) && d == std::floor(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0) {
      return static_cast<int64_t>(d);
    }
    throw Error("[json] expected an integer, got the non-integral number " + dump());
  }
  type_error("int", type());
}

double Json::as_double() const {
  if (is_double()) return std::get<double>(value_);
  if (is_int()) return static_cast<double>(std::get<int64_t>(value_));
  type_error("number", type());
}

const std::string& Json::as_string() const {
  if (!is_string()) type_error("string", type());
  return std::get<std::string>(value_);
}

const Json::Array& Json::as_array() const {
  if (!is_array()) type_error("array", type());
  return std::get<Array>(value_);
}

Json::Array& Json::as_array() {
  if (!is_array()) type_error("array", type());
  return std::get<Array>(value_);
}

const Json::Object& Json::as_object() const {
  if (!is_object()) type_error("object", type());
  return std::get<Object>(value_);
}

Json::Object& Json::as_object() {
  if (!is_object()) type_error("object", type());
  return std::get<Object>(value_);
}

size_t Json::size() const {
  switch (type()) {
    case Type::kString:
      return std::get<std::string>(value_).size();
    case Type::kArray:
      return std::get<Array>(value_).size();
    case Type::kObject:
      return std::get<Object>(value_).size();
    default:
      return 0;
  }
}

const Json* Json::find(std::string_view key) const {
  if (!is_object()) type_error("object", type());
  for (const auto& m : std::get<Object>(value_)) {
    if (m.first == key) return &m.second;
  }
  return nullptr;
}

Json* Json::find(std::string_view key) {
  return const_cast<Json*>(static_cast<const Json*>(this)->find(key));
}

const Json& Json::operator[](std::string_view key) const {
  const Json* v = find(key);
  if (v == nullptr) throw Error("[json] missing key '" + std::string(key) + "'");
  return *v;
}

Json& Json::operator[](std::string_view key) {
  if (is_null()) value_ = Object{};
  if (Json* v = find(key)) return *v;
  auto& obj = std::get<Object>(value_);
  obj.emplace_back(std::string(key), Json());
  return obj.back().second;
}

const Json& Json::operator[](size_t i) const {
  const Array& a = as_array();
  if (i >= a.size()) {
    throw Error("[json] index " + std::to_string(i) + " out of range for an array of size " +
                std::to_string(a.size()));
  }
  return a[i];
}

Json& Json::operator[](size_t i) {
  return const_cast<Json&>(static_cast<const Json&>(*this)[i]);
}

Json& Json::set(std::string_view key, Json value) {
  (*this)[key] = std::move(value);
  return *this;
}

Json& Json::push_back(Json value) {
  if (is_null()) value_ = Array{};
  as_array().push_back(std::move(value));
  return *this;
}

bool Json::operator==(const Json& other) const {
  if (is_number() && other.is_number()) {
    if (is_int() && other.is_int()) return std::get<int64_t>(value_) == std::get<int64_t>(other.value_);
    return as_double() == other.as_double();
  }
  if (type() != other.type()) return false;
  switch (type()) {
    case Type::kNull:
      return true;
    case Type::kBool:
      return std::get<bool>(value_) == std::get<bool>(other.value_);
    case Type::kString:
      return std::get<std::string>(value_) == std::get<std::string>(other.value_);
    case Type::kArray:
      return std::get<Array>(value_) == std::get<Array>(other.value_);
    case Type::kObject:
      return std::get<Object>(value_) == std::get<Object>(other.value_);
    default:
      return false;
  }
}

}  // namespace sra
