// Training prompts for the RL stage, in the eval harness's zero-shot format (eval/prompts.h,
// eval/evaluate.h), so that rollouts, `sra eval` and the held-out evaluation see the same prompts:
//   synthetic  train-split problems 0, 1, 2, ... of the generator with the checkpoint's data.synthetic
//              options and data.seed (evaluation uses the test split); prompt = SyntheticProblem::prompt;
//   gsm8k      DATA/gsm8k/train.jsonl in file order; prompt "Question: {question}\nAnswer:".
// Token ids: eval::encode_prompt (sentencepiece: [BOS] encode(prompt); bytes: byte 0, then the bytes).
// A prompt that does not fit, i.e. tokens + max_new_tokens > model.max_seq_len, is skipped (and counted):
// the replay runs the whole rollout through one forward pass of at most max_seq_len tokens.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/tokenizer.h"
#include "run/config.h"

namespace sra::rl {

struct RlProblem {
  std::string prompt;
  std::string gold;          // what the scorer compares with
  std::vector<int64_t> ids;  // the encoded prompt
};

struct ProblemSet {
  std::vector<RlProblem> problems;
  int64_t considered = 0;  // candidates looked at
  int64_t skipped = 0;     // of them, too long
};

// The first `count` train problems of cfg.rl.dataset (count < 0: every row of a GSM8K file; synthetic
// needs count > 0) that fit max_prompt_tokens. data_dir: the --data-dir flag (resolve_data_dir; unused
// for synthetic).
ProblemSet load_train_problems(const RunConfig& cfg, const Tokenizer& tok, int64_t count,
                               int64_t max_prompt_tokens, const std::string& data_dir);

}  // namespace sra::rl
