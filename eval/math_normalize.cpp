// MATH answer normalisation: Hendrycks / prm800k math_normalize and the prm800k-style cleaning and
// key (see math_normalize.h and answer_math.h for the steps in order). Every scan is linear, except the
// LaTeX -> text conversion, which is bounded by a recursion depth limit.
#include "eval/math_normalize.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <vector>

namespace sra::eval {

namespace text {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_letter(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool starts_with(std::string_view s, std::string_view p) {
  return s.substr(0, p.size()) == p;
}
bool ends_with(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}

// Python str.replace.
std::string replace_all(std::string_view s, std::string_view from, std::string_view to) {
  std::string out;
  out.reserve(s.size());
  size_t pos = 0;
  while (true) {
    size_t at = s.find(from, pos);
    if (at == std::string_view::npos) break;
    out.append(s.substr(pos, at - pos));
    out.append(to);
    pos = at + from.size();
  }
  out.append(s.substr(pos));
  return out;
}

// Index of the brace closing the one at s[open] (raw brace counting), or npos.
size_t matching_brace(std::string_view s, size_t open) {
  int depth = 0;
  for (size_t i = open; i < s.size(); ++i) {
    if (s[i] == '{') ++depth;
    if (s[i] == '}' && --depth == 0) return i;
  }
  return std::string_view::npos;
}

}  // namespace text

using namespace text;

namespace {

constexpr int kMaxLatexDepth = 40;

// Python str.split(sep).
std::vector<std::string_view> split(std::string_view s, std::string_view sep) {
  std::vector<std::string_view> parts;
  size_t pos = 0;
  while (true) {
    size_t at = s.find(sep, pos);
    if (at == std::string_view::npos) break;
    parts.push_back(s.substr(pos, at - pos));
    pos = at + sep.size();
  }
  parts.push_back(s.substr(pos));
  return parts;
}

size_t utf8_len(std::string_view s, size_t i) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  size_t n = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
  return std::min(n, s.size() - i);
}

size_t code_points(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

std::string lower_ascii(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

// ---- Hendrycks / prm800k math_normalize ------------------------------------------------------

std::optional<std::string> fix_fracs(const std::string& s) {
  auto parts = split(s, "\\frac");
  std::string out(parts[0]);
  for (size_t k = 1; k < parts.size(); ++k) {
    std::string_view sub = parts[k];
    out += "\\frac";
    if (sub.empty()) return std::nullopt;  // IndexError in Python
    if (sub[0] == '{') {
      out += sub;
      continue;
    }
    if (code_points(sub) < 2) return s;
    size_t la = utf8_len(sub, 0);
    size_t lb = utf8_len(sub, la);
    std::string_view a = sub.substr(0, la), b = sub.substr(la, lb), post = sub.substr(la + lb);
    out += "{";
    out += a;
    if (b != "{") {
      out += "}{";
      out += b;
      out += "}";
    } else {
      out += "}";
      out += b;
    }
    out += post;
  }
  return out;
}

std::optional<std::string> fix_sqrt(const std::string& s) {
  if (s.find("\\sqrt") == std::string::npos) return s;
  auto parts = split(s, "\\sqrt");
  std::string out(parts[0]);
  for (size_t k = 1; k < parts.size(); ++k) {
    std::string_view sub = parts[k];
    if (sub.empty()) return std::nullopt;  // IndexError in Python
    if (sub[0] != '{') {
      size_t la = utf8_len(sub, 0);
      out += "\\sqrt{";
      out += sub.substr(0, la);
      out += "}";
      out += sub.substr(la);
    } else {
      out += "\\sqrt";
      out += sub;
    }
  }
  return out;
}

// Python's str(int(x)) == x: a canonical integer literal.
bool canonical_int_literal(std::string_view s) {
  if (!s.empty() && s[0] == '-') s.remove_prefix(1);
  if (s.empty() || (s[0] == '0' && s.size() > 1)) return false;
  for (char c : s) {
    if (!is_digit(c)) return false;
  }
  return true;
}

std::string fix_a_slash_b(const std::string& s) {
  auto parts = split(s, "/");
  if (parts.size() != 2) return s;
  if (!canonical_int_literal(parts[0]) || !canonical_int_literal(parts[1]) || parts[0] == "-0" ||
      parts[1] == "-0") {
    return s;
  }
  return "\\frac{" + std::string(parts[0]) + "}{" + std::string(parts[1]) + "}";
}

std::optional<std::string> strip_string(std::string s, bool drop_short_lhs) {
  s = replace_all(s, "\n", "");
  s = replace_all(s, "\\!", "");
  s = replace_all(s, "\\\\", "\\");
  s = replace_all(s, "tfrac", "frac");
  s = replace_all(s, "dfrac", "frac");
  s = replace_all(s, "\\left", "");
  s = replace_all(s, "\\right", "");
  s = replace_all(s, "^{\\circ}", "");
  s = replace_all(s, "^\\circ", "");
  s = replace_all(s, "\\$", "");
  if (s.find("\\text{ ") != std::string::npos) {
    auto parts = split(s, "\\text{ ");
    if (parts.size() != 2) return std::nullopt;  // assert in _remove_right_units
    s = std::string(parts[0]);
  }
  s = replace_all(s, "\\%", "");
  s = replace_all(s, " .", " 0.");
  s = replace_all(s, "{.", "{0.");
  if (s.empty()) return s;
  if (s[0] == '.') s = "0" + s;
  if (drop_short_lhs) {
    auto parts = split(s, "=");
    if (parts.size() == 2 && code_points(parts[0]) <= 2) s = std::string(parts[1]);
  }
  auto sq = fix_sqrt(s);
  if (!sq) return std::nullopt;
  s = replace_all(*sq, " ", "");
  auto fr = fix_fracs(s);
  if (!fr) return std::nullopt;
  s = *fr;
  if (s == "0.5") s = "\\frac{1}{2}";
  return fix_a_slash_b(s);
}

// ^\\text\{(?P<text>.+?)\}$ : the whole answer is one \text{...}.
bool whole_text_wrapper(std::string_view s, std::string_view* content) {
  if (s.size() < 8 || !starts_with(s, "\\text{") || s.back() != '}') return false;
  std::string_view c = s.substr(6, s.size() - 7);
  if (c.find('\n') != std::string_view::npos) return false;
  *content = c;
  return true;
}

// ---- prm800k-style normalisation ---------------------------------------------------------------

bool is_text_macro(std::string_view name) {
  static const std::string_view kNames[] = {"text",   "textbf", "textit",      "textrm", "textnormal",
                                            "textsf", "mbox",   "mathrm",      "mathbf", "mathit",
                                            "mathsf", "textup", "operatorname"};
  for (auto n : kNames) {
    if (name == n) return true;
  }
  return false;
}

// \text{X} (and the like) -> " X ", innermost content kept.
std::string unwrap_text_macros(std::string_view s) {
  std::string out;
  size_t i = 0;
  std::string work(s);
  // Each pass removes one level; nesting is rare, so a few passes suffice.
  for (int pass = 0; pass < 4; ++pass) {
    out.clear();
    bool changed = false;
    i = 0;
    while (i < work.size()) {
      if (work[i] == '\\') {
        size_t j = i + 1;
        while (j < work.size() && is_letter(work[j])) ++j;
        std::string_view name(work.data() + i + 1, j - i - 1);
        if (is_text_macro(name)) {
          size_t k = j;
          while (k < work.size() && work[k] == ' ') ++k;
          if (k < work.size() && work[k] == '{') {
            size_t close = matching_brace(work, k);
            if (close != std::string::npos) {
              out += " ";
              out.append(work, k + 1, close - k - 1);
              out += " ";
              i = close + 1;
              changed = true;
              continue;
            }
          }
        }
        out.append(work, i, j - i);
        i = j;
        continue;
      }
      out.push_back(work[i++]);
    }
    work.swap(out);
    if (!changed) break;
  }
  return work;
}

// re.sub(f"{unit}(es)?(s)? *(\^[0-9]+)?", "", s) for each unit, in prm800k's order.
std::string remove_unit_words(std::string s) {
  static const char* kUnits[] = {"degree", "cm",   "centimeter", "meter", "mile", "second", "minute", "hour",
                                 "day",    "week", "month",      "year",  "foot", "feet",   "inch",   "yard"};
  for (const char* unit : kUnits) {
    std::string_view u(unit);
    if (s.find(u) == std::string::npos) continue;
    std::string out;
    size_t i = 0;
    while (i < s.size()) {
      if (s.compare(i, u.size(), u) != 0) {
        out.push_back(s[i++]);
        continue;
      }
      size_t j = i + u.size();
      if (s.compare(j, 2, "es") == 0) j += 2;
      if (j < s.size() && s[j] == 's') ++j;
      while (j < s.size() && s[j] == ' ') ++j;
      if (j + 1 < s.size() && s[j] == '^' && is_digit(s[j + 1])) {
        ++j;
        while (j < s.size() && is_digit(s[j])) ++j;
      }
      i = j;
    }
    s.swap(out);
  }
  return s;
}

// re.sub(r"\^ *\\circ", "", s), plus "^{\circ}" and the degree sign.
std::string remove_degrees(std::string s) {
  s = replace_all(s, "^{\\circ}", "");
  s = replace_all(s, "\xC2\xB0", "");
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] == '^') {
      size_t j = i + 1;
      while (j < s.size() && s[j] == ' ') ++j;
      if (s.compare(j, 5, "\\circ") == 0) {
        i = j + 5;
        continue;
      }
    }
    out.push_back(s[i++]);
  }
  return out;
}

// Drops commas that separate thousands: digit ',' ddd followed by a non-digit or the end.
std::string strip_thousands(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == ',' && i > 0 && is_digit(s[i - 1]) && i + 3 < s.size() && is_digit(s[i + 1]) &&
        is_digit(s[i + 2]) && is_digit(s[i + 3]) && (i + 4 == s.size() || !is_digit(s[i + 4]))) {
      continue;
    }
    out.push_back(s[i]);
  }
  return out;
}

