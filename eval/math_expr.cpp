// Bounded recursive-descent parser and evaluator for answer expressions (see math_expr.h).
// Parsing builds a flat node vector (at most max_nodes nodes, recursion depth at most max_depth);
// evaluation walks it with exact int64 rationals (products in __int128, reduced by gcd), falling back
// to doubles on overflow or for irrational operations (sqrt of a non-square, pi, fractional powers).
#include "eval/math_expr.h"

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <numbers>
#include <string>
#include <vector>

namespace sra::eval {

namespace {

using i128 = __int128;

struct Value {
  double v = 0;
  bool exact = false;
  int64_t num = 0;
  int64_t den = 1;

  bool valid() const { return !std::isnan(v); }
  static Value invalid() { return from_double(std::nan("")); }
  static Value from_double(double d) {
    Value r;
    r.v = d;
    return r;
  }
  static Value from_rational(i128 n, i128 d) {
    if (d == 0) return invalid();
    if (d < 0) {
      n = -n;
      d = -d;
    }
    i128 a = n < 0 ? -n : n, b = d;
    while (b != 0) {
      i128 t = a % b;
      a = b;
      b = t;
    }
    if (a > 1) {
      n /= a;
      d /= a;
    }
    Value r;
    r.v = static_cast<double>(static_cast<long double>(n) / static_cast<long double>(d));
    if (n >= INT64_MIN && n <= INT64_MAX && d <= INT64_MAX) {
      r.exact = true;
      r.num = static_cast<int64_t>(n);
      r.den = static_cast<int64_t>(d);
    }
    return r;
  }
};

// Finite results only, except an infinity that comes straight from \infty (handled by the caller).
Value checked(double d) {
  return std::isfinite(d) ? Value::from_double(d) : Value::invalid();
}
bool finite_operands(const Value& a, const Value& b) {
  return std::isfinite(a.v) && std::isfinite(b.v);
}

Value add(const Value& a, const Value& b, bool subtract) {
  if (!finite_operands(a, b)) return Value::invalid();
  if (a.exact && b.exact) {
    i128 rhs = static_cast<i128>(b.num) * a.den;
    return Value::from_rational(static_cast<i128>(a.num) * b.den + (subtract ? -rhs : rhs),
                                static_cast<i128>(a.den) * b.den);
  }
  return checked(subtract ? a.v - b.v : a.v + b.v);
}

Value mul(const Value& a, const Value& b) {
  if (!finite_operands(a, b)) return Value::invalid();
  if (a.exact && b.exact) {
    return Value::from_rational(static_cast<i128>(a.num) * b.num, static_cast<i128>(a.den) * b.den);
  }
  return checked(a.v * b.v);
}

Value div(const Value& a, const Value& b) {
  if (!finite_operands(a, b) || b.v == 0 || (b.exact && b.num == 0)) return Value::invalid();
  if (a.exact && b.exact) {
    return Value::from_rational(static_cast<i128>(a.num) * b.den, static_cast<i128>(a.den) * b.num);
  }
  return checked(a.v / b.v);
}

Value power(const Value& base, const Value& e) {
  if (!finite_operands(base, e)) return Value::invalid();
  if (std::fabs(e.v) > 10000) return Value::invalid();
  if (e.exact && e.den == 1 && base.exact && e.num >= -64 && e.num <= 64) {
    if (base.num == 0 && e.num < 0) return Value::invalid();
    Value r = Value::from_rational(1, 1);
    int64_t n = e.num < 0 ? -e.num : e.num;
    for (int64_t k = 0; k < n && r.valid(); ++k) r = mul(r, base);
    if (e.num < 0) r = div(Value::from_rational(1, 1), r);
    return r;
  }
  if (base.v < 0 && e.v != std::floor(e.v)) return Value::invalid();
  if (base.v == 0 && e.v < 0) return Value::invalid();
  return checked(std::pow(base.v, e.v));
}

bool perfect_square(int64_t x, int64_t* root) {
  if (x < 0) return false;
  int64_t r = static_cast<int64_t>(std::sqrt(static_cast<double>(x)));
  while (r > 0 && static_cast<i128>(r) * r > x) --r;
  while (static_cast<i128>(r + 1) * (r + 1) <= x) ++r;
  *root = r;
  return static_cast<i128>(r) * r == x;
}

Value square_root(const Value& a) {
  if (!std::isfinite(a.v) || a.v < 0) return Value::invalid();
  int64_t rn, rd;
  if (a.exact && perfect_square(a.num, &rn) && perfect_square(a.den, &rd))
    return Value::from_rational(rn, rd);
  return checked(std::sqrt(a.v));
}

Value nth_root(const Value& a, const Value& n) {
  if (!finite_operands(a, n) || !(n.exact && n.den == 1 && n.num >= 1 && n.num <= 100))
    return Value::invalid();
  if (n.num == 2) return square_root(a);
  if (a.v < 0) {
    if (n.num % 2 == 0) return Value::invalid();
    return checked(-std::pow(-a.v, 1.0 / static_cast<double>(n.num)));
  }
  double r = std::pow(a.v, 1.0 / static_cast<double>(n.num));
  // Exact when the rounded root is exact (e.g. \sqrt[3]{8}).
  if (a.exact && a.den == 1) {
    double rr = std::round(r);
    Value c = power(Value::from_rational(static_cast<int64_t>(rr), 1), n);
    if (c.exact && c.num == a.num && c.den == 1)
      return c.num >= 0 ? Value::from_rational(static_cast<int64_t>(rr), 1) : c;
  }
  return checked(r);
}

Value factorial(const Value& a) {
  if (!(a.exact && a.den == 1 && a.num >= 0 && a.num <= 170)) return Value::invalid();
  if (a.num <= 20) {
    int64_t r = 1;
    for (int64_t k = 2; k <= a.num; ++k) r *= k;
    return Value::from_rational(r, 1);
  }
  double r = 1;
  for (int64_t k = 2; k <= a.num; ++k) r *= static_cast<double>(k);
  return checked(r);
}

enum class Op { kNum, kVar, kPi, kInf, kNeg, kAdd, kSub, kMul, kDiv, kPow, kSqrt, kRoot, kFact, kAbs };

struct Node {
  explicit Node(Op o = Op::kNum) : op(o) {}
  Op op;
  int a = -1;
  int b = -1;
  Value val;
  int var = 0;
};

class ExprParser {
 public:
  ExprParser(std::string_view s, const ExprLimits& limits) : s_(s), limits_(limits) {}

