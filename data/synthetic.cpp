// Synthetic multi-hop problems (see synthetic.h). One Generator per problem; draws in a fixed order:
// hop count, variable names, chain, unused variables, distractor sentences, placement.
#include "data/synthetic.h"

#include <algorithm>
#include <array>

#include "core/check.h"
#include "core/rng.h"

namespace sra {

namespace {

constexpr int kNumNames = 260;  // letter + digit
constexpr int64_t kMaxAddend = 9;
constexpr int64_t kMaxFactor = 5;

const std::vector<std::string> kTemplates = {
    "{P} bought {n} {thing} at the market.",
    "The {color} {animal} walked past the {place}.",
    "{P} read {n} pages of a book about {topic}.",
    "It rained for {n} minutes near the {place}.",
    "{P} and {Q} talked about {topic} for a while.",
    "The train to {city} left at {h} o'clock.",
    "There were {n} {thing} in the {place}.",
    "{P} planted {n} trees behind the {place}.",
    "A {color} bird sang on the roof of the {place}.",
    "{P} scored {n} points in yesterday's game.",
    "The {place} opens at {h} in the morning.",
    "{P} has a {color} {animal} that likes {food}.",
    "Nobody knew why the {place} was painted {color}.",
    "{P} walked {n} kilometers to visit {Q}.",
    "The recipe needs {n} cups of {food}.",
    "{P} likes {food} more than {food}.",
    "On day {n} of the trip, {P} visited {city}.",
    "The old clock in the {place} chimes {n} times a day.",
    "{P} wrote a long letter to {Q} about {topic}.",
    "Every {day}, {P} feeds the {animal} some {food}.",
    "The museum in {city} has {n} paintings of a {animal}.",
    "{P} forgot the keys to the {place} again.",
};
const std::vector<std::string> kPeople = {"Anna", "Ben",   "Carla", "David", "Elena", "Farid", "Grace",
                                          "Hugo", "Iris",  "Jonas", "Keiko", "Liam",  "Maya",  "Noah",
                                          "Olga", "Pedro", "Rosa",  "Sam",   "Tara",  "Victor"};
const std::vector<std::string> kThings = {"apples",  "pencils", "books",  "oranges", "stamps",
                                          "marbles", "cookies", "shells", "cards",   "candles"};
const std::vector<std::string> kColors = {"red",  "blue",  "green", "yellow", "purple",
                                          "gray", "white", "black", "orange", "brown"};
const std::vector<std::string> kAnimals = {"fox", "cat",  "dog",    "horse",   "rabbit",
                                           "owl", "goat", "turtle", "sparrow", "bear"};
const std::vector<std::string> kPlaces = {"library", "bakery", "station", "garden", "school",
                                          "harbor",  "museum", "market",  "bridge", "farm"};
const std::vector<std::string> kTopics = {"history",   "music",     "the ocean", "old maps", "chess",
                                          "gardening", "the stars", "painting",  "trains",   "volcanoes"};
const std::vector<std::string> kCities = {"Lisbon", "Oslo",    "Cairo",  "Lima",  "Kyoto",
                                          "Dublin", "Nairobi", "Quebec", "Hanoi", "Perth"};
const std::vector<std::string> kFoods = {"rice",    "soup",  "bread",   "cheese", "honey",
                                         "noodles", "beans", "carrots", "plums",  "pie"};
const std::vector<std::string> kDays = {"morning", "evening", "Monday", "Sunday", "afternoon"};

const std::string& pick(Generator& g, const std::vector<std::string>& words) {
  return words[g.next_below(words.size())];
}

int64_t uniform_int(Generator& g, int64_t lo, int64_t hi) {  // [lo, hi]
  return lo + int64_t(g.next_below(uint64_t(hi - lo + 1)));
}

std::string fill_template(Generator& g, const std::string& t) {
  std::string out;
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i] != '{') {
      out += t[i];
      continue;
    }
    size_t close = t.find('}', i);
    SRA_ASSERT(close != std::string::npos);
    std::string key = t.substr(i + 1, close - i - 1);
    i = close;
    if (key == "P" || key == "Q")
      out += pick(g, kPeople);
    else if (key == "n")
      out += std::to_string(uniform_int(g, 2, 99));
    else if (key == "h")
      out += std::to_string(uniform_int(g, 1, 12));
    else if (key == "thing")
      out += pick(g, kThings);
    else if (key == "color")
      out += pick(g, kColors);
    else if (key == "animal")
      out += pick(g, kAnimals);
    else if (key == "place")
      out += pick(g, kPlaces);
    else if (key == "topic")
      out += pick(g, kTopics);
    else if (key == "city")
      out += pick(g, kCities);
    else if (key == "food")
      out += pick(g, kFoods);
    else if (key == "day")
      out += pick(g, kDays);
    else
      SRA_ASSERT(false, "unknown template key ", key);
  }
  return out;
}