// A LaTeX macro argument at s[*i]: {group} content, a \macro token, or one character.
std::string_view read_arg(std::string_view s, size_t* i) {
  while (*i < s.size() && s[*i] == ' ') ++*i;
  if (*i >= s.size()) return {};
  size_t start = *i;
  if (s[start] == '{') {
    size_t close = matching_brace(s, start);
    if (close == std::string_view::npos) close = s.size();
    *i = std::min(close + 1, s.size());
    return s.substr(start + 1, close - start - 1);
  }
  if (s[start] == '\\') {
    size_t j = start + 1;
    while (j < s.size() && is_letter(s[j])) ++j;
    if (j == start + 1 && j < s.size()) ++j;
    *i = j;
    return s.substr(start, j - start);
  }
  *i = start + utf8_len(s, start);
  return s.substr(start, *i - start);
}

bool atomic_text(std::string_view t) {
  if (code_points(t) <= 1) return true;
  size_t k = t[0] == '-' ? 1 : 0;
  if (k == t.size()) return false;
  for (; k < t.size(); ++k) {
    if (!is_digit(t[k]) && t[k] != '.') return false;
  }
  return true;
}

std::string latex_to_text(std::string_view s, int depth);

std::string arg_text(std::string_view arg, int depth) {
  std::string t = latex_to_text(arg, depth + 1);
  return atomic_text(t) ? t : "(" + t + ")";
}

