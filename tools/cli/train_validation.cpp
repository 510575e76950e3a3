// See tools/cli/train_validation.h.
#include "tools/cli/train_validation.h"

#include <memory>

#include "data/tokenizer.h"
#include "eval/evaluate.h"
#include "eval/prompts.h"
#include "run/data_prep.h"

namespace sra::cli {

TaskValidator synthetic_task_validator(const RunConfig& cfg, const std::string& tokenizer_path) {
  auto tokenizer = std::make_shared<Tokenizer>();
  if (!tokenizer_path.empty()) *tokenizer = load_data_tokenizer(tokenizer_path);
  auto task = std::make_shared<eval::EvalTask>();
  task->dataset = "synthetic";
  task->problems =
      eval::load_eval_problems("synthetic", "val", "", 0, cfg.train.eval_problems, to_synthetic_options(cfg));
  task->format = eval::make_prompt_format("synthetic", {}, true);
  return [tokenizer, task](Transformer& model) {
    eval::EvalResult er = eval::evaluate(model, *tokenizer, *task, 0, 16);
    return TaskScore{er.accuracy(), er.selected_ratio};
  };
}

}  // namespace sra::cli
