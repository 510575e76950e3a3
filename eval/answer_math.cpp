// MATH answer extraction (last \boxed / \fbox, else "final answer is") and structured equivalence on
// top of the normalisers in math_normalize.h and the evaluator in math_expr.h (the steps, in order, are
// listed in answer_math.h). Every scan is linear or bounded by kMathMaxAnswerChars.
#include "eval/answer_math.h"

#include <cstdint>
#include <vector>

#include "eval/math_expr.h"
#include "eval/math_normalize.h"

namespace sra::eval {

using namespace text;

namespace {

// ---- structure ---------------------------------------------------------------------------------

struct Shape {
  std::string sig;
  std::vector<std::string> elems;
  bool simple = true;  // a scalar or a bracketed tuple (brackets may be dropped when 1 element)
};

// Splits at top-level occurrences of `sep` (outside (), [], {}).
std::vector<std::string> split_top(std::string_view s, std::string_view sep) {
  std::vector<std::string> parts;
  int depth = 0;
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '(' || c == '[' || c == '{') ++depth;
    if (c == ')' || c == ']' || c == '}') --depth;
    if (depth == 0 && s.compare(i, sep.size(), sep) == 0) {
      parts.push_back(trim(s.substr(start, i - start)));
      start = i + sep.size();
      i = start - 1;
    }
  }
  parts.push_back(trim(s.substr(start)));
  return parts;
}

// True when the bracket at s[0] ('(' or '[') is closed by the last character (')' or ']').
bool bracket_spans(std::string_view s) {
  if (s.size() < 2 || (s[0] != '(' && s[0] != '[') || (s.back() != ')' && s.back() != ']')) return false;
  int depth = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '(' || c == '[') ++depth;
    if (c == ')' || c == ']') {
      if (--depth == 0) return i + 1 == s.size();
    }
  }
  return false;
}

void shape_part(const std::string& s, Shape* shape) {
  static const char* kMatrices[] = {"pmatrix", "bmatrix", "matrix", "vmatrix"};
  for (const char* m : kMatrices) {
    std::string begin = std::string("\\begin{") + m + "}", end = std::string("\\end{") + m + "}";
    if (starts_with(s, begin) && ends_with(s, end) && s.size() >= begin.size() + end.size()) {
      std::string inner = s.substr(begin.size(), s.size() - begin.size() - end.size());
      auto rows = split_top(inner, "\\\\");
      if (!rows.empty() && rows.back().empty()) rows.pop_back();
      shape->sig += "M";
      for (const auto& row : rows) {
        auto cells = split_top(row, "&");
        shape->sig += std::to_string(cells.size()) + ";";
        for (auto& c : cells) shape->elems.push_back(c);
      }
      shape->simple = false;
      return;
    }
  }
  if (starts_with(s, "\\{") && ends_with(s, "\\}") && s.size() >= 4) {
    auto elems = split_top(std::string_view(s).substr(2, s.size() - 4), ",");
    shape->sig += "{" + std::to_string(elems.size()) + "}";
    for (auto& e : elems) shape->elems.push_back(e);
    shape->simple = false;
    return;
  }
  if (bracket_spans(s)) {
    auto elems = split_top(std::string_view(s).substr(1, s.size() - 2), ",");
    shape->sig += s[0] + std::to_string(elems.size()) + s.back();
    for (auto& e : elems) shape->elems.push_back(e);
    return;
  }
  auto elems = split_top(s, ",");
  if (elems.size() == 1) {
    shape->sig += "S";
  } else {
    shape->sig += "L";
    shape->sig += std::to_string(elems.size());
  }
  for (auto& e : elems) shape->elems.push_back(e);
}

Shape shape_of(const std::string& cleaned) {
  Shape shape;
  std::string s = strip_thousands_commas(cleaned);
  s = replace_all(s, "\xE2\x88\xAA", "\\cup");
  auto parts = split_top(s, "\\cup");
  if (parts.size() > 1) shape.simple = false;
  for (size_t k = 0; k < parts.size(); ++k) {
    if (k > 0) shape.sig += "U";
    shape_part(parts[k], &shape);
  }
  return shape;
}