  // Returns the root node index, or -1 when the text is not a supported expression.
  int parse() {
    if (s_.size() > limits_.max_chars) return -1;
    int root = parse_expr(0);
    skip_ws();
    if (failed_ || root < 0 || pos_ != s_.size()) return -1;
    return root;
  }
  const std::vector<Node>& nodes() const { return nodes_; }
  unsigned variable_mask() const { return var_mask_; }

 private:
  int fail() {
    failed_ = true;
    return -1;
  }
  int add_node(Node n) {
    if (static_cast<int>(nodes_.size()) >= limits_.max_nodes) return fail();
    nodes_.push_back(n);
    return static_cast<int>(nodes_.size()) - 1;
  }
  int binary(Op op, int a, int b) {
    if (a < 0 || b < 0) return fail();
    Node n(op);
    n.a = a;
    n.b = b;
    return add_node(n);
  }
  int unary(Op op, int a) {
    if (a < 0) return fail();
    Node n(op);
    n.a = a;
    return add_node(n);
  }
  int constant(Value v) {
    Node n(Op::kNum);
    n.val = v;
    return add_node(n);
  }

  bool at_end() const { return pos_ >= s_.size(); }
  char peek() const { return at_end() ? '\0' : s_[pos_]; }
  bool starts(std::string_view t) const { return s_.substr(pos_, t.size()) == t; }
  static bool is_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
  static bool is_digit(char c) { return c >= '0' && c <= '9'; }

