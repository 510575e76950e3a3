// SRA models → Hugging Face directories that transformers loads as LlamaForCausalLM (Qwen2ForCausalLM
// when the model has q/k/v biases) — docs/hf.md.
//
// export_hf(cfg, model, tokenizer, dir, dtype) writes into dir (created; refused when it exists and is
// not empty):
//   model.safetensors      every LM parameter under its Hugging Face name (the same as ours), as F32 or
//                          BF16; no lm_head.weight when the embeddings are tied; __metadata__ format pt
//   config.json            hf_config_json: the architecture (llama / qwen2 keys), torch_dtype, bos/eos
//                          token ids from the tokenizer when there is one
//   tokenizer.model        the sentencepiece model's bytes, when the model has one
//   sra_config.json        SRA models only: {"format": "sra-hf-extras", "version": 1, "model":
//                          {attention, dense_layers, window, sinks, shared_router}, "router": {the router
//                          section's keys}, "routers_file": "sra_routers.safetensors"}
//   sra_routers.safetensors  SRA models only: every router parameter (F32) and threshold buffer (F64)
//                          under our names (model.layers.{i}.router.* or model.router.*)
// The two sra_* files are ignored by transformers, so the directory stays a plain Llama / Qwen2 for other
// tools; import_hf (run/hf_import.h) reads them back. Errors: "[hf] ...".
#pragma once
#include <string>

#include "core/json.h"
#include "data/tokenizer.h"
#include "model/transformer.h"
#include "run/config.h"

namespace sra {

// dtype: "F32" or "BF16" (model.safetensors; routers always F32 / F64).
Json hf_config_json(const RunConfig& cfg, const Tokenizer& tok, const std::string& dtype);
void export_hf(const RunConfig& cfg, const Transformer& m, const Tokenizer& tok, const std::string& dir,
               const std::string& dtype = "F32");

}  // namespace sra
