// Synthetic multi-hop reasoning problems: an arithmetic chain of variable assignments buried in
// distractor text, then a question about the chain's last variable.
//
//   context:  "... Let k3 = 7. The red fox walked past the library. Set q8 to 40. Let b5 = k3 + 5. Mia
//              bought 12 apples at the market. The value of r1 is b5 * 2. ..."
//   prompt:   context + "\nQuestion: What is the value of r1?\nAnswer:"
//   direct:   " #### 24"
//   step:     " k3 = 7. b5 = k3 + 5 = 12. r1 = b5 * 2 = 24. #### 24"
//   trace:    " r1 = b5 * 2. b5 = k3 + 5. k3 = 7. b5 = 7 + 5 = 12. r1 = 12 * 2 = 24. #### 24"
// The trace form first walks the chain back from the asked variable, one definition per hop (each hop a
// single lookup of the variable just named), then computes forward; the step form starts from the chain's
// constant, which the model must find by resolving the whole chain before its first token.
//
// The chain is x0 = c (c in [1, max_value]), x_i = x_{i-1} op a_i for i = 1..hops, op drawn uniformly
// among those that keep the result an integer in [0, max_value]: + and - with a in [1, 9], * with a in
// [2, 5], / with a in [2, 5] dividing x_{i-1} exactly. The same holds for the unused variables, so the
// arithmetic is exact and answers are short. Statements appear in chain order (a variable is defined
// before it is used), in one of three surface forms: "Let v = e.", "Set v to e.", "The value of v is e.".
// Distractors: unused variables (a constant, or derived from any earlier variable, on or off the chain;
// nothing on the chain depends on them) and sentences from a built-in template list with random names
// and numbers; none of these starts with "Let", "Set" or "The value of". Sentences are joined by one
// space and contain no other '.'. Variable names are a letter and a digit, distinct within a problem.
//
// critical: the byte spans [begin, end) of the hops + 1 chain statements in the prompt (whole sentence,
// final '.' included), in chain order — the tokens a sparse router should select.
//
// Determinism and splits: problem i of split s is drawn from Generator(synthetic_split_seed(seed, s),
// stream = i), so it depends only on (options, s, i), and train / val / test use disjoint random streams
// (different Philox keys): no test problem is generated from a train stream.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/example.h"

namespace sra {

enum class Split : uint8_t { kTrain = 0, kVal = 1, kTest = 2 };
const char* split_name(Split s);
Split split_from_name(const std::string& name);  // "train" | "val" | "test"; else "[data] ..." error

struct SyntheticOptions {
  int min_hops = 2;
  int max_hops = 6;
  int min_distractors = 4;  // distractor sentences per problem, uniform in [min, max] ...
  int max_distractors = 12;
  int64_t context_chars = 0;  // ... and, when > 0, more until the context has at least this many bytes
  int unused_variables = 3;   // assignments off the chain, per problem
  int max_value = 99;         // every value lies in [0, max_value]
  uint64_t seed = 0;
};

enum class SyntheticForm { kDirect, kStepByStep, kTrace };
// "direct" | "step" | "trace" (data.synthetic.form); anything else is a "[data] ..." error.
SyntheticForm synthetic_form_from_name(const std::string& name);

struct SyntheticStep {
  std::string var;
  std::string source;   // the variable it is computed from; "" for the chain's first step (a constant)
  char op = 0;          // '+', '-', '*' or '/'; 0 for the first step
  int64_t operand = 0;  // the constant for the first step
  int64_t value = 0;
};

struct SyntheticProblem {
  Split split = Split::kTrain;
  uint64_t index = 0;
  int hops = 0;                      // chain.size() - 1
  std::vector<SyntheticStep> chain;  // chain order
  std::string context;
  std::string question;  // "What is the value of r1?"
  std::string prompt;    // context + "\nQuestion: " + question + "\nAnswer:"
  std::string direct_target;
  std::string step_target;
  std::string trace_target;
  int64_t answer = 0;
  std::vector<TextSpan> critical;  // in prompt (the context starts at byte 0 of it)
  int num_distractors = 0;         // template sentences
  int num_unused = 0;              // unused variable assignments

  // prompt, the form's target, answer as text, critical spans.
  TextExample example(SyntheticForm form) const;
};

uint64_t synthetic_split_seed(uint64_t base_seed, Split split);
// Throws "[data] synthetic: ..." for inconsistent options.
void validate_synthetic_options(const SyntheticOptions& opt);
SyntheticProblem generate_synthetic(const SyntheticOptions& opt, Split split, uint64_t index);
// Problems first .. first + count - 1 of the split.
std::vector<SyntheticProblem> generate_synthetic_range(const SyntheticOptions& opt, Split split,
                                                       uint64_t first, uint64_t count);

}  // namespace sra