  // Skips whitespace and the macros that only space or size things; returns true if anything was skipped.
  bool skip_ws() {
    size_t start = pos_;
    while (!at_end()) {
      char c = s_[pos_];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '~') {
        ++pos_;
        continue;
      }
      if (c == '\\' && pos_ + 1 < s_.size()) {
        char d = s_[pos_ + 1];
        if (d == ',' || d == ';' || d == ':' || d == '!' || d == ' ') {
          pos_ += 2;
          continue;
        }
        std::string_view name = macro_name_at(pos_);
        if (name == "left" || name == "right" || name == "quad" || name == "qquad" ||
            name == "displaystyle" || name == "big" || name == "Big" || name == "bigl" || name == "bigr" ||
            name == "Bigl" || name == "Bigr") {
          pos_ += 1 + name.size();
          continue;
        }
        if (name == "text" || name == "mbox" || name == "mathrm" || name == "textrm") {
          // Only an empty or all-space \text{ } is skipped.
          size_t p = pos_ + 1 + name.size();
          while (p < s_.size() && s_[p] == ' ') ++p;
          if (p < s_.size() && s_[p] == '{') {
            size_t q = p + 1;
            while (q < s_.size() && s_[q] == ' ') ++q;
            if (q < s_.size() && s_[q] == '}') {
              pos_ = q + 1;
              continue;
            }
          }
        }
      }
      break;
    }
    return pos_ != start;
  }

  std::string_view macro_name_at(size_t p) const {
    // s_[p] == '\\'
    size_t q = p + 1;
    while (q < s_.size() && is_letter(s_[q])) ++q;
    if (q == p + 1 && q < s_.size()) ++q;  // a one-character macro such as "\{"
    return s_.substr(p + 1, q - p - 1);
  }

  // UTF-8 symbols: π √ ∞ · × − ÷.
  std::string_view utf8_symbol() const {
    static const std::string_view kSyms[] = {"\xCF\x80", "\xE2\x88\x9A", "\xE2\x88\x9E", "\xC2\xB7",
                                             "\xC3\x97", "\xE2\x88\x92", "\xC3\xB7"};
    for (auto sym : kSyms) {
      if (starts(sym)) return sym;
    }
    return {};
  }

  int parse_expr(int depth) {
    if (depth > limits_.max_depth) return fail();
    int left = parse_term(depth);
    while (!failed_) {
      skip_ws();
      bool minus = peek() == '-' || utf8_symbol() == "\xE2\x88\x92";
      if (peek() != '+' && !minus) break;
      pos_ += peek() == '+' || peek() == '-' ? 1 : 3;
      int right = parse_term(depth);
      left = binary(minus ? Op::kSub : Op::kAdd, left, right);
    }
    return left;
  }

  bool starts_primary() {
    char c = peek();
    if (is_letter(c) || c == '(' || c == '{') return true;
    if (c == '\\') {
      std::string_view name = macro_name_at(pos_);
      return name == "frac" || name == "dfrac" || name == "tfrac" || name == "cfrac" || name == "sqrt" ||
             name == "pi" || name == "infty";
    }
    auto sym = utf8_symbol();
    return sym == "\xCF\x80" || sym == "\xE2\x88\x9A" || sym == "\xE2\x88\x9E";
  }

  int parse_term(int depth) {
    int left = parse_factor(depth + 1);
    while (!failed_) {
      skip_ws();
      char c = peek();
      auto sym = utf8_symbol();
      Op op;
      if (c == '*' || sym == "\xC2\xB7" || sym == "\xC3\x97") {
        op = Op::kMul;
        pos_ += c == '*' ? 1 : 2;
      } else if (c == '/' || sym == "\xC3\xB7") {
        op = Op::kDiv;
        pos_ += c == '/' ? 1 : 2;
      } else if (c == '\\' && (macro_name_at(pos_) == "cdot" || macro_name_at(pos_) == "times")) {
        op = Op::kMul;
        pos_ += 1 + macro_name_at(pos_).size();
      } else if (c == '\\' && macro_name_at(pos_) == "div") {
        op = Op::kDiv;
        pos_ += 4;
      } else if (starts_primary()) {
        // Implicit multiplication: 2x, 3\sqrt{2}, (x+1)(x-1), 2\pi r.
        left = binary(Op::kMul, left, parse_power(depth + 1));
        continue;
      } else {
        break;
      }
      left = binary(op, left, parse_factor(depth + 1));
    }
    return left;
  }