MathEquiv element_equiv(const std::string& given, const std::string& gold) {
  std::string kg = math_prm_key(gold), kp = math_prm_key(given);
  if (kg == kp) return {true, "equal keys"};
  if (kp.empty()) return {false, "empty element"};
  if (is_numeric_fraction(kg) && is_numeric_fraction(kp)) return {false, "different fractions (unreduced?)"};
  bool ig = integer_value_text(kg).has_value(), ip = integer_value_text(kp).has_value();
  if (ig != ip) return {false, "integer vs non-integer"};
  if (ig) return {false, "different integers"};
  switch (compare_math_expressions(given, gold)) {
    case ExprCompare::kEqual:
      return {true, "values equal"};
    case ExprCompare::kDifferent:
      return {false, "values differ"};
    default:
      return {false, "not comparable"};
  }
}

// ---- relations (issue 21: a left-hand side is dropped only when it is a bare variable) -----------

struct Relation {
  std::string lhs;
  std::string op;  // "=" or "\in" (as written in the answer)
  std::string rhs;
};

bool is_ascii_alnum(char c) {
  return is_letter(c) || is_digit(c);
}

// Relation macros other than \in: an answer holding one is not split (it stays one string).
bool other_relation_macro(std::string_view name) {
  static const std::string_view kNames[] = {"le",     "leq",      "ge",     "geq",      "ne",   "neq",
                                            "lt",     "gt",       "approx", "equiv",    "sim",  "notin",
                                            "subset", "subseteq", "supset", "supseteq", "cong", "ni"};
  for (auto n : kNames) {
    if (name == n) return true;
  }
  return false;
}

// "lhs = rhs" or "lhs \in rhs" with exactly one relation sign outside (), [], {} and none of <, >,
// "==", "!=", ":=", \le, \ne, ...; both sides non-empty. `s` is a math_clean_prm answer.
std::optional<Relation> split_relation(const std::string& s) {
  if (s.find_first_of("<>") != std::string::npos) return std::nullopt;
  int depth = 0, count = 0;
  size_t at = 0, len = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\\') {
      size_t j = i + 1;
      while (j < s.size() && is_letter(s[j])) ++j;
      std::string_view name(s.data() + i + 1, j - i - 1);
      if (other_relation_macro(name)) return std::nullopt;
      if (name == "in" && depth == 0) {
        ++count;
        at = i;
        len = 3;
      }
      if (j > i + 1) i = j - 1;  // a one-character macro (\{, \\) is read as that character next
      continue;
    }
    if (c == '(' || c == '[' || c == '{') ++depth;
    if (c == ')' || c == ']' || c == '}') --depth;
    if (c == '=' && depth == 0) {
      bool compound = (i > 0 && (s[i - 1] == '!' || s[i - 1] == ':' || s[i - 1] == '=')) ||
                      (i + 1 < s.size() && s[i + 1] == '=');
      if (compound) return std::nullopt;
      ++count;
      at = i;
      len = 1;
    }
  }
  if (count != 1) return std::nullopt;
  Relation r{trim(std::string_view(s).substr(0, at)), s.substr(at, len),
             trim(std::string_view(s).substr(at + len))};
  if (r.lhs.empty() || r.rhs.empty()) return std::nullopt;
  return r;
}

bool greek_letter(std::string_view name) {
  static const std::string_view kNames[] = {
      "alpha",    "beta",    "gamma", "delta",  "epsilon", "varepsilon", "zeta",  "eta",   "theta",
      "vartheta", "iota",    "kappa", "lambda", "mu",      "nu",         "xi",    "rho",   "sigma",
      "tau",      "upsilon", "phi",   "varphi", "chi",     "psi",        "omega", "Gamma", "Delta",
      "Theta",    "Lambda",  "Xi",    "Sigma",  "Phi",     "Psi",        "Omega"};  // not \pi: a constant
  for (auto n : kNames) {
    if (name == n) return true;
  }
  return false;
}