// pylatexenc-like LaTeX -> plain text, enough for the key comparison.
std::string latex_to_text(std::string_view s, int depth) {
  if (depth > kMaxLatexDepth) return std::string(s);
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    if (c != '\\') {
      static const std::pair<std::string_view, std::string_view> kSyms[] = {
          {"\xE2\x88\x9E", "inf"}, {"\xCF\x80", "pi"}, {"\xE2\x88\x9A", "sqrt"}, {"\xE2\x88\xAA", "U"},
          {"\xC2\xB7", "*"},       {"\xC3\x97", "*"},  {"\xE2\x88\x92", "-"}};
      bool replaced = false;
      for (const auto& [from, to] : kSyms) {
        if (s.compare(i, from.size(), from) == 0) {
          out += to;
          i += from.size();
          replaced = true;
          break;
        }
      }
      if (replaced) continue;
      out.push_back(c == '&' ? ',' : c);
      ++i;
      continue;
    }
    size_t j = i + 1;
    while (j < s.size() && is_letter(s[j])) ++j;
    if (j == i + 1 && j < s.size()) ++j;
    std::string_view name = s.substr(i + 1, j - i - 1);
    i = j;
    if (name == "frac" || name == "dfrac" || name == "tfrac" || name == "cfrac") {
      std::string_view a = read_arg(s, &i), b = read_arg(s, &i);
      if (!out.empty() && is_digit(out.back())) out += " ";  // mixed numbers: "3\frac12" -> "3 1/2"
      out += arg_text(a, depth) + "/" + arg_text(b, depth);
    } else if (name == "sqrt") {
      std::string index;
      while (i < s.size() && s[i] == ' ') ++i;
      if (i < s.size() && s[i] == '[') {
        size_t close = s.find(']', i);
        if (close == std::string_view::npos) close = s.size() - 1;
        index = latex_to_text(s.substr(i + 1, close - i - 1), depth + 1);
        i = close + 1;
      }
      std::string_view a = read_arg(s, &i);
      out += index.empty() || index == "2" ? "sqrt(" : "root(" + index + ",";
      out += latex_to_text(a, depth + 1) + ")";
    } else if (is_text_macro(name) || name == "overline" || name == "bar" || name == "vec" || name == "hat" ||
               name == "boxed") {
      out += latex_to_text(read_arg(s, &i), depth + 1);
    } else if (name == "begin" || name == "end") {
      std::string_view env = read_arg(s, &i);
      if (ends_with(env, "matrix")) out += name == "begin" ? "[" : "]";
    } else if (name == "pi") {
      out += "pi";
    } else if (name == "infty") {
      out += "inf";
    } else if (name == "cup") {
      out += "U";
    } else if (name == "cdot" || name == "times") {
      out += "*";
    } else if (name == "div") {
      out += "/";
    } else if (name == "pm") {
      out += "\xC2\xB1";
    } else if (name == "le" || name == "leq") {
      out += "<=";
    } else if (name == "ge" || name == "geq") {
      out += ">=";
    } else if (name == "ne" || name == "neq") {
      out += "!=";
    } else if (name == "\\") {
      out += ";";
    } else if (name == "left" || name == "right" || name == "!" || name == "displaystyle" || name == "circ" ||
               name == "big" || name == "Big" || name == "bigl" || name == "bigr") {
    } else if (name == "," || name == ";" || name == ":" || name == " " || name == "quad" ||
               name == "qquad") {
      out += " ";
    } else if (name.size() == 1 && !is_letter(name[0])) {
      out += name;  // \{ \} \% \$ \_ ...
    } else {
      out += name;  // \sin -> sin, \alpha -> alpha
    }
  }
  return out;
}

