// GSM8K answer extraction and matching, as lm-evaluation-harness's gsm8k task defines them.
//   strict-match:     the first match of the regex "#### (\-?[0-9\.\,]+)" (the capture group), stripped.
//   flexible-extract: the last match of "(-?[$0-9.,]{2,})|(-?[0-9]+)" (its non-empty group), stripped.
//   Either one is "[invalid]" when the regex finds nothing.
//   gold:             the reference "answer" text after its last "####", stripped.
//   match:            both sides go through, in this order: remove every ',', remove every '$', remove
//                     everything up to and including the last "#### ", remove one '.' at the end (or
//                     just before a final '\n'), lower-case; then they must be equal as strings.
// The scanners are hand-written (linear time, no std::regex) and give the same matches as Python's re.
#pragma once
#include <string>
#include <string_view>

namespace sra::eval {

inline constexpr const char* kGsm8kInvalid = "[invalid]";

std::string gsm8k_extract_strict(std::string_view output);
std::string gsm8k_extract_flexible(std::string_view output);
// Text after the last "####" of a reference solution, stripped; "" when there is no "####".
std::string gsm8k_gold_answer(std::string_view reference_answer);
// The exact-match normalisation (regexes_to_ignore ",", "\$", "(?s).*#### ", "\.$"; ignore_case).
std::string gsm8k_normalize(std::string_view s);
// gsm8k_normalize(extracted) == gsm8k_normalize(gold).
bool gsm8k_match(std::string_view extracted, std::string_view gold);

struct Gsm8kVerdict {
  std::string strict_extracted;
  std::string flexible_extracted;
  bool strict_correct = false;
  bool flexible_correct = false;
};
// Both extractions of `output`, each matched against `gold` (the number after "####").
Gsm8kVerdict gsm8k_score(std::string_view output, std::string_view gold);

}  // namespace sra::eval
