// Evaluation problems (GSM8K / MATH files, the synthetic generator) and their zero- and few-shot prompts
// (see prompts.h for every format).
#include "eval/prompts.h"

#include "core/check.h"
#include "data/jsonl.h"
#include "eval/answer_gsm8k.h"

namespace sra::eval {

namespace {

std::string problem_file(const std::string& dataset, const std::string& split) {
  if (dataset == "gsm8k") return split == "train" ? "gsm8k/train.jsonl" : "gsm8k/test.jsonl";
  if (split == "train") return "math/train.jsonl";
  return dataset == "math" ? "math/test.jsonl" : "math/math500_test.jsonl";
}

std::string strip_leading_space(const std::string& s) {
  return !s.empty() && s[0] == ' ' ? s.substr(1) : s;
}

}  // namespace

void check_eval_dataset(const std::string& dataset) {
  SRA_CHECK(dataset == "gsm8k" || dataset == "math" || dataset == "math500" || dataset == "synthetic",
            "[eval] unknown dataset '", dataset, "' (expected gsm8k, math, math500 or synthetic)");
}

std::string dataset_display_name(const std::string& dataset) {
  if (dataset == "gsm8k") return "GSM8K";
  if (dataset == "math") return "MATH";
  if (dataset == "math500") return "MATH-500";
  return "Synthetic";
}

std::vector<EvalProblem> load_eval_problems(const std::string& dataset, const std::string& split,
                                            const std::string& data_dir, int64_t first, int64_t count,
                                            const SyntheticOptions& synthetic) {
  check_eval_dataset(dataset);
  SRA_CHECK(split == "test" || split == "train" || (split == "val" && dataset == "synthetic"),
            "[eval] split must be test or train (or val for synthetic), got '", split, "'");
  SRA_CHECK(first >= 0, "[eval] first problem must be >= 0, got ", first);
  std::vector<EvalProblem> out;
  if (count == 0) return out;
  if (dataset == "synthetic") {
    SRA_CHECK(count > 0, "[eval] the synthetic dataset needs a problem count");
    Split s = split_from_name(split);
    for (const SyntheticProblem& sp :
         generate_synthetic_range(synthetic, s, uint64_t(first), uint64_t(count))) {
      EvalProblem p;
      p.index = int64_t(sp.index);
      p.question = sp.prompt;
      p.reasoning = strip_leading_space(sp.step_target);
      p.direct = strip_leading_space(sp.direct_target);
      p.gold = std::to_string(sp.answer);
      out.push_back(std::move(p));
    }
    return out;
  }
  const std::string path = data_dir + "/" + problem_file(dataset, split);
  int64_t line_index = 0;
  const bool gsm8k = dataset == "gsm8k";
  for_each_jsonl(path, [&](const Json& row, int64_t) {
    const int64_t i = line_index++;
    if (i < first || (count >= 0 && i >= first + count)) return;
    EvalProblem p;
    p.index = i;
    if (gsm8k) {
      p.question = string_field(row, "question");
      p.reasoning = string_field(row, "answer");
      SRA_CHECK(p.reasoning.find("####") != std::string::npos, "[data] GSM8K answer has no '#### N' line");
      p.gold = gsm8k_gold_answer(p.reasoning);
      p.direct = "#### " + p.gold;
    } else {
      p.question = string_field(row, "problem");
      p.reasoning = string_field(row, "solution");
      p.gold = string_field(row, "answer");
      p.direct = "$\\boxed{" + p.gold + "}$";
    }
    out.push_back(std::move(p));
  });
  SRA_CHECK(!out.empty(), "[eval] ", path, " has ", line_index, " problems, none from index ", first);
  return out;
}

std::string question_text(const std::string& dataset, const EvalProblem& p, bool few_shot) {
  if (dataset == "gsm8k") return "Question: " + p.question + "\nAnswer:";
  if (dataset == "synthetic") return p.question;
  check_eval_dataset(dataset);
  return few_shot ? "Problem:\n" + p.question + "\n\nSolution:" : "Problem: " + p.question + "\nSolution:";
}

std::string exemplar_text(const std::string& dataset, const EvalProblem& p, bool cot) {
  std::string target;
  if (dataset == "math" || dataset == "math500") {
    target = cot ? p.reasoning + "\nFinal Answer: The final answer is $" + p.gold + "$. I hope it is correct."
                 : p.direct;
  } else {
    target = cot ? p.reasoning : p.direct;
  }
  return question_text(dataset, p, /*few_shot=*/true) + " " + target;
}

PromptFormat make_prompt_format(const std::string& dataset, const std::vector<EvalProblem>& exemplars,
                                bool cot) {
  check_eval_dataset(dataset);
  PromptFormat f;
  f.dataset = dataset;
  f.shots = int64_t(exemplars.size());
  f.cot = cot;
  for (const EvalProblem& e : exemplars) f.prefix += exemplar_text(dataset, e, cot) + "\n\n";
  if (dataset == "gsm8k") {
    f.stop_strings = {"Question:", "</s>", "<|im_end|>"};
    if (f.shots > 0) f.stop_strings.push_back("\n\n");
  } else if (dataset == "synthetic") {
    f.stop_strings = {"\n"};
  } else {
    f.stop_strings = {"Problem:", "\n\n\n"};
  }
  return f;
}

std::string PromptFormat::prompt(const EvalProblem& p) const {
  return prefix + question_text(dataset, p, shots > 0);
}

std::string cut_at_stop(const std::string& text, const std::vector<std::string>& stops) {
  size_t cut = text.size();
  for (const std::string& s : stops) {
    if (s.empty()) continue;
    size_t at = text.find(s);
    if (at != std::string::npos && at < cut) cut = at;
  }
  return text.substr(0, cut);
}

}  // namespace sra::eval