// One letter (ASCII or a Greek macro), optionally with a subscript "_1" or "_{12}": "x", "x_1",
// "\theta", "a_{n}". Never a sign, a coefficient or an expression ("-y", "2x", "x+1", "f(x)").
bool bare_variable(std::string_view lhs) {
  std::string s = replace_all(lhs, " ", "");
  size_t pos = 0;
  if (!s.empty() && is_letter(s[0])) {
    pos = 1;
  } else if (s.size() > 1 && s[0] == '\\') {
    size_t j = 1;
    while (j < s.size() && is_letter(s[j])) ++j;
    if (!greek_letter(std::string_view(s).substr(1, j - 1))) return false;
    pos = j;
  } else {
    return false;
  }
  if (pos == s.size()) return true;
  if (s[pos] != '_' || pos + 1 == s.size()) return false;
  if (s[pos + 1] != '{') return pos + 2 == s.size() && is_ascii_alnum(s[pos + 1]);
  if (s.back() != '}' || s.size() < pos + 4) return false;
  for (size_t k = pos + 2; k + 1 < s.size(); ++k) {
    if (!is_ascii_alnum(s[k])) return false;
  }
  return true;
}

std::string final_phrase_value(std::string_view rest) {
  std::string out;
  bool in_math = false;
  for (size_t i = 0; i < rest.size(); ++i) {
    char c = rest[i];
    if (c == '\n') break;
    if (c == '$') in_math = !in_math;
    if (!in_math && c == '.' && (i + 1 == rest.size() || is_space(rest[i + 1]))) break;
    out.push_back(c);
  }
  std::string t = trim(out);
  if (!t.empty() && t[0] == ':') t = trim(t.substr(1));
  static const std::pair<std::string_view, std::string_view> kWraps[] = {
      {"$$", "$$"}, {"$", "$"}, {"\\(", "\\)"}, {"\\[", "\\]"}};
  for (const auto& [open, close] : kWraps) {
    if (t.size() >= open.size() + close.size() && starts_with(t, open) && ends_with(t, close)) {
      t = trim(t.substr(open.size(), t.size() - open.size() - close.size()));
      break;
    }
  }
  while (!t.empty() && t.back() == '.') t.pop_back();
  return trim(t);
}

size_t rfind_ignore_case(std::string_view text, std::string_view needle) {
  if (text.size() < needle.size()) return std::string_view::npos;
  for (size_t i = text.size() - needle.size() + 1; i-- > 0;) {
    bool match = true;
    for (size_t k = 0; k < needle.size() && match; ++k) {
      char c = text[i + k];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      match = c == needle[k];
    }
    if (match) return i;
  }
  return std::string_view::npos;
}

}  // namespace

std::optional<std::string> math_last_boxed(std::string_view text) {
  size_t b = text.rfind("\\boxed"), f = text.rfind("\\fbox");
  size_t at;
  size_t len;
  if (b != std::string_view::npos && (f == std::string_view::npos || b > f)) {
    at = b;
    len = 6;
  } else if (f != std::string_view::npos) {
    at = f;
    len = 5;
  } else {
    return std::nullopt;
  }
  size_t p = at + len;
  size_t q = p;
  while (q < text.size() && (text[q] == ' ' || text[q] == '\t')) ++q;
  if (q < text.size() && text[q] == '{') {
    size_t close = matching_brace(text, q);
    if (close == std::string_view::npos) return std::nullopt;
    return std::string(text.substr(q + 1, close - q - 1));
  }
  if (q > p && q < text.size()) {
    size_t end = text.find_first_of("$\n", q);
    if (end == std::string_view::npos) end = text.size();
    std::string v = trim(text.substr(q, end - q));
    if (!v.empty()) return v;
  }
  return std::nullopt;
}

std::optional<std::string> math_final_answer_phrase(std::string_view text) {
  static constexpr std::string_view kPhrase = "final answer is";
  size_t at = rfind_ignore_case(text, kPhrase);
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view rest = text.substr(at + kPhrase.size());
  size_t hope = rfind_ignore_case(rest, "i hope it is correct");
  if (hope != std::string_view::npos) rest = rest.substr(0, hope);
  std::string v = final_phrase_value(rest);
  if (v.empty()) return std::nullopt;
  return v;
}

std::optional<std::string> math_extract_answer(std::string_view output) {
  if (auto boxed = math_last_boxed(output)) return boxed;
  return math_final_answer_phrase(output);
}

