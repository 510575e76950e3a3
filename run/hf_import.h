// Hugging Face Llama-architecture directories (Llama, Mistral, Qwen2) → SRA models (docs/hf.md).
//
// config.json (read_hf_config): model_type llama | mistral | qwen2 (architectures, when given, the
// matching *ForCausalLM); hidden_act silu; vocab_size, hidden_size, intermediate_size,
// num_hidden_layers, num_attention_heads, num_key_value_heads (default: the heads), head_dim (when given,
// hidden_size / heads), rms_norm_eps, rope_theta (default 10000), rope_scaling null or rope_type
// "llama3" (factor, low_freq_factor, high_freq_factor, original_max_position_embeddings; transformers
// 5's rope_parameters too, rope_type default or llama3), tie_word_embeddings (default false),
// max_position_embeddings. Llama's attention_bias and mlp_bias must be false; Qwen2 has q/k/v biases
// (qkv_bias) and no o_proj bias; Qwen2's use_sliding_window must be false (and layer_types all
// full_attention); Mistral's sliding_window must be null or >= the context (then model.max_seq_len is
// capped to it, where the window changes nothing); attention_dropout must be 0. Anything else among
// those keys is an error naming the key: "[hf] DIR/config.json: rope_scaling.rope_type 'yarn' is not
// supported (llama3)". Other keys (token ids, initializer_range, use_cache, ...) are ignored and listed.
//
// Weights (HfWeights): DIR/model.safetensors, else the shards of DIR/model.safetensors.index.json
// (weight_map: tensor → file name in DIR). HF names equal ours (model/transformer.h), and HF's rotary
// layout (rotate_half, q/k weights in HF order) is ours (kernels/rope), so no permutation. load_hf_weights
// checks every name and shape before it copies anything: each LM parameter of the model must be in the
// files with its shape (routers are not: they stay as initialised), every tensor of the files must be a
// parameter (lm_head.weight of a tied model and *.rotary_emb.inv_freq are skipped); the first mismatches
// are listed in one "[hf] DIR: ..." error. Copies go from the mmap into the parameters (on their device).
//
// Tokenizers (hf_tokenizer): DIR/tokenizer.model (sentencepiece: Llama 2, Mistral) loads, else
// DIR/tokenizer.json (byte-level BPE: Llama 3, Qwen2; data/byte_bpe.h); none → not loaded.
//
// SRA extras (docs/hf.md): DIR/sra_config.json and DIR/sra_routers.safetensors, written by export_hf
// (run/hf_export.h), bring back the SRA settings and the trained routers in import_hf (`sra convert
// hf-to-sra`); sra_config.json's "model" keys are only attention, dense_layers, window, sinks and
// shared_router, its "router" keys those of the router section.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "data/tokenizer.h"
#include "model/transformer.h"
#include "run/config.h"

namespace sra {

struct HfConfig {
  std::string dir;
  std::string model_type;   // llama | mistral | qwen2
  TransformerConfig model;  // the architecture keys (vocab .. tie_embeddings, max_seq_len); SRA keys default
  std::string torch_dtype;  // as written ("" when absent)
  std::vector<std::string> ignored_keys;
};

HfConfig read_hf_config(const std::string& dir);
// The same from config.json's text; `where` names it in errors.
HfConfig parse_hf_config(const std::string& json_text, const std::string& where);

// The architecture of hf in cfg.model: vocab_size, d_model, n_layers, n_heads, n_kv_heads, d_ff,
// rope_theta, rope_scaling, qkv_bias, norm_eps, tie_embeddings; max_seq_len only when cap_context (a
// convert: the HF context; a run config keeps its own but may not exceed it). SRA keys stay.
void apply_hf_architecture(RunConfig& cfg, const HfConfig& hf, bool cap_context);

// "hf:DIR" → DIR; "" for any other value.
std::string hf_init_dir(const std::string& init_from);
// For a run config with train.init_from hf:DIR: the architecture (apply_hf_architecture; the SRA keys
// and routers come from the run config: new routers), and data.tokenizer = DIR/tokenizer.model when
// data.tokenizer is empty and the file exists (a tokenizer.json-only DIR is then refused). Throws "[config]
// train.init_from: ..." when the value is not hf:DIR, and the "[hf] ..." errors of read_hf_config.
void resolve_init_from(RunConfig& cfg);

// The safetensors files of a directory and where each tensor is.
class HfWeights {
 public:
  static HfWeights open(const std::string& dir);
  std::vector<std::string> names() const;  // every tensor, sorted
  bool contains(const std::string& name) const;
  Shape shape(const std::string& name) const;
  void read_into(const std::string& name, Tensor& dst) const;
  std::string dtype(const std::string& name) const;  // safetensors dtype name

 private:
  struct Loc {
    std::shared_ptr<class SafetensorsFile> file;
    size_t index;
  };
  const Loc& at(const std::string& name) const;
  std::string dir_;
  std::vector<std::pair<std::string, Loc>> tensors_;  // sorted by name
};

// Copies DIR's weights into m's LM parameters (routers untouched), after checking them all.
void load_hf_weights(const Transformer& m, const std::string& dir);
// Loads DIR/sra_routers.safetensors into m's routers when DIR has one (returns whether it did).
bool load_hf_routers(const Transformer& m, const std::string& dir);

Tokenizer hf_tokenizer(const std::string& dir);

struct HfImport {
  RunConfig config;  // defaults + the architecture (+ SRA extras) + data.tokenizer
  std::unique_ptr<Transformer> model;
  Tokenizer tokenizer;
  HfConfig hf;
};
// A whole directory as a model on `device` (parameters copied from the mmap to the device).
HfImport import_hf(const std::string& dir, Device device = Device::cpu());

// True when one '.'-separated component of a parameter name is "router".
bool is_router_name(const std::string& name);

}  // namespace sra
