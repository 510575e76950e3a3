// `sra generate`: loads a model (a checkpoint, or a freshly initialised one from a run config), encodes a
// prompt (sentencepiece: a checkpoint's own tokenizer, checkpoint_tokenizer in run/model_io.h, embedded
// or by path with its hash checked; with --config, data.tokenizer; else bytes), generates, and prints the
// answer;
// --show-selection prints the audit trail (critical tokens highlighted) with selected counts, cache bytes
// and multiply-adds against a dense model of the same shape; --html writes the audit page.
// Context: the prompt and the answer must fit the model's context (model.max_seq_len): a prompt of
// max_seq_len tokens or more is a usage error naming --prompt; a larger --max-new-tokens is capped to
// max_seq_len - prompt tokens with a warning on `log` (context_budget). With `stream` (the CLI sets it
// when stdout is a terminal) the prompt is printed first and each piece of the answer as it is generated
// (a trailing incomplete UTF-8 character waits for its next token); the text printed is the same.
// Device: --device (cpu, cuda or cuda:N; run/config.h); without it, a --config model runs on the
// config's `device` and a checkpoint on the CPU. The model is built or loaded on the CPU, then moved.
#pragma once
#include <iosfwd>
#include <string>
#include <vector>

#include "model/generate.h"

namespace sra {

struct GenerateRunOptions {
  std::string checkpoint;              // a checkpoint written by sra train, or
  std::string config;                  // a run config (random initialisation from model.seed)
  std::vector<std::string> overrides;  // --set a.b=c (with --config)
  std::string prompt;
  GenerateConfig gen;
  bool show_selection = false;
  bool colour = false;  // ANSI highlighting (a terminal); else [brackets]
  std::string html;     // write the audit page here
  bool stream = false;  // print the answer token by token
  std::string device;   // "": the config's device (--config) or cpu (--checkpoint)
};

int run_generate(const GenerateRunOptions& opt, std::ostream& out, std::ostream& log);

// The answer length for a prompt of prompt_tokens: max_new_tokens, capped (with a warning on `log`) so
// that prompt + answer fit max_seq_len; CLI::ValidationError("--prompt") when no answer fits.
int64_t context_budget(int64_t prompt_tokens, int64_t max_new_tokens, int64_t max_seq_len, std::ostream& log);

}  // namespace sra