// The prm key of an already cleaned answer (see clean_prm).
std::string prm_key(std::string_view cleaned) {
  std::string t = latex_to_text(cleaned, 0);
  // "- *" -> "-"
  std::string u;
  for (size_t i = 0; i < t.size(); ++i) {
    u.push_back(t[i]);
    if (t[i] == '-') {
      while (i + 1 < t.size() && t[i + 1] == ' ') ++i;
    }
  }
  // "([0-9]) +([0-9])" -> "\1+\2" (non-overlapping, like re.sub), then drop spaces and braces.
  std::string v;
  for (size_t i = 0; i < u.size(); ++i) {
    char c = u[i];
    if (is_digit(c) && i + 1 < u.size() && u[i + 1] == ' ') {
      size_t j = i + 1;
      while (j < u.size() && u[j] == ' ') ++j;
      if (j < u.size() && is_digit(u[j])) {
        v.push_back(c);
        v.push_back('+');
        v.push_back(u[j]);
        i = j;
        continue;
      }
    }
    if (c != ' ' && c != '{' && c != '}' && c != '\t' && c != '\n' && c != '\r') v.push_back(c);
  }
  v = lower_ascii(std::move(v));
  if (auto n = integer_value_text(v)) return *n;
  return v;
}

// "\\!" -> "", "\\," "\\;" "\\:" "\\ " -> " ", leaving "\\\\" (a row break) alone.
std::string replace_spacing_macros(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      char d = s[i + 1];
      if (d == '\\') {
        out += "\\\\";
        ++i;
        continue;
      }
      if (d == '!' || d == ',' || d == ';' || d == ':' || d == ' ') {
        if (d != '!') out.push_back(' ');
        ++i;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

// prm800k's _normalize up to (not including) its LaTeX -> text step, keeping LaTeX structure.
std::string clean_prm(std::string_view answer) {
  std::string s(answer);
  std::string_view content;
  if (whole_text_wrapper(s, &content)) s = std::string(content);
  s = unwrap_text_macros(s);
  s = replace_all(s, "\\%", "%");
  s = replace_all(s, "\\$", "$");
  s = replace_all(s, "$", "");
  s = replace_all(s, "%", "");
  s = replace_all(s, " or ", " , ");
  s = replace_all(s, " and ", " , ");
  s = replace_all(s, "million", "*10^6");
  s = replace_all(s, "billion", "*10^9");
  s = replace_all(s, "trillion", "*10^12");
  s = remove_unit_words(std::move(s));
  s = remove_degrees(std::move(s));
  s = trim(s);
  if (s.size() >= 2 && s[0] == '{' && matching_brace(s, 0) == s.size() - 1)
    s = trim(s.substr(1, s.size() - 2));
  // ",\! *" -> "" (thousands written 12,\!345), then the other thin spaces.
  {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s.compare(i, 3, ",\\!") == 0) {
        i += 2;
        while (i + 1 < s.size() && s[i + 1] == ' ') ++i;
        continue;
      }
      out.push_back(s[i]);
    }
    s.swap(out);
  }
  s = replace_all(s, "{,}", ",");
  s = replace_all(s, "\\dfrac", "\\frac");
  s = replace_all(s, "\\tfrac", "\\frac");
  s = replace_all(s, "\\cfrac", "\\frac");
  s = replace_all(s, "\\left", "");
  s = replace_all(s, "\\right", "");
  s = replace_all(s, "\\displaystyle", "");
  s = replace_all(s, "\\qquad", " ");
  s = replace_all(s, "\\quad", " ");
  s = replace_all(s, "~", " ");
  s = replace_spacing_macros(s);
  // "- *" -> "-"
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    out.push_back(s[i]);
    if (s[i] == '-') {
      while (i + 1 < s.size() && s[i + 1] == ' ') ++i;
    }
  }
  out = trim(out);
  // Trailing sentence punctuation ("... + \\frac{1}{5} i.").
  while (!out.empty() && out.back() == '.') out.pop_back();
  return trim(out);
}
}  // namespace