  int parse_factor(int depth) {
    if (depth > limits_.max_depth) return fail();
    skip_ws();
    if (peek() == '-' || utf8_symbol() == "\xE2\x88\x92") {
      pos_ += peek() == '-' ? 1 : 3;
      return unary(Op::kNeg, parse_factor(depth + 1));
    }
    if (peek() == '+') {
      ++pos_;
      return parse_factor(depth + 1);
    }
    return parse_power(depth);
  }

  int parse_power(int depth) {
    if (depth > limits_.max_depth) return fail();
    int base = parse_primary(depth + 1);
    while (!failed_) {
      skip_ws();
      if (peek() == '!') {
        ++pos_;
        base = unary(Op::kFact, base);
        continue;
      }
      break;
    }
    skip_ws();
    if (!failed_ && peek() == '^') {
      ++pos_;
      int e = parse_factor(depth + 1);
      base = binary(Op::kPow, base, e);
    }
    return base;
  }

  // Parses "digits", "digits.digits", "digits." or ".digits" at pos_; sets *is_integer.
  int parse_number(bool* is_integer) {
    size_t start = pos_;
    while (is_digit(peek())) ++pos_;
    size_t int_end = pos_;
    size_t frac_digits = 0;
    *is_integer = true;
    if (peek() == '.') {
      size_t p = pos_ + 1;
      while (p < s_.size() && is_digit(s_[p])) ++p;
      frac_digits = p - pos_ - 1;
      if (frac_digits > 0 || int_end > start) {
        *is_integer = false;
        pos_ = p;
      }
    }
    if (pos_ == start) return fail();
    std::string digits(s_.substr(start, int_end - start));
    if (!*is_integer) digits += std::string(s_.substr(int_end + 1, frac_digits));
    size_t lead = 0;
    while (lead + 1 < digits.size() && digits[lead] == '0') ++lead;
    digits.erase(0, lead);
    if (digits.size() <= 18 && frac_digits <= 18) {
      int64_t n = digits.empty() ? 0 : std::stoll(digits);
      int64_t d = 1;
      for (size_t k = 0; k < frac_digits; ++k) d *= 10;
      return constant(Value::from_rational(n, d));
    }
    return constant(checked(std::strtod(std::string(s_.substr(start, pos_ - start)).c_str(), nullptr)));
  }

  // A macro argument: {expr}, or one token (one digit, one letter, or a primary macro such as \pi).
  int parse_arg(int depth) {
    if (depth > limits_.max_depth) return fail();
    skip_ws();
    char c = peek();
    if (c == '{') return parse_primary(depth);
    if (is_digit(c)) {
      ++pos_;
      return constant(Value::from_rational(c - '0', 1));
    }
    if (is_letter(c)) return variable(c);
    if (c == '\\' || !utf8_symbol().empty()) return parse_primary(depth);
    return fail();
  }

  int variable(char c) {
    ++pos_;
    int idx = (c >= 'A' && c <= 'Z') ? c - 'A' : c - 'a';
    var_mask_ |= 1u << idx;
    Node n(Op::kVar);
    n.var = idx;
    return add_node(n);
  }

  // Integer literal at pos_ (no sign), for mixed numbers; -1 if none (pos_ unchanged).
  int try_integer_literal() {
    size_t start = pos_;
    while (is_digit(peek())) ++pos_;
    if (pos_ == start || pos_ - start > 18 || peek() == '.') {
      pos_ = start;
      return -1;
    }
    return constant(Value::from_rational(std::stoll(std::string(s_.substr(start, pos_ - start))), 1));
  }