namespace {

// Steps 1-3 on two answers that are not relations (or on two sides of relations).
MathEquiv equiv_plain(std::string_view given, std::string_view gold) {
  if (math_normalize_hendrycks(given, false) == math_normalize_hendrycks(gold, false)) {
    return {true, "equal after Hendrycks normalisation"};
  }
  std::string cg = math_clean_prm(gold), cp = math_clean_prm(given);
  std::string kg = math_prm_key(cg), kp = math_prm_key(cp);
  if (kg == kp) return {true, "equal after prm normalisation"};
  if (kp.empty()) return {false, "empty answer"};
  Shape sg = shape_of(cg), sp = shape_of(cp);
  bool singles = sg.simple && sp.simple && sg.elems.size() == 1 && sp.elems.size() == 1;
  if (!singles && sg.sig != sp.sig) return {false, "shape differs (" + sg.sig + " vs " + sp.sig + ")"};
  MathEquiv last{false, "no elements"};
  for (size_t k = 0; k < sg.elems.size(); ++k) {
    last = element_equiv(sp.elems[k], sg.elems[k]);
    if (!last.equal) {
      if (sg.elems.size() > 1) last.reason = "element " + std::to_string(k) + ": " + last.reason;
      return last;
    }
  }
  if (sg.elems.size() > 1) last.reason = "element-wise equal";
  return last;
}

MathEquiv with_prefix(std::string prefix, MathEquiv e) {
  e.reason = prefix + e.reason;
  return e;
}

// Both answers are relations: same sign, then the sides as such (an equation may also have its sides
// swapped, or left minus right equal to the gold's up to sign: "y - 2x = 3" for "y = 2x + 3").
MathEquiv equiv_relations(const Relation& p, const Relation& g) {
  if (p.op != g.op) return {false, "relation differs ('" + p.op + "' vs '" + g.op + "')"};
  MathEquiv left = equiv_plain(p.lhs, g.lhs);
  if (left.equal) return with_prefix("left sides equal; right sides: ", equiv_plain(p.rhs, g.rhs));
  if (p.op == "=") {
    if (equiv_plain(p.lhs, g.rhs).equal && equiv_plain(p.rhs, g.lhs).equal) {
      return {true, "sides swapped, each equal"};
    }
    std::string dg = "(" + g.lhs + ")-(" + g.rhs + ")";
    if (compare_math_expressions("(" + p.lhs + ")-(" + p.rhs + ")", dg) == ExprCompare::kEqual ||
        compare_math_expressions("(" + p.rhs + ")-(" + p.lhs + ")", dg) == ExprCompare::kEqual) {
      return {true, "same equation: left minus right sides equal up to sign"};
    }
  }
  return with_prefix("left sides differ ('" + p.lhs + "' vs '" + g.lhs + "'): ", left);
}

}  // namespace

MathEquiv math_equiv_explain(std::string_view given, std::string_view gold) {
  if (given.size() > kMathMaxAnswerChars || gold.size() > kMathMaxAnswerChars) {
    if (math_normalize_hendrycks(given, false) == math_normalize_hendrycks(gold, false)) {
      return {true, "equal after Hendrycks normalisation"};
    }
    return {false, "answer too long for the structured comparison"};
  }
  auto rg = split_relation(math_clean_prm(gold)), rp = split_relation(math_clean_prm(given));
  if (!rg && !rp) return equiv_plain(given, gold);
  if (rg && rp) return equiv_relations(*rp, *rg);
  if (rp) {
    std::string side = "'" + rp->lhs + " " + rp->op + "'";
    if (!bare_variable(rp->lhs)) return {false, side + " kept: its left side is not a bare variable"};
    return with_prefix(side + " dropped; ", equiv_plain(rp->rhs, gold));
  }
  std::string side = "gold's '" + rg->lhs + " " + rg->op + "'";
  if (!bare_variable(rg->lhs)) return {false, side + " kept: the gold is a relation, the answer is not"};
  return with_prefix(side + " dropped; ", equiv_plain(given, rg->rhs));
}

bool math_equiv(std::string_view given, std::string_view gold) {
  return math_equiv_explain(given, gold).equal;
}

MathVerdict math_score(std::string_view output, std::string_view gold) {
  MathVerdict v;
  v.extracted = math_extract_answer(output);
  if (!v.extracted) {
    v.reason = "no answer found";
    return v;
  }
  MathEquiv e = math_equiv_explain(*v.extracted, gold);
  v.correct = e.equal;
  v.reason = e.reason;
  return v;
}

}  // namespace sra::eval