// Python float(x) that is integral; "12", "-3.000", "1e3". Returns the canonical integer text.
std::optional<std::string> integer_value_text(std::string_view x) {
  std::string s = strip_thousands(x);
  size_t i = 0;
  bool neg = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
  size_t int_start = i;
  while (i < s.size() && is_digit(s[i])) ++i;
  std::string int_part = s.substr(int_start, i - int_start);
  std::string frac;
  if (i < s.size() && s[i] == '.') {
    size_t f = ++i;
    while (i < s.size() && is_digit(s[i])) ++i;
    frac = s.substr(f, i - f);
  }
  if (int_part.empty() && frac.empty()) return std::nullopt;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    // Rare in answers; decide through a double when it is small enough to be exact.
    double d = std::strtod(s.c_str(), nullptr);
    size_t j = i + 1;
    if (j < s.size() && (s[j] == '+' || s[j] == '-')) ++j;
    if (j >= s.size()) return std::nullopt;
    while (j < s.size() && is_digit(s[j])) ++j;
    if (j != s.size() || !(d == static_cast<double>(static_cast<int64_t>(d))) || d > 1e15 || d < -1e15) {
      return std::nullopt;
    }
    return std::to_string(static_cast<int64_t>(d));
  }
  if (i != s.size()) return std::nullopt;
  for (char c : frac) {
    if (c != '0') return std::nullopt;
  }
  size_t lead = 0;
  while (lead + 1 < int_part.size() && int_part[lead] == '0') ++lead;
  int_part.erase(0, lead);
  if (int_part.empty()) int_part = "0";
  return (neg && int_part != "0" ? "-" : "") + int_part;
}

// prm800k's _is_frac, restricted to numbers: -?digits/digits with a nonzero denominator.
bool is_numeric_fraction(std::string_view k) {
  if (!k.empty() && k[0] == '-') k.remove_prefix(1);
  size_t slash = k.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == k.size()) return false;
  bool nonzero = false;
  for (size_t i = 0; i < k.size(); ++i) {
    if (i == slash) continue;
    if (!is_digit(k[i])) return false;
    if (i > slash && k[i] != '0') nonzero = true;
  }
  return nonzero;
}

std::string math_normalize_hendrycks(std::string_view answer, bool drop_short_lhs) {
  std::string s = trim(answer);
  std::string_view content;
  if (whole_text_wrapper(s, &content)) s = trim(content);
  auto r = strip_string(s, drop_short_lhs);
  return r ? *r : s;
}

std::string math_clean_prm(std::string_view answer) {
  return clean_prm(answer);
}
std::string math_prm_key(std::string_view cleaned) {
  return prm_key(cleaned);
}
std::string math_normalize_prm(std::string_view answer) {
  return prm_key(clean_prm(answer));
}
std::string strip_thousands_commas(std::string_view s) {
  return strip_thousands(s);
}

}  // namespace sra::eval
