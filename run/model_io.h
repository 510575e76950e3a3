// Building models from run configs and checkpoints. A checkpoint carries its resolved config in
// meta["config"] (YAML) and the parameters and buffers under "model/"; load_model rebuilds the model
// from that config and loads them (all or nothing, with the list of mismatches on failure).
//
// Tokenizers travel inside checkpoints, so that a checkpoint works from any working directory:
//   meta "tokenizer"       the path the tokenizer was loaded from when training ran (informational)
//   meta "tokenizer_hash"  Tokenizer::hash() of the model file ("" for bytes)
//   tensor "tokenizer/model"  u8 [n], the sentencepiece .model file's bytes (absent for bytes)
// checkpoint_tokenizer loads the embedded bytes and checks their hash against meta tokenizer_hash. A
// checkpoint without them (written before they were embedded) falls back to loading meta "tokenizer"
// (else the config's data.tokenizer) as a path from the working directory, with the same hash check.
// Errors: "[<component>] <checkpoint>: cannot load its tokenizer: ...", "[<component>] <checkpoint>:
// tokenizer '<path>' has hash H, but the checkpoint was trained with tokenizer hash W", and "... the
// checkpoint names no tokenizer but has tokenizer_hash 'W'".
#pragma once
#include <memory>
#include <string>

#include "data/tokenizer.h"
#include "model/transformer.h"
#include "run/checkpoint.h"
#include "run/config.h"

namespace sra {

struct LoadedModel {
  RunConfig config;
  std::unique_ptr<Transformer> model;
  int64_t step = 0;
};

// The model of cfg (random initialisation). With train.base_dtype bf16 the base's linear weights
// (is_base_matrix) are frozen and held in bf16 from the start, so the model never holds them in f32 on the
// device: the trainer moves it to the device and the importer writes the bf16 bits into them.
LoadedModel model_from_config(const RunConfig& cfg);
// The parameters train.base_dtype bf16 keeps in bf16: the 2-D weights outside the routers and the token
// embedding (every attention and MLP projection, and an untied lm_head).
bool is_base_matrix(const std::string& name, const Tensor& p);
LoadedModel load_model(const std::string& checkpoint_path);
// The same from a checkpoint already read from `path` (named in errors).
LoadedModel model_from_checkpoint(const Checkpoint& ckpt, const std::string& path);
// A checkpoint of a model with its resolved config (what the trainer writes, without optimizer state).
Checkpoint model_checkpoint(const RunConfig& cfg, const Transformer& m, int64_t step);

inline constexpr const char* kTokenizerTensor = "tokenizer/model";
// Sets meta tokenizer and tokenizer_hash and the tokenizer/model tensor (an unloaded tokenizer, bytes:
// empty meta, no tensor).
void add_tokenizer(Checkpoint& ckpt, const Tokenizer& tok);
// The checkpoint's tokenizer (unloaded for bytes); fallback_path is used when the checkpoint has neither
// the bytes nor meta "tokenizer" (the config's data.tokenizer).
Tokenizer checkpoint_tokenizer(const Checkpoint& ckpt, const std::string& path,
                               const std::string& fallback_path, const char* component);

}  // namespace sra
