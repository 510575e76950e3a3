#include "run/model_io.h"

namespace sra {

LoadedModel model_from_config(const RunConfig& cfg) {
  LoadedModel out;
  out.config = cfg;
  out.model = std::make_unique<Transformer>(to_transformer_config(cfg));
  return out;
}

LoadedModel load_model(const std::string& path) {
  Checkpoint ckpt = load_checkpoint(path);
  auto it = ckpt.meta.find("config");
  SRA_CHECK(it != ckpt.meta.end(), "[checkpoint] ", path,
            ": no 'config' metadata (not written by sra train?)");
  LoadedModel out = model_from_config(load_config_string(it->second, path + ":config"));
  load_module(*out.model, ckpt);
  out.step = ckpt.step;
  return out;
}

Checkpoint model_checkpoint(const RunConfig& cfg, const Transformer& m, int64_t step) {
  Checkpoint ckpt;
  ckpt.step = step;
  ckpt.meta["config"] = dump_resolved_yaml(cfg);
  add_module(ckpt, m);
  return ckpt;
}

}  // namespace sra
