// The CPU demo: trains a small Llama-style model on a text file's bytes for a wall-clock budget with
// AdamW (warmup + cosine on the step estimate), clipping at 1.0, printing the training loss as it falls,
// then a held-out loss and a short sample. The trainer issue replaces it with the full pipeline.
#pragma once
#include <iosfwd>
#include <string>

#include "model/transformer.h"

namespace sra {

struct TextDemoOptions {
  std::string text_path;  // a text file (e.g. tinyshakespeare/input.txt)
  double seconds = 60;
  int64_t batch = 16;
  int64_t seq_len = 128;
  double lr = 3e-3;
  int64_t log_every = 10;
  uint64_t seed = 1;
  TransformerConfig model;  // vocab 256 (bytes)
};

struct TextDemoResult {
  int64_t steps = 0;
  double first_loss = 0, last_loss = 0, val_loss = 0;
  double tokens_per_second = 0;
};

TextDemoResult run_text_demo(const TextDemoOptions& opt, std::ostream& out);

}  // namespace sra