std::string name_of(int k) {
  return std::string(1, char('a' + k / 10)) + char('0' + k % 10);
}

// A feasible operation on v that keeps the result in [0, max_value].
void draw_op(Generator& g, int64_t v, int64_t max_value, char* op, int64_t* operand, int64_t* result) {
  std::array<int64_t, kMaxFactor + 1> divisors{};  // exact divisors of v in [2, kMaxFactor]
  uint64_t num_divisors = 0;
  for (int64_t k = 2; k <= kMaxFactor; ++k) {
    if (v >= k && v % k == 0) divisors[num_divisors++] = k;
  }
  std::array<char, 4> ops{};
  uint64_t n = 0;
  if (v + 1 <= max_value) ops[n++] = '+';
  if (v >= 1) ops[n++] = '-';
  if (v >= 1 && 2 * v <= max_value) ops[n++] = '*';
  if (num_divisors > 0) ops[n++] = '/';
  SRA_ASSERT(n > 0);
  *op = ops[g.next_below(n)];
  if (*op == '/') {
    *operand = divisors[g.next_below(num_divisors)];
    *result = v / *operand;
  } else if (*op == '+') {
    *operand = uniform_int(g, 1, std::min(kMaxAddend, max_value - v));
    *result = v + *operand;
  } else if (*op == '-') {
    *operand = uniform_int(g, 1, std::min(kMaxAddend, v));
    *result = v - *operand;
  } else {
    *operand = uniform_int(g, 2, std::min(kMaxFactor, max_value / v));
    *result = v * *operand;
  }
}

std::string expr_text(const SyntheticStep& s) {
  if (s.source.empty()) return std::to_string(s.operand);
  return s.source + " " + s.op + " " + std::to_string(s.operand);
}

std::string statement_text(int form, const SyntheticStep& s) {
  if (form == 0) return "Let " + s.var + " = " + expr_text(s) + ".";
  if (form == 1) return "Set " + s.var + " to " + expr_text(s) + ".";
  return "The value of " + s.var + " is " + expr_text(s) + ".";
}