  // After an integer literal: "\frac{int}{int}" or spaces then "int/int" make a mixed number.
  int try_mixed_fraction() {
    size_t save = pos_;
    size_t nodes_before = nodes_.size();
    bool had_space = skip_ws();
    if (peek() == '\\') {
      std::string_view name = macro_name_at(pos_);
      if (name == "frac" || name == "dfrac" || name == "tfrac") {
        pos_ += 1 + name.size();
        int num = integer_arg();
        int den = num >= 0 ? integer_arg() : -1;
        if (num >= 0 && den >= 0) return binary(Op::kDiv, num, den);
      }
    } else if (had_space && is_digit(peek())) {
      int num = try_integer_literal();
      if (num >= 0 && peek() == '/') {
        ++pos_;
        int den = try_integer_literal();
        if (den >= 0 && !is_letter(peek()) && peek() != '^') return binary(Op::kDiv, num, den);
      }
    }
    pos_ = save;
    nodes_.resize(nodes_before);
    return -1;
  }

  // {digits} or a single digit.
  int integer_arg() {
    skip_ws();
    if (peek() == '{') {
      ++pos_;
      skip_ws();
      int v = try_integer_literal();
      skip_ws();
      if (v < 0 || peek() != '}') return -1;
      ++pos_;
      return v;
    }
    if (is_digit(peek())) {
      char c = s_[pos_++];
      return constant(Value::from_rational(c - '0', 1));
    }
    return -1;
  }

  int parse_group(char close, int depth) {
    ++pos_;  // the opening bracket
    int e = parse_expr(depth + 1);
    skip_ws();
    if (failed_ || peek() != close) return fail();
    ++pos_;
    return e;
  }

  int parse_primary(int depth) {
    if (depth > limits_.max_depth) return fail();
    skip_ws();
    char c = peek();
    if (is_digit(c) || c == '.') {
      bool is_integer = false;
      int n = parse_number(&is_integer);
      if (n >= 0 && is_integer) {
        int frac = try_mixed_fraction();
        if (frac >= 0) return binary(Op::kAdd, n, frac);
      }
      return n;
    }
    if (c == '(') return parse_group(')', depth);
    if (c == '{') return parse_group('}', depth);
    if (c == '|') {
      ++pos_;
      int e = parse_expr(depth + 1);
      skip_ws();
      if (failed_ || peek() != '|') return fail();
      ++pos_;
      return unary(Op::kAbs, e);
    }
    if (is_letter(c)) {
      if (starts("sqrt") && pos_ + 4 < s_.size() && (s_[pos_ + 4] == '(' || s_[pos_ + 4] == '{')) {
        pos_ += 4;
        return unary(Op::kSqrt, parse_primary(depth + 1));
      }
      if (starts("pi")) {
        pos_ += 2;
        return add_node(Node(Op::kPi));
      }
      return variable(c);
    }
    auto sym = utf8_symbol();
    if (sym == "\xCF\x80") {
      pos_ += sym.size();
      return add_node(Node(Op::kPi));
    }
    if (sym == "\xE2\x88\x9E") {
      pos_ += sym.size();
      return add_node(Node(Op::kInf));
    }
    if (sym == "\xE2\x88\x9A") {
      pos_ += sym.size();
      return unary(Op::kSqrt, parse_arg(depth + 1));
    }
    if (c == '\\') {
      std::string_view name = macro_name_at(pos_);
      pos_ += 1 + name.size();
      if (name == "frac" || name == "dfrac" || name == "tfrac" || name == "cfrac") {
        int num = parse_arg(depth + 1);
        int den = parse_arg(depth + 1);
        return binary(Op::kDiv, num, den);
      }
      if (name == "sqrt") {
        skip_ws();
        if (peek() == '[') {
          int index = parse_group(']', depth);
          return binary(Op::kRoot, parse_arg(depth + 1), index);
        }
        return unary(Op::kSqrt, parse_arg(depth + 1));
      }
      if (name == "pi") return add_node(Node(Op::kPi));
      if (name == "infty") return add_node(Node(Op::kInf));
    }
    return fail();
  }

  std::string_view s_;
  ExprLimits limits_;
  size_t pos_ = 0;
  bool failed_ = false;
  unsigned var_mask_ = 0;
  std::vector<Node> nodes_;
};

class Evaluator {
 public:
  Evaluator(const std::vector<Node>& nodes, const Value* vars) : nodes_(nodes), vars_(vars) {}

