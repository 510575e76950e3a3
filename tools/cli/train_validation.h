// The task validator `sra train` wires into the trainer (train/trainer.h TaskValidatorFactory), so that
// train/ never includes eval/: with train.eval_problems = n > 0, each evaluation answers the synthetic
// generator's val-split problems 0..n-1 greedily with the eval harness (eval/evaluate.h: zero-shot,
// deterministic selection, default answer budget, batches of 16) and scores them strictly ("#### N").
// TaskScore.accuracy is the fraction correct, selected_ratio the mean SRA selected ratio while answering.
// The tokenizer is the run's (tokenizer_path, loaded once), or bytes when it is "".
#pragma once
#include <string>

#include "run/config.h"
#include "train/trainer.h"

namespace sra::cli {

TaskValidator synthetic_task_validator(const RunConfig& cfg, const std::string& tokenizer_path);

}  // namespace sra::cli
