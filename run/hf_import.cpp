// Hugging Face directories → SRA models: config.json, safetensors weights, tokenizer (run/hf_import.h).
#include "run/hf_import.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include "core/json.h"
#include "run/safetensors.h"

namespace sra {

namespace fs = std::filesystem;

namespace {

std::string read_text(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  SRA_CHECK(in.good(), "[hf] cannot read ", what, " '", path, "'");
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

// config.json keys: read with their checks, names in errors ("[hf] WHERE: key ...").
class ConfigReader {
 public:
  ConfigReader(const Json& j, std::string where) : j_(j), where_(std::move(where)) {}
  const Json* get(const std::string& key) {
    used_.insert(key);
    const Json* v = j_.find(key);
    return v && !v->is_null() ? v : nullptr;
  }
  int64_t integer(const std::string& key, int64_t min, std::optional<int64_t> dflt = std::nullopt) {
    const Json* v = get(key);
    if (!v) {
      SRA_CHECK(dflt.has_value(), "[hf] ", where_, ": missing key '", key, "'");
      return *dflt;
    }
    SRA_CHECK(v->is_int() && v->as_int() >= min, "[hf] ", where_, ": ", key, " must be an integer >= ", min,
              ", got ", v->dump());
    return v->as_int();
  }
  double number(const std::string& key, std::optional<double> dflt, bool positive = true) {
    const Json* v = get(key);
    if (!v) {
      SRA_CHECK(dflt.has_value(), "[hf] ", where_, ": missing key '", key, "'");
      return *dflt;
    }
    SRA_CHECK(v->is_number() && (!positive || v->as_double() > 0), "[hf] ", where_, ": ", key, " must be a ",
              positive ? "positive " : "", "number, got ", v->dump());
    return v->as_double();
  }
  bool boolean(const std::string& key, bool dflt) {
    const Json* v = get(key);
    if (!v) return dflt;
    SRA_CHECK(v->is_bool(), "[hf] ", where_, ": ", key, " must be true or false, got ", v->dump());
    return v->as_bool();
  }
  std::string string(const std::string& key, const std::string& dflt) {
    const Json* v = get(key);
    if (!v) return dflt;
    SRA_CHECK(v->is_string(), "[hf] ", where_, ": ", key, " must be a string, got ", v->dump());
    return v->as_string();
  }
  std::vector<std::string> unused() const {
    std::vector<std::string> out;
    for (const auto& [k, _] : j_.as_object())
      if (!used_.count(k)) out.push_back(k);
    return out;
  }
  const std::string& where() const { return where_; }

 private:
  const Json& j_;
  std::string where_;
  std::set<std::string> used_;
};

// rope_scaling (transformers 4) or rope_parameters (transformers 5) into m.
void read_rope(ConfigReader& r, const Json& j, TransformerConfig& m) {
  const Json* rs = r.get("rope_scaling");
  const Json* rp = r.get("rope_parameters");
  const std::string key = rs ? "rope_scaling" : "rope_parameters";
  const Json* v = rs ? rs : rp;
  if (!v) return;
  SRA_CHECK(v->is_object(), "[hf] ", r.where(), ": ", key, " must be an object or null, got ", v->dump());
  ConfigReader sub(*v, r.where());
  std::string type = sub.string("rope_type", "");
  if (type.empty()) type = sub.string("type", "default");
  if (rp && !rs) m.rope_theta = sub.number("rope_theta", m.rope_theta);
  if (type == "default") return;
  SRA_CHECK(type == "llama3", "[hf] ", r.where(), ": ", key, ".rope_type '", type,
            "' is not supported (llama3, or none)");
  m.rope_scaling.type = "llama3";
  auto num = [&](const char* k) {
    const Json* x = v->find(k);
    SRA_CHECK(x && x->is_number() && x->as_double() > 0, "[hf] ", r.where(), ": ", key, ".", k,
              " must be a positive number, got ", x ? x->dump() : std::string("nothing"));
    return x->as_double();
  };
  m.rope_scaling.factor = num("factor");
  m.rope_scaling.low_freq_factor = num("low_freq_factor");
  m.rope_scaling.high_freq_factor = num("high_freq_factor");
  const Json* orig = v->find("original_max_position_embeddings");
  SRA_CHECK(orig && orig->is_int() && orig->as_int() > 0, "[hf] ", r.where(), ": ", key,
            ".original_max_position_embeddings must be a positive integer");
  m.rope_scaling.original_max_position_embeddings = orig->as_int();
  SRA_CHECK(m.rope_scaling.high_freq_factor > m.rope_scaling.low_freq_factor, "[hf] ", r.where(), ": ", key,
            ".high_freq_factor must be > low_freq_factor");
  for (const auto& [k, x] : v->as_object()) {
    static const std::set<std::string> known = {"rope_type",        "type",
                                                "factor",           "low_freq_factor",
                                                "high_freq_factor", "original_max_position_embeddings",
                                                "rope_theta"};
    SRA_CHECK(known.count(k), "[hf] ", r.where(), ": ", key, ".", k, " is not supported with llama3");
  }
  (void)j;
}

// Sliding windows: Mistral's sliding_window (null, or >= the context, which is then capped to it);
// Qwen2's use_sliding_window / layer_types.
void read_windows(ConfigReader& r, const std::string& type, TransformerConfig& m) {
  if (type == "qwen2") {
    SRA_CHECK(!r.boolean("use_sliding_window", false), "[hf] ", r.where(),
              ": use_sliding_window true is not supported (SRA layers replace full attention only)");
    r.get("sliding_window");
    r.get("max_window_layers");
    if (const Json* lt = r.get("layer_types")) {
      SRA_CHECK(lt->is_array(), "[hf] ", r.where(), ": layer_types must be a list");
      for (const Json& x : lt->as_array())
        SRA_CHECK(x.is_string() && x.as_string() == "full_attention", "[hf] ", r.where(),
                  ": layer_types entry ", x.dump(), " is not supported (full_attention only)");
    }
    return;
  }
  if (type == "mistral") {
    if (const Json* sw = r.get("sliding_window")) {
      SRA_CHECK(sw->is_int() && sw->as_int() > 0, "[hf] ", r.where(),
                ": sliding_window must be null or a positive integer, got ", sw->dump());
      m.max_seq_len = std::min(m.max_seq_len, sw->as_int());  // within the window it changes nothing
    }
    return;
  }
  SRA_CHECK(!r.get("sliding_window"), "[hf] ", r.where(),
            ": sliding_window is not supported for model_type llama");
}

std::string join(const std::vector<std::string>& v, const std::string& sep) {
  std::string out;
  for (const std::string& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

}  // namespace

bool is_router_name(const std::string& name) {
  size_t start = 0;
  while (true) {
    size_t dot = name.find('.', start);
    if (name.compare(start, dot == std::string::npos ? std::string::npos : dot - start, "router") == 0)
      return true;
    if (dot == std::string::npos) return false;
    start = dot + 1;
  }
}

HfConfig parse_hf_config(const std::string& text, const std::string& where) {
  Json j;
  try {
    j = Json::parse(text);
  } catch (const Error& e) {
    throw Error("[hf] " + where + ": not valid JSON: " + e.what());
  }
  SRA_CHECK(j.is_object(), "[hf] ", where, ": must be a JSON object");
  ConfigReader r(j, where);
  HfConfig hf;
  hf.model_type = r.string("model_type", "");
  SRA_CHECK(hf.model_type == "llama" || hf.model_type == "mistral" || hf.model_type == "qwen2", "[hf] ",
            where, ": model_type '", hf.model_type, "' is not supported (llama, mistral, qwen2)");
  const std::string arch = hf.model_type == "llama"     ? "LlamaForCausalLM"
                           : hf.model_type == "mistral" ? "MistralForCausalLM"
                                                        : "Qwen2ForCausalLM";
  if (const Json* a = r.get("architectures")) {
    SRA_CHECK(a->is_array(), "[hf] ", where, ": architectures must be a list");
    for (const Json& x : a->as_array())
      SRA_CHECK(x.is_string() && x.as_string() == arch, "[hf] ", where, ": architectures entry ", x.dump(),
                " is not supported for model_type ", hf.model_type, " (", arch, ")");
  }
  const std::string act = r.string("hidden_act", "silu");
  SRA_CHECK(act == "silu", "[hf] ", where, ": hidden_act '", act, "' is not supported (silu)");
  TransformerConfig& m = hf.model;
  m.vocab_size = r.integer("vocab_size", 1);
  m.d_model = r.integer("hidden_size", 1);
  m.d_ff = r.integer("intermediate_size", 1);
  m.n_layers = r.integer("num_hidden_layers", 1);
  m.n_heads = r.integer("num_attention_heads", 1);
  m.n_kv_heads = r.integer("num_key_value_heads", 1, m.n_heads);
  SRA_CHECK(m.d_model % m.n_heads == 0, "[hf] ", where, ": hidden_size ", m.d_model,
            " is not a multiple of num_attention_heads ", m.n_heads);
  SRA_CHECK(m.n_heads % m.n_kv_heads == 0, "[hf] ", where, ": num_attention_heads ", m.n_heads,
            " is not a multiple of num_key_value_heads ", m.n_kv_heads);
  const int64_t hd = r.integer("head_dim", 1, m.d_model / m.n_heads);
  SRA_CHECK(hd == m.d_model / m.n_heads, "[hf] ", where, ": head_dim ", hd,
            " is not supported (must be hidden_size / num_attention_heads = ", m.d_model / m.n_heads, ")");
  SRA_CHECK(hd % 2 == 0, "[hf] ", where, ": head_dim ", hd, " must be even");
  m.max_seq_len = r.integer("max_position_embeddings", 1, 2048);
  m.norm_eps = r.number("rms_norm_eps", 1e-6);
  m.rope_theta = r.number("rope_theta", 10000.0);
  read_rope(r, j, m);
  m.tie_embeddings = r.boolean("tie_word_embeddings", false);
  const bool attn_bias = r.boolean("attention_bias", false);
  SRA_CHECK(!attn_bias, "[hf] ", where, ": attention_bias true is not supported (o_proj has no bias here)");
  SRA_CHECK(!r.boolean("mlp_bias", false), "[hf] ", where, ": mlp_bias true is not supported");
  m.qkv_bias = hf.model_type == "qwen2";
  SRA_CHECK(r.number("attention_dropout", 0.0, false) == 0.0, "[hf] ", where,
            ": attention_dropout must be 0 (dropout in attention is not supported)");
  read_windows(r, hf.model_type, m);
  hf.torch_dtype = r.string("torch_dtype", "");
  if (hf.torch_dtype.empty()) hf.torch_dtype = r.string("dtype", "");
  hf.ignored_keys = r.unused();
  return hf;
}

HfConfig read_hf_config(const std::string& dir) {
  SRA_CHECK(fs::is_directory(dir), "[hf] '", dir, "' is not a directory");
  const std::string path = (fs::path(dir) / "config.json").string();
  SRA_CHECK(fs::exists(path), "[hf] ", dir, ": no config.json (not a Hugging Face model directory)");
  HfConfig hf = parse_hf_config(read_text(path, "config"), path);
  hf.dir = dir;
  return hf;
}

void apply_hf_architecture(RunConfig& cfg, const HfConfig& hf, bool cap_context) {
  ModelSection& m = cfg.model;
  const TransformerConfig& h = hf.model;
  m.vocab_size = h.vocab_size, m.d_model = h.d_model, m.n_layers = h.n_layers;
  m.n_heads = h.n_heads, m.n_kv_heads = h.n_kv_heads, m.d_ff = h.d_ff;
  m.rope_theta = h.rope_theta, m.rope_scaling = h.rope_scaling, m.qkv_bias = h.qkv_bias;
  m.norm_eps = h.norm_eps, m.tie_embeddings = h.tie_embeddings;
  if (cap_context) m.max_seq_len = h.max_seq_len;
  SRA_CHECK(m.max_seq_len <= h.max_seq_len, "[config] model.max_seq_len ", m.max_seq_len, " exceeds ", hf.dir,
            "'s context ", h.max_seq_len, " (max_position_embeddings, or Mistral's sliding_window)");
}

std::string hf_init_dir(const std::string& init_from) {
  return init_from.rfind("hf:", 0) == 0 ? init_from.substr(3) : "";
}

void resolve_init_from(RunConfig& cfg) {
  if (cfg.train.init_from.empty()) return;
  const std::string dir = hf_init_dir(cfg.train.init_from);
  SRA_CHECK(!dir.empty(), "[config] train.init_from: must be hf:DIR (a Hugging Face model directory), got '",
            cfg.train.init_from, "'");
  HfConfig hf = read_hf_config(dir);
  apply_hf_architecture(cfg, hf, false);
  if (cfg.data.tokenizer.empty()) {
    hf_tokenizer(dir);  // a bad tokenizer.json fails before the weights are read
    const fs::path spm = fs::path(dir) / "tokenizer.model";
    if (fs::exists(spm)) cfg.data.tokenizer = spm.string();
  }
  validate_config(cfg);
}

HfWeights HfWeights::open(const std::string& dir) {
  HfWeights w;
  w.dir_ = dir;
  const fs::path single = fs::path(dir) / "model.safetensors";
  const fs::path index = fs::path(dir) / "model.safetensors.index.json";
  std::vector<std::pair<std::string, std::string>> wanted;  // (tensor, file) from the index
  std::vector<std::string> files;
  if (fs::exists(single)) {
    files.push_back("model.safetensors");
  } else if (fs::exists(index)) {
    Json j;
    try {
      j = Json::parse(read_text(index.string(), "index"));
    } catch (const Error& e) {
      throw Error("[hf] " + index.string() + ": not valid JSON: " + e.what());
    }
    const Json* wm = j.is_object() ? j.find("weight_map") : nullptr;
    SRA_CHECK(wm && wm->is_object(), "[hf] ", index.string(), ": no weight_map object");
    for (const auto& [name, f] : wm->as_object()) {
      SRA_CHECK(f.is_string(), "[hf] ", index.string(), ": weight_map entry '", name, "' is not a file name");
      const std::string file = f.as_string();
      SRA_CHECK(!file.empty() && file.find('/') == std::string::npos && file != "." && file != "..", "[hf] ",
                index.string(), ": weight_map file '", file, "' of '", name, "' is not a file name in ", dir);
      wanted.emplace_back(name, file);
      if (std::find(files.begin(), files.end(), file) == files.end()) files.push_back(file);
    }
  } else {
    const bool bin = fs::exists(fs::path(dir) / "pytorch_model.bin") ||
                     fs::exists(fs::path(dir) / "pytorch_model.bin.index.json");
    SRA_CHECK(false, "[hf] ", dir, ": no model.safetensors or model.safetensors.index.json",
              bin ? " (pytorch_model.bin is not supported: save with safe_serialization=True)" : "");
  }
  std::map<std::string, std::shared_ptr<SafetensorsFile>> open_files;
  for (const std::string& f : files) open_files[f] = SafetensorsFile::open((fs::path(dir) / f).string());
  std::map<std::string, Loc> by_name;
  for (const auto& [f, file] : open_files) {
    for (size_t i = 0; i < file->entries().size(); ++i) {
      const std::string& name = file->entries()[i].name;
      SRA_CHECK(!by_name.count(name), "[hf] ", dir, ": tensor '", name, "' is in two files");
      by_name[name] = Loc{file, i};
    }
  }
  for (const auto& [name, f] : wanted) {
    auto it = by_name.find(name);
    SRA_CHECK(it != by_name.end() && it->second.file == open_files[f], "[hf] ", dir, ": tensor '", name,
              "' is not in ", f, " as model.safetensors.index.json says");
  }
  w.tensors_.assign(by_name.begin(), by_name.end());
  return w;
}

std::vector<std::string> HfWeights::names() const {
  std::vector<std::string> out;
  for (const auto& [n, _] : tensors_) out.push_back(n);
  return out;
}

bool HfWeights::contains(const std::string& name) const {
  auto it = std::lower_bound(tensors_.begin(), tensors_.end(), name,
                             [](const auto& p, const std::string& n) { return p.first < n; });
  return it != tensors_.end() && it->first == name;
}

const HfWeights::Loc& HfWeights::at(const std::string& name) const {
  auto it = std::lower_bound(tensors_.begin(), tensors_.end(), name,
                             [](const auto& p, const std::string& n) { return p.first < n; });
  SRA_CHECK(it != tensors_.end() && it->first == name, "[hf] ", dir_, ": no tensor '", name, "'");
  return it->second;
}

Shape HfWeights::shape(const std::string& name) const {
  const Loc& l = at(name);
  return l.file->entries()[l.index].shape;
}

std::string HfWeights::dtype(const std::string& name) const {
  const Loc& l = at(name);
  return l.file->entries()[l.index].dtype;
}

void HfWeights::read_into(const std::string& name, Tensor& dst) const {
  const Loc& l = at(name);
  l.file->read_into(l.file->entries()[l.index], dst);
}

void load_hf_weights(const Transformer& m, const std::string& dir) {
  HfWeights w = HfWeights::open(dir);
  std::vector<std::string> issues;
  std::set<std::string> expected;
  NamedTensors params = m.named_parameters();
  for (const auto& [name, t] : params) {
    if (is_router_name(name)) continue;
    expected.insert(name);
    if (!w.contains(name))
      issues.push_back("missing tensor '" + name + "' " + shape_str(t.shape()));
    else if (w.shape(name) != t.shape())
      issues.push_back("tensor '" + name + "' has shape " + shape_str(w.shape(name)) + ", the model needs " +
                       shape_str(t.shape()));
  }
  for (const std::string& name : w.names()) {
    if (expected.count(name)) continue;
    if (name.size() > 20 && name.compare(name.size() - 20, 20, ".rotary_emb.inv_freq") == 0) continue;
    if (name == "lm_head.weight" && m.config().tie_embeddings) continue;
    issues.push_back("unexpected tensor '" + name + "' (not a parameter of a " +
                     std::string(m.config().qkv_bias ? "Qwen2" : "Llama") + "-style model)");
  }
  if (!issues.empty()) {
    const size_t n = issues.size();
    if (n > 8) issues.resize(8);
    SRA_CHECK(false, "[hf] ", dir, ": the weights do not match config.json: ", join(issues, "; "),
              n > 8 ? "; ... (" + std::to_string(n) + " in all)" : std::string());
  }
  NoGradGuard g;
  for (auto& [name, t] : params) {
    if (!is_router_name(name)) w.read_into(name, t);
  }
}

Tokenizer hf_tokenizer(const std::string& dir) {
  const fs::path spm = fs::path(dir) / "tokenizer.model";
  if (fs::exists(spm)) return Tokenizer::load(spm.string());
  const fs::path bpe = fs::path(dir) / "tokenizer.json";  // byte-level BPE (Llama 3, Qwen2): data/byte_bpe.h
  if (fs::exists(bpe)) return Tokenizer::load(bpe.string());
  return Tokenizer();
}

namespace {

// DIR/sra_config.json (written by export_hf) into cfg; false when DIR has none.
bool apply_sra_extras(RunConfig& cfg, const std::string& dir) {
  const fs::path p = fs::path(dir) / "sra_config.json";
  if (!fs::exists(p)) return false;
  const std::string where = p.string();
  Json j;
  try {
    j = Json::parse(read_text(where, "SRA settings"));
  } catch (const Error& e) {
    throw Error("[hf] " + where + ": not valid JSON: " + e.what());
  }
  SRA_CHECK(j.is_object() && j.find("format") && (*j.find("format")) == Json("sra-hf-extras"), "[hf] ", where,
            ": format must be \"sra-hf-extras\"");
  const Json* ver = j.find("version");
  SRA_CHECK(ver && ver->is_int() && ver->as_int() == 1, "[hf] ", where, ": version must be 1");
  static const std::set<std::string> model_keys = {"attention", "dense_layers", "window", "sinks",
                                                   "shared_router"};
  for (const char* section : {"model", "router"}) {
    const Json* sec = j.find(section);
    if (!sec) continue;
    SRA_CHECK(sec->is_object(), "[hf] ", where, ": ", section, " must be an object");
    for (const auto& [k, v] : sec->as_object()) {
      const std::string key = std::string(section) + "." + k;
      SRA_CHECK(std::string(section) == "router" ? find_config_key(key) != nullptr : model_keys.count(k) > 0,
                "[hf] ", where, ": unknown key '", key, "'");
      try {
        apply_override(cfg, key + "=" + v.dump());
      } catch (const Error& e) {
        throw Error("[hf] " + where + ": " + e.what());
      }
    }
  }
  return true;
}

}  // namespace

bool load_hf_routers(const Transformer& m, const std::string& dir) {
  const fs::path p = fs::path(dir) / "sra_routers.safetensors";
  if (!fs::exists(p)) return false;
  auto f = SafetensorsFile::open(p.string());
  NamedTensors state = m.named_parameters();
  for (auto& nt : m.named_buffers()) state.push_back(nt);
  std::set<std::string> wanted;
  std::vector<std::string> issues;
  for (const auto& [name, t] : state) {
    if (!is_router_name(name)) continue;
    wanted.insert(name);
    const SafetensorsEntry* e = f->find(name);
    if (!e)
      issues.push_back("missing tensor '" + name + "'");
    else if (e->shape != t.shape())
      issues.push_back("tensor '" + name + "' has shape " + shape_str(e->shape) + ", the model needs " +
                       shape_str(t.shape()));
  }
  for (const SafetensorsEntry& e : f->entries())
    if (!wanted.count(e.name)) issues.push_back("unexpected tensor '" + e.name + "'");
  SRA_CHECK(issues.empty(), "[hf] ", p.string(),
            ": the routers do not match sra_config.json: ", join(issues, "; "));
  NoGradGuard g;
  for (auto& [name, t] : state)
    if (is_router_name(name)) f->read_into(f->at(name), t);
  return true;
}

HfImport import_hf(const std::string& dir, Device device) {
  HfImport out;
  out.hf = read_hf_config(dir);
  out.tokenizer = hf_tokenizer(dir);
  RunConfig& cfg = out.config;
  apply_hf_architecture(cfg, out.hf, true);
  apply_sra_extras(cfg, dir);
  if (out.tokenizer.loaded()) {
    cfg.data.tokenizer = (fs::path(dir) / "tokenizer.model").string();
    SRA_CHECK(out.tokenizer.vocab_size() <= cfg.model.vocab_size, "[hf] ", dir, ": tokenizer.model has ",
              out.tokenizer.vocab_size(), " pieces, more than vocab_size ", cfg.model.vocab_size);
  } else {
    SRA_CHECK(cfg.model.vocab_size >= 256, "[hf] ", dir, ": vocab_size ", cfg.model.vocab_size,
              " < 256 and no tokenizer.model (a model without a tokenizer reads bytes, ids 0..255)");
  }
  cfg.data.seq_len = std::min(cfg.data.seq_len, cfg.model.max_seq_len);
  validate_config(cfg);
  out.model = std::make_unique<Transformer>(to_transformer_config(cfg));
  out.model->to(device);
  load_hf_weights(*out.model, dir);
  load_hf_routers(*out.model, dir);
  out.model->eval();
  return out;
}

}  // namespace sra
