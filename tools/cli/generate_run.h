// `sra generate`: loads a model (a checkpoint, or a freshly initialised one from a run config), encodes a
// prompt (sentencepiece: a checkpoint's own tokenizer, checkpoint_tokenizer in run/model_io.h, embedded
// or by path with its hash checked; with --config, data.tokenizer; else bytes), generates, and prints the
// answer;
// --show-selection prints the audit trail (critical tokens highlighted) with selected counts, cache bytes
// and multiply-adds against a dense model of the same shape; --html writes the audit page.
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
};

int run_generate(const GenerateRunOptions& opt, std::ostream& out);

}  // namespace sra
