// Evaluation problems and prompts for `sra eval` (model-based evaluation).
//
// Problems (load_eval_problems), index = 0-based line of the file / problem index of the split:
//   gsm8k     gsm8k/test.jsonl (exemplars: gsm8k/train.jsonl)   question = "question"; reasoning = "answer"
//             (steps + "#### N"); gold = the text after its last "####", stripped; direct = "#### " + gold.
//   math      math/test.jsonl            (exemplars: math/train.jsonl)   question = "problem";
//   math500   math/math500_test.jsonl    (exemplars: math/train.jsonl)   reasoning = "solution";
//             gold = "answer"; direct = "$\boxed{" + gold + "}$".
//   synthetic the synthetic generator (data/synthetic.h) with the checkpoint's data.synthetic.* options and
//             data.seed: the TEST split for evaluation, the TRAIN split for exemplars, so no evaluated
//             problem was trained on. question = SyntheticProblem::prompt (context + "\nQuestion: ...?\n
//             Answer:"); reasoning = step_target, direct = direct_target (both without their leading
//             space); gold = the answer as a decimal integer.
//   Problems first .. first + count − 1, fewer when the file ends before (as lm-evaluation-harness's
//   --limit); count < 0: to the end of the file (synthetic needs count >= 0); none at all is an error.
//
// Prompts (PromptFormat::prompt(p) = prefix + question block):
//   zero-shot (shots = 0): the training format of data/math_datasets.h and data/synthetic.h —
//     gsm8k      "Question: {question}\nAnswer:"
//     math(500)  "Problem: {problem}\nSolution:"
//     synthetic  SyntheticProblem::prompt
//   few-shot (shots = K > 0): lm-evaluation-harness's formats; the exemplars are the FIRST K problems of
//   the exemplar file / train split, each followed by "\n\n" (the fewshot delimiter), then the question:
//     gsm8k      exemplar "Question: {q}\nAnswer: {target}", question "Question: {q}\nAnswer:"
//                (the gsm8k task's doc_to_text / target_delimiter " ")
//     math(500)  Minerva style: exemplar "Problem:\n{p}\n\nSolution: {target}", question
//                "Problem:\n{p}\n\nSolution:" (minerva_math; its 4 hand-written exemplars are replaced by
//                the first K of math/train.jsonl)
//     synthetic  exemplar "{prompt} {target}", question "{prompt}"
//   target, chosen by cot (--cot, the default) or direct (--direct):
//     gsm8k      cot: the reference answer (reasoning + "#### N");   direct: "#### N"
//     math(500)  cot: the solution + "\nFinal Answer: The final answer is ${answer}$. I hope it is correct."
//                (Minerva's ending); direct: "$\boxed{answer}$"
//     synthetic  cot: step_target ("k3 = 7. b5 = k3 + 5 = 12. ... #### 24"); direct: "#### 24"
//   Zero-shot prompts do not depend on cot / direct (the model answers in its trained form).
// Stop strings (generation stops when the decoded answer contains one; the answer is cut before the
// earliest occurrence, as lm-evaluation-harness's `until` does), besides the model's end-of-text:
//     gsm8k      "Question:", "</s>", "<|im_end|>" (lm-evaluation-harness's gsm8k), and "\n\n" few-shot
//     math(500)  "Problem:", "\n\n\n"
//     synthetic  "\n" (targets are one line)
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/synthetic.h"

namespace sra::eval {

struct EvalProblem {
  int64_t index = 0;
  std::string question;   // GSM8K question, MATH problem, synthetic prompt
  std::string reasoning;  // the reference answer with its steps (see above)
  std::string direct;     // the answer alone in the dataset's final-answer form
  std::string gold;       // what the scorer compares with
};

// "gsm8k", "math", "math500" or "synthetic"; else throws "[eval] unknown dataset ...".
void check_eval_dataset(const std::string& dataset);
std::string dataset_display_name(const std::string& dataset);  // "GSM8K", "MATH", "MATH-500", "Synthetic"

// split: "test" (evaluation) or "train" (exemplars); synthetic also "val" (the trainer's validation).
// `synthetic` is used for the synthetic dataset only.
std::vector<EvalProblem> load_eval_problems(const std::string& dataset, const std::string& split,
                                            const std::string& data_dir, int64_t first, int64_t count,
                                            const SyntheticOptions& synthetic = {});

struct PromptFormat {
  std::string dataset;
  int64_t shots = 0;
  bool cot = true;
  std::string prefix;  // the exemplars, each followed by "\n\n"; "" zero-shot
  std::vector<std::string> stop_strings;
  std::string prompt(const EvalProblem& p) const;
};

// shots = exemplars.size() (0: zero-shot).
PromptFormat make_prompt_format(const std::string& dataset, const std::vector<EvalProblem>& exemplars,
                                bool cot);
// One exemplar (without the trailing "\n\n") and the question block, as described above.
std::string exemplar_text(const std::string& dataset, const EvalProblem& p, bool cot);
std::string question_text(const std::string& dataset, const EvalProblem& p, bool few_shot);
// `text` cut before the earliest occurrence of any of `stops` (empty stops ignored).
std::string cut_at_stop(const std::string& text, const std::vector<std::string>& stops);

}  // namespace sra::eval
