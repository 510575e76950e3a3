#include "run/model_io.h"

#include <cstring>

#include "run/hf_import.h"

namespace sra {

LoadedModel model_from_config(const RunConfig& cfg) {
  LoadedModel out;
  out.config = cfg;
  out.model = std::make_unique<Transformer>(to_transformer_config(cfg));
  if (cfg.train.base_dtype == "bf16") {
    for (const auto& [name, p] : out.model->named_parameters()) {
      if (!is_base_matrix(name, p)) continue;
      Tensor t = p;                // a handle on the same parameter
      t.set_requires_grad(false);  // frozen (train.base_dtype bf16 needs train.freeze_base)
      cast_in_place(p, DType::bf16);
    }
  }
  return out;
}

bool is_base_matrix(const std::string& name, const Tensor& p) {
  return p.dim() == 2 && !name.ends_with("embed_tokens.weight") && !is_router_name(name);
}

LoadedModel load_model(const std::string& path) {
  return model_from_checkpoint(load_checkpoint(path), path);
}

LoadedModel model_from_checkpoint(const Checkpoint& ckpt, const std::string& path) {
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

void add_tokenizer(Checkpoint& ckpt, const Tokenizer& tok) {
  ckpt.meta["tokenizer"] = tok.loaded() ? tok.path() : "";
  ckpt.meta["tokenizer_hash"] = tok.loaded() ? tok.hash() : "";
  if (!tok.loaded()) return;
  const std::string& bytes = tok.model_bytes();
  Tensor t = Tensor::empty({int64_t(bytes.size())}, DType::u8);
  if (!bytes.empty()) std::memcpy(t.raw(), bytes.data(), bytes.size());
  ckpt.tensors.emplace_back(kTokenizerTensor, t);
}

Tokenizer checkpoint_tokenizer(const Checkpoint& ckpt, const std::string& path,
                               const std::string& fallback_path, const char* component) {
  const std::string head = std::string("[") + component + "] " + path + ": ";
  auto tit = ckpt.meta.find("tokenizer");
  const std::string tok_path = tit != ckpt.meta.end() ? tit->second : fallback_path;
  auto hit = ckpt.meta.find("tokenizer_hash");
  const std::string want = hit != ckpt.meta.end() ? hit->second : "";
  const Tensor* embedded = ckpt.find(kTokenizerTensor);
  if (!embedded && tok_path.empty()) {
    SRA_CHECK(want.empty(), head, "the checkpoint names no tokenizer but has tokenizer_hash '", want, "'");
    return Tokenizer();
  }
  Tokenizer tok;
  try {
    if (embedded) {
      SRA_CHECK(embedded->dtype() == DType::u8 && embedded->dim() == 1, "tensor '", kTokenizerTensor,
                "' is not a u8 vector");
      const auto* p = static_cast<const char*>(embedded->raw());
      tok = Tokenizer::from_bytes(std::string(p, p + embedded->numel()), tok_path);
    } else {
      tok = Tokenizer::load(tok_path);
    }
  } catch (const Error& e) {
    throw Error(head + "cannot load its tokenizer: " + e.what() +
                (embedded ? ""
                          : " (this checkpoint stores only the tokenizer's path, relative to where "
                            "training ran)"));
  }
  SRA_CHECK(want.empty() || tok.hash() == want, head, "tokenizer '", tok_path, "'",
            embedded ? " (embedded)" : "", " has hash ", tok.hash(),
            ", but the checkpoint was trained with tokenizer hash ", want);
  return tok;
}

}  // namespace sra
