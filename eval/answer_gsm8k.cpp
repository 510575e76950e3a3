// GSM8K strict / flexible extraction and exact-match normalisation (see answer_gsm8k.h).
// The two regex scanners reproduce Python re.findall semantics for these specific patterns:
//   strict   "#### (\-?[0-9\.\,]+)": at each start position, literal "#### ", then '-' if present
//            followed by a [0-9.,] (else the '-' is not taken and the match fails there), then a
//            greedy run of [0-9.,]; first match wins.
//   flexible "(-?[$0-9.,]{2,})|(-?[0-9]+)": at each position try alternative 1 (optional '-' then a
//            greedy run of >= 2 of [$0-9.,]; if the run after '-' is too short, retry without the
//            '-', which cannot start a run, so it fails), else alternative 2 (optional '-', digits);
//            on a match continue after it, else advance one byte; the last match wins.
#include "eval/answer_gsm8k.h"

#include "core/strings.h"

namespace sra::eval {

namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_num_char(char c) {
  return is_digit(c) || c == '.' || c == ',';
}
bool is_flex_char(char c) {
  return is_num_char(c) || c == '$';
}

}  // namespace

std::string gsm8k_extract_strict(std::string_view output) {
  size_t from = 0;
  while (true) {
    size_t at = output.find("#### ", from);
    if (at == std::string_view::npos) return kGsm8kInvalid;
    size_t p = at + 5;
    size_t start = p;
    if (p < output.size() && output[p] == '-') ++p;
    size_t run = p;
    while (run < output.size() && is_num_char(output[run])) ++run;
    if (run > p) return trim(output.substr(start, run - start));
    from = at + 1;
  }
}

std::string gsm8k_extract_flexible(std::string_view output) {
  std::string_view last;
  bool found = false;
  size_t i = 0;
  const size_t n = output.size();
  while (i < n) {
    // Alternative 1: -?[$0-9.,]{2,}
    size_t p = i;
    if (output[p] == '-') ++p;
    size_t run = p;
    while (run < n && is_flex_char(output[run])) ++run;
    if (run - p >= 2) {
      last = output.substr(i, run - i);
      found = true;
      i = run;
      continue;
    }
    // Alternative 2: -?[0-9]+
    p = i;
    if (output[p] == '-') ++p;
    run = p;
    while (run < n && is_digit(output[run])) ++run;
    if (run > p) {
      last = output.substr(i, run - i);
      found = true;
      i = run;
      continue;
    }
    ++i;
  }
  if (!found) return kGsm8kInvalid;
  return trim(last);
}

std::string gsm8k_gold_answer(std::string_view reference_answer) {
  size_t at = reference_answer.rfind("####");
  if (at == std::string_view::npos) return "";
  return trim(reference_answer.substr(at + 4));
}

std::string gsm8k_normalize(std::string_view s) {
  std::string t;
  t.reserve(s.size());
  for (char c : s) {
    if (c != ',' && c != '$') t.push_back(c);
  }
  size_t at = t.rfind("#### ");
  if (at != std::string::npos) t.erase(0, at + 5);
  // "\.$": a '.' at the very end, or just before a final newline.
  if (!t.empty() && t.back() == '.') {
    t.pop_back();
  } else if (t.size() >= 2 && t.back() == '\n' && t[t.size() - 2] == '.') {
    t.erase(t.size() - 2, 1);
  }
  for (char& c : t) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return t;
}

bool gsm8k_match(std::string_view extracted, std::string_view gold) {
  return gsm8k_normalize(extracted) == gsm8k_normalize(gold);
}

Gsm8kVerdict gsm8k_score(std::string_view output, std::string_view gold) {
  Gsm8kVerdict v;
  v.strict_extracted = gsm8k_extract_strict(output);
  v.flexible_extracted = gsm8k_extract_flexible(output);
  v.strict_correct = gsm8k_match(v.strict_extracted, gold);
  v.flexible_correct = gsm8k_match(v.flexible_extracted, gold);
  return v;
}

}  // namespace sra::eval