  Value eval(int i) const {
    const Node& n = nodes_[i];
    switch (n.op) {
      case Op::kNum:
        return n.val;
      case Op::kVar:
        return vars_[n.var];
      case Op::kPi:
        return Value::from_double(std::numbers::pi);
      case Op::kInf:
        return Value::from_double(std::numeric_limits<double>::infinity());
      case Op::kNeg: {
        Value a = eval(n.a);
        if (std::isinf(a.v)) return Value::from_double(-a.v);
        return mul(Value::from_rational(-1, 1), a);
      }
      case Op::kAdd:
        return add(eval(n.a), eval(n.b), false);
      case Op::kSub:
        return add(eval(n.a), eval(n.b), true);
      case Op::kMul:
        return mul(eval(n.a), eval(n.b));
      case Op::kDiv:
        return div(eval(n.a), eval(n.b));
      case Op::kPow:
        return power(eval(n.a), eval(n.b));
      case Op::kSqrt:
        return square_root(eval(n.a));
      case Op::kRoot:
        return nth_root(eval(n.a), eval(n.b));
      case Op::kFact:
        return factorial(eval(n.a));
      case Op::kAbs: {
        Value a = eval(n.a);
        if (!std::isfinite(a.v)) return Value::invalid();
        return a.v < 0 ? mul(Value::from_rational(-1, 1), a) : a;
      }
    }
    return Value::invalid();
  }

 private:
  const std::vector<Node>& nodes_;
  const Value* vars_;
};

bool values_equal(const Value& a, const Value& b) {
  if (a.exact && b.exact) return a.num == b.num && a.den == b.den;
  if (std::isinf(a.v) || std::isinf(b.v)) return a.v == b.v;
  double diff = std::fabs(a.v - b.v);
  double scale = std::fmax(std::fabs(a.v), std::fabs(b.v));
  return diff <= 1e-12 * scale || diff <= 1e-14;
}

struct Parsed {
  ExprParser parser;
  int root = -1;
  Parsed(std::string_view s, const ExprLimits& limits) : parser(s, limits) { root = parser.parse(); }
};

// Rational evaluation points: variable k at point p; point 2 is negative.
Value point_value(int p, int k) {
  int64_t num = 17 + 13 * k + 29 * p;
  int64_t den = 7 + 2 * p + (k % 5);
  if (p == 2) num = -num;
  return Value::from_rational(num, den);
}

}  // namespace

ExprCompare compare_math_expressions(std::string_view a, std::string_view b, const ExprLimits& limits) {
  Parsed pa(a, limits);
  if (pa.root < 0) return ExprCompare::kNotComparable;
  Parsed pb(b, limits);
  if (pb.root < 0) return ExprCompare::kNotComparable;
  unsigned mask = pa.parser.variable_mask() | pb.parser.variable_mask();
  if (__builtin_popcount(mask) > 2) return ExprCompare::kNotComparable;
  Value vars[26];
  int points = mask == 0 ? 1 : 5;
  int defined = 0;
  for (int p = 0; p < points; ++p) {
    for (int k = 0; k < 26; ++k) vars[k] = point_value(p, k);
    Value va = Evaluator(pa.parser.nodes(), vars).eval(pa.root);
    Value vb = Evaluator(pb.parser.nodes(), vars).eval(pb.root);
    if (!va.valid() || !vb.valid()) continue;
    if (!values_equal(va, vb)) return ExprCompare::kDifferent;
    ++defined;
  }
  if (defined == 0 || (mask != 0 && defined < 2)) return ExprCompare::kNotComparable;
  return ExprCompare::kEqual;
}

std::optional<double> evaluate_math_expression(std::string_view text, const ExprLimits& limits) {
  Parsed p(text, limits);
  if (p.root < 0 || p.parser.variable_mask() != 0) return std::nullopt;
  Value vars[26];
  Value v = Evaluator(p.parser.nodes(), vars).eval(p.root);
  if (!v.valid()) return std::nullopt;
  return v.v;
}

}  // namespace sra::eval
