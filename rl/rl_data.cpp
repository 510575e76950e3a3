// RL training prompts (see rl/rl_data.h).
#include "rl/rl_data.h"

#include "data/data_dir.h"
#include "eval/evaluate.h"
#include "eval/prompts.h"

namespace sra::rl {

ProblemSet load_train_problems(const RunConfig& cfg, const Tokenizer& tok, int64_t count,
                               int64_t max_prompt_tokens, const std::string& data_dir) {
  const std::string& dataset = cfg.rl.dataset;
  SRA_CHECK(dataset == "synthetic" || dataset == "gsm8k", "[rl] unknown rl.dataset '", dataset,
            "' (use synthetic or gsm8k)");
  const std::string dir = dataset == "synthetic" ? "" : resolve_data_dir(data_dir);
  const eval::PromptFormat format = eval::make_prompt_format(dataset, {}, /*cot=*/true);
  ProblemSet out;
  for (const eval::EvalProblem& p :
       eval::load_eval_problems(dataset, "train", dir, 0, count, to_synthetic_options(cfg))) {
    ++out.considered;
    RlProblem r{format.prompt(p), p.gold, {}};
    r.ids = eval::encode_prompt(tok, r.prompt);
    if (int64_t(r.ids.size()) > max_prompt_tokens) {
      ++out.skipped;
      continue;
    }
    out.problems.push_back(std::move(r));
  }
  return out;
}

}  // namespace sra::rl
