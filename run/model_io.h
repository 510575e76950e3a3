// Building models from run configs and checkpoints. A checkpoint carries its resolved config in
// meta["config"] (YAML) and the parameters and buffers under "model/"; load_model rebuilds the model
// from that config and loads them (all or nothing, with the list of mismatches on failure).
#pragma once
#include <memory>
#include <string>

#include "model/transformer.h"
#include "run/checkpoint.h"
#include "run/config.h"

namespace sra {

struct LoadedModel {
  RunConfig config;
  std::unique_ptr<Transformer> model;
  int64_t step = 0;
};

LoadedModel model_from_config(const RunConfig& cfg);
LoadedModel load_model(const std::string& checkpoint_path);
// A checkpoint of a model with its resolved config (what the trainer writes, without optimizer state).
Checkpoint model_checkpoint(const RunConfig& cfg, const Transformer& m, int64_t step);

}  // namespace sra
