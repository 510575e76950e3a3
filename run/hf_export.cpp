// SRA models → Hugging Face directories (layout in run/hf_export.h).
#include "run/hf_export.h"

#include <filesystem>
#include <fstream>

#include "run/hf_import.h"
#include "run/safetensors.h"

namespace sra {

namespace fs = std::filesystem;

namespace {

void write_file(const fs::path& p, const std::string& bytes) {
  const std::string tmp = p.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << bytes;
    out.flush();
    SRA_CHECK(out.good(), "[hf] cannot write '", tmp, "'");
  }
  std::error_code ec;
  fs::rename(tmp, p, ec);
  SRA_CHECK(!ec, "[hf] cannot rename '", tmp, "' to '", p.string(), "': ", ec.message());
}

Json sra_extras(const RunConfig& cfg) {
  const ModelSection& m = cfg.model;
  Json dense = Json::array();
  for (int64_t l : m.dense_layers) dense.push_back(l);
  const RouterSection& r = cfg.router;
  return Json::object({{"format", "sra-hf-extras"},
                       {"version", 1},
                       {"model", Json::object({{"attention", m.attention},
                                               {"dense_layers", dense},
                                               {"window", m.window},
                                               {"sinks", m.sinks},
                                               {"shared_router", m.shared_router}})},
                       {"router", Json::object({{"hidden", r.hidden},
                                                {"target_ratio", r.target_ratio},
                                                {"temperature", r.temperature},
                                                {"temperature_final", r.temperature_final},
                                                {"threshold_lr", r.threshold_lr},
                                                {"threshold_update", r.threshold_update},
                                                {"budget_weight", r.budget_weight},
                                                {"init_threshold", r.init_threshold}})},
                       {"routers_file", "sra_routers.safetensors"}});
}

}  // namespace

Json hf_config_json(const RunConfig& cfg, const Tokenizer& tok, const std::string& dtype) {
  const ModelSection& m = cfg.model;
  const bool qwen = m.qkv_bias;
  Json j = Json::object({{"architectures", Json::array({qwen ? "Qwen2ForCausalLM" : "LlamaForCausalLM"})},
                         {"model_type", qwen ? "qwen2" : "llama"},
                         {"vocab_size", m.vocab_size},
                         {"hidden_size", m.d_model},
                         {"intermediate_size", m.d_ff},
                         {"num_hidden_layers", m.n_layers},
                         {"num_attention_heads", m.n_heads},
                         {"num_key_value_heads", m.n_kv_heads},
                         {"hidden_act", "silu"},
                         {"max_position_embeddings", m.max_seq_len},
                         {"rms_norm_eps", m.norm_eps},
                         {"rope_theta", m.rope_theta},
                         {"tie_word_embeddings", m.tie_embeddings},
                         {"attention_dropout", 0.0},
                         {"torch_dtype", dtype == "BF16" ? "bfloat16" : "float32"}});
  if (!qwen) {
    j.set("head_dim", m.d_model / m.n_heads);
    j.set("attention_bias", false);
    j.set("mlp_bias", false);
  } else {
    j.set("use_sliding_window", false);
    j.set("max_window_layers", m.n_layers);
  }
  if (m.rope_scaling.type == "llama3") {
    const RopeScalingConfig& r = m.rope_scaling;
    j.set("rope_scaling",
          Json::object({{"rope_type", "llama3"},
                        {"factor", r.factor},
                        {"low_freq_factor", r.low_freq_factor},
                        {"high_freq_factor", r.high_freq_factor},
                        {"original_max_position_embeddings", r.original_max_position_embeddings}}));
  } else {
    j.set("rope_scaling", nullptr);
  }
  if (tok.loaded()) {
    if (tok.bos_id() >= 0) j.set("bos_token_id", tok.bos_id());
    if (tok.eos_id() >= 0) j.set("eos_token_id", tok.eos_id());
    if (tok.pad_id() >= 0) j.set("pad_token_id", tok.pad_id());
  }
  return j;
}

void export_hf(const RunConfig& cfg, const Transformer& m, const Tokenizer& tok, const std::string& dir,
               const std::string& dtype) {
  SRA_CHECK(dtype == "F32" || dtype == "BF16", "[hf] export dtype must be F32 or BF16, got '", dtype, "'");
  std::error_code ec;
  if (fs::exists(dir)) {
    SRA_CHECK(fs::is_directory(dir) && fs::is_empty(dir, ec), "[hf] '", dir,
              "' exists and is not an empty directory (choose a new --out)");
  }
  fs::create_directories(dir, ec);
  SRA_CHECK(fs::is_directory(dir), "[hf] cannot create '", dir, "': ", ec.message());
  std::vector<SafetensorsTensor> lm, routers;
  for (const auto& [name, t] : m.named_parameters()) {
    if (is_router_name(name))
      routers.push_back({name, t, "F32"});
    else
      lm.push_back({name, t, dtype});
  }
  for (const auto& [name, t] : m.named_buffers())
    if (is_router_name(name)) routers.push_back({name, t, t.dtype() == DType::f64 ? "F64" : "F32"});
  write_safetensors((fs::path(dir) / "model.safetensors").string(), lm, {{"format", "pt"}});
  if (tok.loaded()) write_file(fs::path(dir) / "tokenizer.model", tok.model_bytes());
  if (cfg.model.attention == "sra") {
    write_safetensors((fs::path(dir) / "sra_routers.safetensors").string(), routers, {{"format", "sra"}});
    write_file(fs::path(dir) / "sra_config.json", sra_extras(cfg).dump() + "\n");
  }
  write_file(fs::path(dir) / "config.json", hf_config_json(cfg, tok, dtype).dump() + "\n");
}

}  // namespace sra