uint64_t mix64(uint64_t z) {  // splitmix64 finaliser
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace

const char* split_name(Split s) {
  switch (s) {
    case Split::kTrain:
      return "train";
    case Split::kVal:
      return "val";
    case Split::kTest:
      return "test";
  }
  return "?";
}

Split split_from_name(const std::string& name) {
  if (name == "train") return Split::kTrain;
  if (name == "val") return Split::kVal;
  if (name == "test") return Split::kTest;
  throw Error("[data] unknown split '" + name + "' (expected train, val or test)");
}

uint64_t synthetic_split_seed(uint64_t base_seed, Split split) {
  return mix64(mix64(base_seed) ^ ((uint64_t(split) + 1) * 0xd1b54a32d192ed03ull));
}

void validate_synthetic_options(const SyntheticOptions& opt) {
  SRA_CHECK(opt.min_hops >= 1 && opt.min_hops <= opt.max_hops,
            "[data] synthetic: need 1 <= min_hops <= ", "max_hops, got ", opt.min_hops, " and ",
            opt.max_hops);
  SRA_CHECK(opt.min_distractors >= 0 && opt.min_distractors <= opt.max_distractors,
            "[data] synthetic: need 0 <= min_distractors <= max_distractors, got ", opt.min_distractors,
            " and ", opt.max_distractors);
  SRA_CHECK(opt.unused_variables >= 0, "[data] synthetic: unused_variables must be >= 0, got ",
            opt.unused_variables);
  SRA_CHECK(opt.max_hops + 1 + opt.unused_variables <= kNumNames, "[data] synthetic: max_hops + 1 + ",
            "unused_variables must be <= ", kNumNames, " (distinct variable names), got ",
            opt.max_hops + 1 + opt.unused_variables);
  SRA_CHECK(opt.context_chars >= 0 && opt.context_chars <= 100000000, "[data] synthetic: context_chars must ",
            "be in [0, 1e8], got ", opt.context_chars);
  SRA_CHECK(opt.max_value >= 1 && opt.max_value <= 1000000000, "[data] synthetic: max_value must be in ",
            "[1, 1e9], got ", opt.max_value);
}

SyntheticProblem generate_synthetic(const SyntheticOptions& opt, Split split, uint64_t index) {
  validate_synthetic_options(opt);
  Generator g(synthetic_split_seed(opt.seed, split), index);
  SyntheticProblem p;
  p.split = split;
  p.index = index;
  p.hops = int(uniform_int(g, opt.min_hops, opt.max_hops));
  const int num_chain = p.hops + 1;
  p.num_unused = opt.unused_variables;

  // Distinct names: a partial Fisher–Yates over the 260 letter+digit names.
  std::array<int, kNumNames> pool{};
  for (int k = 0; k < kNumNames; ++k) pool[size_t(k)] = k;
  const int num_vars = num_chain + p.num_unused;
  for (int k = 0; k < num_vars; ++k) {
    int j = k + int(g.next_below(uint64_t(kNumNames - k)));
    std::swap(pool[size_t(k)], pool[size_t(j)]);
  }

  // All variables: the chain first (0..hops), then the unused ones; each with a surface form.
  std::vector<SyntheticStep> vars(static_cast<size_t>(num_vars));
  std::vector<int> forms(static_cast<size_t>(num_vars));
  std::vector<int> source_of(size_t(num_vars), -1);
  for (int k = 0; k < num_vars; ++k) vars[size_t(k)].var = name_of(pool[size_t(k)]);
  const int64_t max_value = opt.max_value;
  for (int k = 0; k < num_chain; ++k) {
    SyntheticStep& s = vars[size_t(k)];
    forms[size_t(k)] = int(g.next_below(3));
    if (k == 0) {
      s.operand = uniform_int(g, 1, max_value);
      s.value = s.operand;
    } else {
      const SyntheticStep& prev = vars[size_t(k - 1)];
      s.source = prev.var;
      source_of[size_t(k)] = k - 1;
      draw_op(g, prev.value, max_value, &s.op, &s.operand, &s.value);
    }
  }
  for (int k = num_chain; k < num_vars; ++k) {
    SyntheticStep& s = vars[size_t(k)];
    forms[size_t(k)] = int(g.next_below(3));
    if (g.next_below(2) == 0) {
      s.operand = uniform_int(g, 0, max_value);
      s.value = s.operand;
    } else {
      int src = int(g.next_below(uint64_t(k)));
      s.source = vars[size_t(src)].var;
      source_of[size_t(k)] = src;
      draw_op(g, vars[size_t(src)].value, max_value, &s.op, &s.operand, &s.value);
    }
  }

  // Sentences: variable statements [0, num_vars), then distractors.
  std::vector<std::string> sentences;
  int64_t total = -1;  // bytes of the joined context
  for (int k = 0; k < num_vars; ++k) {
    sentences.push_back(statement_text(forms[size_t(k)], vars[size_t(k)]));
    total += int64_t(sentences.back().size()) + 1;
  }
  const int drawn = int(uniform_int(g, opt.min_distractors, opt.max_distractors));
  while (p.num_distractors < drawn || total < opt.context_chars) {
    sentences.push_back(fill_template(g, pick(g, kTemplates)));
    total += int64_t(sentences.back().size()) + 1;
    ++p.num_distractors;
  }

  // Placement: the chain in order; each unused variable somewhere after its source; distractors anywhere.
  std::vector<int> order;
  for (int k = 0; k < num_chain; ++k) order.push_back(k);
  for (int k = num_chain; k < num_vars; ++k) {
    size_t lo = 0;
    if (source_of[size_t(k)] >= 0) {
      lo = size_t(std::find(order.begin(), order.end(), source_of[size_t(k)]) - order.begin()) + 1;
    }
    size_t at = lo + size_t(g.next_below(uint64_t(order.size() - lo + 1)));
    order.insert(order.begin() + long(at), k);
  }
  for (int s = num_vars; s < int(sentences.size()); ++s) {
    size_t at = size_t(g.next_below(uint64_t(order.size() + 1)));
    order.insert(order.begin() + long(at), s);
  }

  p.critical.assign(size_t(num_chain), TextSpan{});
  for (size_t i = 0; i < order.size(); ++i) {
    if (i > 0) p.context += ' ';
    int s = order[i];
    if (s < num_chain) {
      p.critical[size_t(s)] =
          TextSpan{int64_t(p.context.size()), int64_t(p.context.size() + sentences[size_t(s)].size())};
    }
    p.context += sentences[size_t(s)];
  }

  p.chain.assign(vars.begin(), vars.begin() + num_chain);
  const SyntheticStep& last = p.chain.back();
  p.answer = last.value;
  p.question = "What is the value of " + last.var + "?";
  p.prompt = p.context + "\nQuestion: " + p.question + "\nAnswer:";
  p.direct_target = " #### " + std::to_string(p.answer);
  for (const SyntheticStep& s : p.chain) {
    p.step_target += " " + s.var + " = " + expr_text(s);
    if (!s.source.empty()) p.step_target += " = " + std::to_string(s.value);
    p.step_target += ".";
  }
  p.step_target += " #### " + std::to_string(p.answer);
  for (size_t k = p.chain.size(); k-- > 0;)  // back from the asked variable: its definition, hop by hop
    p.trace_target += " " + p.chain[k].var + " = " + expr_text(p.chain[k]) + ".";
  for (size_t k = 1; k < p.chain.size(); ++k) {  // then forward, each source replaced by its value
    const SyntheticStep& s = p.chain[k];
    p.trace_target += " " + s.var + " = " + std::to_string(p.chain[k - 1].value) + " " + s.op + " " +
                      std::to_string(s.operand) + " = " + std::to_string(s.value) + ".";
  }
  p.trace_target += " #### " + std::to_string(p.answer);
  return p;
}

SyntheticForm synthetic_form_from_name(const std::string& name) {
  if (name == "direct") return SyntheticForm::kDirect;
  if (name == "step") return SyntheticForm::kStepByStep;
  if (name == "trace") return SyntheticForm::kTrace;
  throw Error("[data] unknown synthetic form '" + name + "' (expected direct, step or trace)");
}

std::vector<SyntheticProblem> generate_synthetic_range(const SyntheticOptions& opt, Split split,
                                                       uint64_t first, uint64_t count) {
  std::vector<SyntheticProblem> out;
  out.reserve(count);
  for (uint64_t i = 0; i < count; ++i) out.push_back(generate_synthetic(opt, split, first + i));
  return out;
}

TextExample SyntheticProblem::example(SyntheticForm form) const {
  TextExample ex;
  ex.prompt = prompt;
  ex.target = form == SyntheticForm::kDirect  ? direct_target
              : form == SyntheticForm::kTrace ? trace_target
                                              : step_target;
  ex.answer = std::to_string(answer);
  ex.critical = critical;
  return ex;
}

}  // namespace sra
