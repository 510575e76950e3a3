// Hugging Face import and export (run/hf_import.h, run/hf_export.h), on directories built here with our own
// safetensors writer in HF layout (no Python): logits of an imported model equal those of the model the
// files came from (f32 exactly; sharded; F16 / BF16 storage), Qwen2 biases, Llama 3 rope scaling, the
// refusals (each naming the key or the tensor), export -> import round trips with SRA routers, and
// `init_from: hf:DIR` end to end (frozen base, distillation).
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>

#include "cli_test_util.h"
#include "core/cuda_runtime.h"
#include "data_test_util.h"
#include "run/hf_export.h"
#include "run/hf_import.h"
#include "run/model_io.h"
#include "run/safetensors.h"
#include "train/trainer.h"

namespace fs = std::filesystem;
using sra::testing::temp_dir;
using sra::testing::write_text;

namespace {

using namespace sra;

// A small GQA Llama with rope_theta 500000 and Llama 3 scaling (wavelengths on both sides of the bands).
TransformerConfig tiny_llama(bool tied, bool bias = false) {
  TransformerConfig c;
  c.vocab_size = 300;
  c.d_model = 32;
  c.n_layers = 2;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.d_ff = 48;
  c.max_seq_len = 64;
  c.rope_theta = 500000.0;
  c.rope_scaling.type = "llama3";
  c.rope_scaling.factor = 8.0;
  c.rope_scaling.low_freq_factor = 1.0;
  c.rope_scaling.high_freq_factor = 4.0;
  c.rope_scaling.original_max_position_embeddings = 32;
  c.norm_eps = 1e-5;
  c.tie_embeddings = tied;
  c.qkv_bias = bias;
  c.seed = 7;
  return c;
}

Json config_json(const TransformerConfig& c, const std::string& type) {
  Json j = Json::object(
      {{"architectures", Json::array({type == "qwen2" ? "Qwen2ForCausalLM" : "LlamaForCausalLM"})},
       {"model_type", type},
       {"vocab_size", c.vocab_size},
       {"hidden_size", c.d_model},
       {"intermediate_size", c.d_ff},
       {"num_hidden_layers", c.n_layers},
       {"num_attention_heads", c.n_heads},
       {"num_key_value_heads", c.n_kv_heads},
       {"hidden_act", "silu"},
       {"max_position_embeddings", c.max_seq_len},
       {"rms_norm_eps", c.norm_eps},
       {"rope_theta", c.rope_theta},
       {"tie_word_embeddings", c.tie_embeddings},
       {"initializer_range", 0.02},
       {"bos_token_id", 1}});
  if (c.rope_scaling.type == "llama3")
    j.set("rope_scaling", Json::object({{"rope_type", "llama3"},
                                        {"factor", c.rope_scaling.factor},
                                        {"low_freq_factor", c.rope_scaling.low_freq_factor},
                                        {"high_freq_factor", c.rope_scaling.high_freq_factor},
                                        {"original_max_position_embeddings",
                                         c.rope_scaling.original_max_position_embeddings}}));
  return j;
}

// A random model of c with non-trivial norms and biases (so a wrong mapping shows in the logits).
std::unique_ptr<Transformer> random_model(const TransformerConfig& c) {
  auto m = std::make_unique<Transformer>(c);
  Generator gen(99, 3);
  NoGradGuard g;
  for (auto& [name, p] : m->named_parameters())
    if (p.dim() == 1) p.copy_(add(randn(p.shape(), gen), 1.0));
  return m;
}

// DIR with config.json and the model's LM parameters in HF layout (one file, or `shards` files + index).
std::string write_hf_dir(const Transformer& m, const std::string& type, const std::string& dtype = "F32",
                         int shards = 1, Json cfg = Json()) {
  fs::path dir = temp_dir("hf");
  if (cfg.is_null()) cfg = config_json(m.config(), type);
  write_text(dir / "config.json", cfg.dump());
  std::vector<SafetensorsTensor> all;
  for (const auto& [name, t] : m.named_parameters())
    if (!is_router_name(name)) all.push_back({name, t, dtype});
  if (shards == 1) {
    write_safetensors((dir / "model.safetensors").string(), all, {{"format", "pt"}});
    return dir.string();
  }
  Json wm = Json::object();
  for (int s = 0; s < shards; ++s) {
    std::vector<SafetensorsTensor> part;
    const std::string file =
        "model-0000" + std::to_string(s + 1) + "-of-0000" + std::to_string(shards) + ".safetensors";
    for (size_t i = size_t(s); i < all.size(); i += size_t(shards)) {
      part.push_back(all[i]);
      wm.set(all[i].name, file);
    }
    write_safetensors((dir / file).string(), part);
  }
  write_text(dir / "model.safetensors.index.json",
             Json::object({{"metadata", Json::object({{"total_size", 0}})}, {"weight_map", wm}}).dump());
  return dir.string();
}

std::vector<float> logits(Transformer& m, const std::vector<int64_t>& ids) {
  NoGradGuard g;
  m.eval();
  return m.forward(Tensor::from_vector<int64_t>(ids, {1, int64_t(ids.size())})).to_vector<float>();
}

double max_diff(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  double d = 0;
  for (size_t i = 0; i < a.size(); ++i) d = std::max(d, std::fabs(double(a[i]) - double(b[i])));
  return d;
}

// The run config of the init_from tests: a small SRA model (layer 0 dense) whose routers train for `steps`
// steps on the synthetic task over the frozen import of DIR; `train_extra` adds lines under train:.
std::string init_from_yaml(const std::string& dir, int steps, const std::string& train_extra) {
  return std::string(R"(model:
  attention: sra
  dense_layers: [0]
  window: 8
  sinks: 2
  max_seq_len: 64
router:
  hidden: 16
  target_ratio: 0.25
data:
  dataset: synthetic
  seq_len: 48
  synthetic:
    min_hops: 2
    max_hops: 2
    min_distractors: 0
    max_distractors: 1
optimizer:
  lr: 0.01
schedule:
  warmup_steps: 1
train:
  batch_size: 2
  steps: )") +
         std::to_string(steps) + R"(
  eval_every: 0
  checkpoint_every: 0
  init_from: hf:)" +
         dir + R"(
  freeze_base: true
)" + train_extra +
         R"(logging:
  log_every: 1
)";
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

const std::vector<int64_t> kIds = {1,  5,   299, 42, 7,  7,   100, 3,  250, 17, 0,  64, 33, 2,  11, 90,
                                   8,  120, 44,  45, 46, 280, 12,  13, 14,  15, 16, 18, 19, 20, 21, 22,
                                   23, 24,  25,  26, 27, 28,  29,  30, 31,  32, 34, 35, 36, 37, 38, 39};

}  // namespace

TEST_CASE("hf: llama3 rope frequencies follow Hugging Face's bands, and factor 1 is no scaling") {
  using kern::RopeScaling;
  RopeScaling s;
  s.llama3 = true;
  s.factor = 8, s.low_freq_factor = 1, s.high_freq_factor = 4, s.original_max_position = 8192;
  const int64_t d = 128;
  int high = 0, low = 0, mid = 0;
  for (int64_t i = 0; i < d / 2; ++i) {
    const double inv = 1.0 / std::pow(500000.0, double(2 * i) / double(d));
    const double wl = 2 * M_PI / inv, got = kern::rope_inv_freq(i, d, 500000.0, s);
    if (wl < 8192.0 / 4) {
      CHECK(got == inv);
      ++high;
    } else if (wl > 8192.0 / 1) {
      CHECK(got == doctest::Approx(inv / 8).epsilon(1e-15));
      ++low;
    } else {
      const double sm = (8192.0 / wl - 1) / 3;
      CHECK(got == doctest::Approx((1 - sm) * inv / 8 + sm * inv).epsilon(1e-14));
      ++mid;
    }
  }
  CHECK(high > 0);
  CHECK(low > 0);
  CHECK(mid > 0);
  s.factor = 1;
  for (int64_t i = 0; i < d / 2; ++i)
    CHECK(kern::rope_inv_freq(i, d, 1e4, s) ==
          doctest::Approx(kern::rope_inv_freq(i, d, 1e4, RopeScaling{})));
  // the op: scaling changes the rotation, its backward is the inverse rotation
  Generator gen(1, 1);
  Tensor x = randn({1, 2, 5, 8}, gen);
  x.set_requires_grad(true);
  Tensor pos = Tensor::from_vector<int64_t>({0, 100, 2000, 9000, 70000}, {5});
  s.original_max_position = 64;
  s.factor = 8;
  Tensor y = rope(x, pos, 10000.0, s);
  CHECK(max_diff(y.to_vector<float>(), rope(x, pos, 10000.0).to_vector<float>()) > 1e-3);
  backward(sum(mul(y, y)));
  CHECK(max_diff(x.grad().to_vector<float>(), mul(x, 2.0).to_vector<float>()) < 1e-5);  // |Rx|² = |x|²
}

TEST_CASE("hf: an imported Llama directory computes the logits of the model it came from") {
  for (bool tied : {false, true}) {
    CAPTURE(tied);
    auto src = random_model(tiny_llama(tied));
    const std::vector<float> want = logits(*src, kIds);
    for (int shards : {1, 3}) {
      HfImport im = import_hf(write_hf_dir(*src, "llama", "F32", shards));
      CHECK(im.hf.model_type == "llama");
      CHECK(im.config.model.tie_embeddings == tied);
      CHECK(im.config.model.rope_scaling == src->config().rope_scaling);
      CHECK(im.config.model.n_kv_heads == 2);
      CHECK(im.hf.ignored_keys == std::vector<std::string>{"initializer_range", "bos_token_id"});
      CHECK(logits(*im.model, kIds) == want);  // bitwise: the same f32 weights, the same code
    }
    // BF16 and F16 files: the model with its weights rounded the same way
    for (const char* dt : {"BF16", "F16"}) {
      auto rounded = random_model(tiny_llama(tied));
      {
        NoGradGuard g;
        for (auto& [name, p] : rounded->named_parameters()) {
          std::vector<float> v = p.to_vector<float>();
          for (float& f : v) f = std::string(dt) == "BF16" ? float(bf16(f)) : f16_to_float(float_to_f16(f));
          p.copy_(Tensor::from_vector<float>(v, p.shape()));
        }
      }
      HfImport im = import_hf(write_hf_dir(*src, "llama", dt));
      CHECK(logits(*im.model, kIds) == logits(*rounded, kIds));
    }
  }
}

TEST_CASE("hf: Qwen2 imports with q/k/v biases and Mistral's sliding window caps the context") {
  TransformerConfig c = tiny_llama(false, true);
  c.rope_scaling.type = "none";
  auto src = random_model(c);
  CHECK(src->find("model.layers.1.self_attn.k_proj.bias").numel() == 16);
  HfImport im = import_hf(write_hf_dir(*src, "qwen2"));
  CHECK(im.config.model.qkv_bias);
  CHECK(logits(*im.model, kIds) == logits(*src, kIds));
  // Mistral: no biases; sliding_window 48 < max_position_embeddings 64 caps the context at 48
  TransformerConfig mc = tiny_llama(false);
  mc.rope_scaling.type = "none";
  auto ms = random_model(mc);
  Json j = config_json(mc, "mistral");
  j.set("architectures", Json::array({"MistralForCausalLM"}));
  j.set("sliding_window", 48);
  HfImport mi = import_hf(write_hf_dir(*ms, "mistral", "F32", 1, j));
  CHECK(mi.config.model.max_seq_len == 48);
  const std::vector<int64_t> ids(kIds.begin(), kIds.begin() + 40);
  CHECK(logits(*mi.model, ids) == logits(*ms, ids));
}

TEST_CASE("hf: unsupported configs and mismatched weights are errors naming the key or the tensor") {
  TransformerConfig c = tiny_llama(false);
  auto src = random_model(c);
  struct Case {
    std::string key;
    Json value;
    std::string want;
  };
  const std::vector<Case> cases = {
      {"model_type", "gpt2", "model_type 'gpt2' is not supported (llama, mistral, qwen2)"},
      {"hidden_act", "gelu", "hidden_act 'gelu' is not supported (silu)"},
      {"rope_scaling", Json::object({{"rope_type", "yarn"}, {"factor", 4.0}}),
       "rope_scaling.rope_type 'yarn' is not supported (llama3, or none)"},
      {"rope_scaling", Json::object({{"type", "linear"}, {"factor", 2.0}}),
       "rope_scaling.rope_type 'linear' is not supported"},
      {"rope_scaling", Json::object({{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0}}),
       "rope_scaling.high_freq_factor must be a positive number"},
      {"attention_bias", true, "attention_bias true is not supported"},
      {"mlp_bias", true, "mlp_bias true is not supported"},
      {"head_dim", 16, "head_dim 16 is not supported (must be hidden_size / num_attention_heads = 8)"},
      {"num_key_value_heads", 3, "num_attention_heads 4 is not a multiple of num_key_value_heads 3"},
      {"sliding_window", 16, "sliding_window is not supported for model_type llama"},
      {"attention_dropout", 0.1, "attention_dropout must be 0"},
      {"vocab_size", "300", "vocab_size must be an integer >= 1, got \"300\""},
      {"architectures", Json::array({"LlamaForSequenceClassification"}),
       "architectures entry \"LlamaForSequenceClassification\" is not supported"},
  };
  for (const Case& k : cases) {
    CAPTURE(k.key);
    Json j = config_json(c, "llama");
    j.set(k.key, k.value);
    const std::string dir = write_hf_dir(*src, "llama", "F32", 1, j);
    const std::string err = error_of([&] { import_hf(dir); });
    CHECK(err.rfind("[hf] " + dir + "/config.json: ", 0) == 0);
    CHECK(err.find(k.want) != std::string::npos);
  }
  {  // Qwen2 sliding windows
    Json j = config_json(c, "qwen2");
    j.set("use_sliding_window", true);
    CHECK(error_of([&] {
            read_hf_config(write_hf_dir(*src, "qwen2", "F32", 1, j));
          }).find("use_sliding_window true is not supported") != std::string::npos);
  }
  // weights: a missing tensor, a wrong shape, an extra tensor
  {
    TransformerConfig other = c;
    other.d_ff = 40;
    auto wrong = random_model(other);
    Json j = config_json(c, "llama");
    const std::string dir = write_hf_dir(*wrong, "llama", "F32", 1, j);
    CHECK(error_of([&] { import_hf(dir); })
              .find("tensor 'model.layers.0.mlp.down_proj.weight' has shape [32, 40], the model needs [32, "
                    "48]") != std::string::npos);
    TransformerConfig tied = c;
    tied.tie_embeddings = true;
    auto t = random_model(tied);
    const std::string d2 = write_hf_dir(*t, "llama", "F32", 1, j);  // config says untied
    CHECK(error_of([&] { import_hf(d2); }).find("missing tensor 'lm_head.weight' [300, 32]") !=
          std::string::npos);
    TransformerConfig biased = c;
    biased.qkv_bias = true;
    auto b = random_model(biased);
    const std::string d3 = write_hf_dir(*b, "llama", "F32", 1, j);
    CHECK(error_of([&] { import_hf(d3); }).find("unexpected tensor 'model.layers.0.self_attn.k_proj.bias'") !=
          std::string::npos);
  }
  // directories: no weights, pytorch_model.bin, a tokenizer.json-only tokenizer, an index escaping DIR
  {
    fs::path d = temp_dir("hf");
    write_text(d / "config.json", config_json(c, "llama").dump());
    CHECK(error_of([&] {
            import_hf(d.string());
          }).find("no model.safetensors or model.safetensors.index.json") != std::string::npos);
    write_text(d / "pytorch_model.bin", "x");
    CHECK(error_of([&] { import_hf(d.string()); }).find("pytorch_model.bin is not supported") !=
          std::string::npos);
    write_text(d / "model.safetensors.index.json",
               R"({"weight_map":{"model.norm.weight":"../x.safetensors"}})");
    CHECK(error_of([&] { HfWeights::open(d.string()); }).find("weight_map file '../x.safetensors'") !=
          std::string::npos);
    const std::string ok = write_hf_dir(*src, "llama");
    write_text(fs::path(ok) / "tokenizer.json", "{}");  // byte-level BPE without a model: named
    CHECK(error_of([&] { import_hf(ok); }).find((fs::path(ok) / "tokenizer.json").string()) !=
          std::string::npos);
    fs::copy_file(std::string(SRA_SOURCE_DIR) + "/tests/fixtures/bpe/tokenizer.json",
                  fs::path(ok) / "tokenizer.json", fs::copy_options::overwrite_existing);
    CHECK(std::string(hf_tokenizer(ok).kind()) == "byte-level BPE");
    CHECK(error_of([&] { import_hf((d / "nope").string()); }).find("is not a directory") !=
          std::string::npos);
  }
}

TEST_CASE("hf: export -> import round trip keeps the logits, the SRA settings and the routers") {
  RunConfig cfg;
  static_cast<TransformerConfig&>(cfg.model) = tiny_llama(false, true);
  cfg.model.attention = "sra";
  cfg.model.dense_layers = {0};
  cfg.model.window = 8;
  cfg.model.sinks = 2;
  cfg.router.hidden = 16;
  cfg.router.target_ratio = 0.25;
  cfg.data.seq_len = 64;
  validate_config(cfg);
  auto m = random_model(to_transformer_config(cfg));
  m->sra_routers()[0]->set_threshold(0.123456789012345);
  const std::string dir = (temp_dir("hf") / "out").string();
  export_hf(cfg, *m, Tokenizer(), dir);
  for (const char* f : {"config.json", "model.safetensors", "sra_config.json", "sra_routers.safetensors"})
    CHECK(fs::exists(fs::path(dir) / f));
  HfConfig hf = read_hf_config(dir);
  CHECK(hf.model_type == "qwen2");
  CHECK(hf.ignored_keys.empty());  // every key the export writes is one the import reads
  HfImport im = import_hf(dir);
  ModelSection want = cfg.model;
  want.seed = im.config.model.seed;  // the initialisation seed is not part of the export
  CHECK(im.config.model == want);
  CHECK(im.config.router == cfg.router);
  CHECK(im.model->sra_routers()[0]->threshold() == 0.123456789012345);
  CHECK(logits(*im.model, kIds) == logits(*m, kIds));
  CHECK(error_of([&] {
          export_hf(cfg, *m, Tokenizer(), dir);
        }).find("exists and is not an empty directory") != std::string::npos);
  // bf16 export: the LM in BF16, routers exact
  const std::string d2 = (temp_dir("hf") / "bf16").string();
  export_hf(cfg, *m, Tokenizer(), d2, "BF16");
  CHECK(read_hf_config(d2).torch_dtype == "bfloat16");
  CHECK(SafetensorsFile::open(d2 + "/model.safetensors")->at("model.norm.weight").dtype == "BF16");
  CHECK(import_hf(d2).model->sra_routers()[0]->threshold() == 0.123456789012345);
}

TEST_CASE("hf: init_from hf:DIR trains new routers on a frozen imported model, with distillation") {
  TransformerConfig c = tiny_llama(false);
  c.vocab_size = 256;  // bytes
  auto src = random_model(c);
  {  // larger weights: peaked attention, so the SRA layer's output differs from the dense one
    NoGradGuard g;
    for (auto& [name, p] : src->named_parameters())
      if (p.dim() == 2) p.mul_(20.0);
  }
  const std::string dir = write_hf_dir(*src, "llama");
  fs::path run = temp_dir("hf_run");
  const std::string yaml = init_from_yaml(dir, 3, "  distill_weight: 0.5\n");
  write_text(run / "run.yaml", yaml);
  std::ostringstream log;
  TrainOptions opt;
  opt.config = (run / "run.yaml").string();
  opt.out_dir = (run / "out").string();
  REQUIRE(run_train(opt, log) == 0);
  CHECK(log.str().find("init: hf:" + dir) != std::string::npos);
  LoadedModel lm = load_model(checkpoint_path(opt.out_dir, 3));
  CHECK(lm.config.model.d_model == 32);  // the directory's architecture
  CHECK(lm.config.model.rope_theta == 500000.0);
  int routers = 0;
  for (const auto& [name, p] : lm.model->named_parameters()) {
    if (is_router_name(name)) {
      ++routers;
      continue;
    }
    CHECK(p.to_vector<float>() == src->find(name).to_vector<float>());  // the base is bitwise unchanged
  }
  CHECK(routers > 0);
  // the trained model run dense is the imported model
  lm.model->set_all_dense(true);
  CHECK(logits(*lm.model, {1, 2, 3, 4, 5}) == logits(*src, {1, 2, 3, 4, 5}));
  // the loss included the KL term: a run without it logs a different first loss
  std::ostringstream log2;
  TrainOptions o2 = opt;
  o2.out_dir = (run / "out2").string();
  o2.overrides = {"train.distill_weight=0"};
  REQUIRE(run_train(o2, log2) == 0);
  auto first_loss = [](const std::string& out) {
    std::ifstream in(out + "/metrics.jsonl");
    std::string line;
    std::getline(in, line);
    return Json::parse(line)["loss"].as_double();
  };
  CHECK(first_loss(opt.out_dir) > first_loss(o2.out_dir) + 1e-4);  // + 0.5 KL(dense || SRA) > 0
  // sra eval reads it like any checkpoint
  sra::testing::Run ev =
      sra::testing::run_sra({"eval", "--checkpoint", checkpoint_path(opt.out_dir, 3), "--dataset",
                             "synthetic", "--limit", "2", "--max-new-tokens", "4"});
  INFO(ev.err);
  CHECK(ev.rc == 0);
  CHECK(ev.out.find("| 2 |") != std::string::npos);
  // a dense config cannot freeze its base
  CHECK_THROWS_WITH_AS(
      load_config_string("model:\n  attention: dense\ntrain:\n  freeze_base: true\n", "x.yaml"),
      doctest::Contains("train.freeze_base needs model.attention sra"), Error);
  CHECK_THROWS_WITH_AS(load_config_string("train:\n  init_from: ckpt.h5\n", "x.yaml"),
                       doctest::Contains("train.init_from must be hf:DIR"), Error);
}

TEST_CASE(
    "hf: train.base_dtype bf16 holds the frozen base's linear weights in bf16, the file's bits (and on a "
    "GPU)") {
  TransformerConfig c = tiny_llama(false);  // untied: lm_head is a base matrix too
  c.vocab_size = 256;
  auto src = random_model(c);
  const std::string dir = write_hf_dir(*src, "llama", "BF16");
  fs::path run = temp_dir("hf_bf16");
  const std::string yaml = init_from_yaml(dir, 2, "  base_dtype: bf16\n");
  write_text(run / "run.yaml", yaml);
  TrainOptions opt;
  opt.config = (run / "run.yaml").string();
  opt.out_dir = (run / "out").string();
  std::ostringstream log;
  REQUIRE(run_train(opt, log) == 0);
  LoadedModel lm = load_model(checkpoint_path(opt.out_dir, 2));
  int64_t bf16_bytes = 0, f32_bytes = 0, matrices = 0;
  for (const auto& [name, p] : lm.model->named_parameters()) {
    INFO(name);
    const bool base_matrix = is_base_matrix(name, p);
    CHECK(p.dtype() == (base_matrix ? DType::bf16 : DType::f32));
    (base_matrix ? bf16_bytes : f32_bytes) += p.numel() * int64_t(dtype_size(p.dtype()));
    matrices += base_matrix;
    if (!is_router_name(name)) {  // the file's BF16 bits, unchanged by training (frozen)
      std::vector<float> want = src->find(name).to_vector<float>();
      for (float& f : want) f = float(bf16(f));
      CHECK(p.to_vector<float>() == want);
    }
  }
  CHECK(matrices == 7 * c.n_layers + 1);  // q, k, v, o, gate, up, down per layer, and lm_head
  CHECK(bf16_bytes > f32_bytes);          // the matrices are most of the model, at 2 bytes a weight
  // dense, it computes the imported model with its linear GEMMs on bf16 operands: close to the f32 import
  lm.model->set_all_dense(true);
  HfImport f32 = import_hf(dir);
  const std::vector<int64_t> ids = {1, 2, 3, 4, 5, 6, 7};
  const std::vector<float> a = logits(*lm.model, ids), b = logits(*f32.model, ids);
  double scale = 0;
  for (float x : b) scale = std::max(scale, std::fabs(double(x)));
  CHECK(max_diff(a, b) <= 2e-2 * scale);
  CHECK(max_diff(a, b) > 0);  // the bf16 path ran (x rounded to bf16)
  if (cuda::available()) {    // the same bf16 weights on the GPU: the CPU's logits up to summation order
    LoadedModel g = load_model(checkpoint_path(opt.out_dir, 2));
    g.model->set_all_dense(true);
    g.model->to(Device::cuda(0));
    for (const auto& [name, p] : g.model->named_parameters())
      CHECK(p.dtype() == (is_base_matrix(name, p) ? DType::bf16 : DType::f32));
    NoGradGuard ng;
    g.model->eval();
    const Tensor in = Tensor::from_vector<int64_t>(ids, {1, int64_t(ids.size())}).to(Device::cuda(0));
    const std::vector<float> got = g.model->forward(in).to_vector<float>();
    CHECK(max_diff(got, a) <= 1e-4 * scale);
  }
  // sra rl cannot train an LM held in bf16: a config error naming the key
  write_text(run / "rl.yaml", "rl:\n  train_lm: true\n  sample_answers: true\n");
  sra::testing::Run rl =
      sra::testing::run_sra({"rl", "--config", (run / "rl.yaml").string(), "--init",
                             checkpoint_path(opt.out_dir, 2), "--out", (run / "rl").string()});
  CHECK(rl.rc != 0);
  CHECK(rl.err.find("rl.train_lm trains the LM") != std::string::npos);
  // bf16 without a frozen base is a config error naming both keys
  CHECK_THROWS_WITH_AS(load_config_string("model:\n  attention: sra\ntrain:\n  base_dtype: bf16\n", "x.yaml"),
                       doctest::Contains("train.base_dtype bf16 needs train.freeze_base true"), Error);
  CHECK_THROWS_WITH_AS(load_config_string("train:\n  base_dtype: f16\n", "x.yaml"),
                       doctest::Contains("train.base_dtype"), Error);
}

TEST_CASE("hf cuda: a directory imported onto the GPU (F32, BF16, F16 files) gives the CPU's logits" *
          doctest::skip(!cuda::available())) {
  auto src = random_model(tiny_llama(false, true));
  for (const char* dt : {"F32", "BF16", "F16"}) {
    CAPTURE(dt);
    const std::string dir = write_hf_dir(*src, "qwen2", dt);
    HfImport cpu = import_hf(dir);
    HfImport gpu = import_hf(dir, Device::cuda(0));
    for (const auto& [name, p] : gpu.model->named_parameters())  // the uploads: the CPU's values exactly
      CHECK(p.to(Device::cpu()).to_vector<float>() == cpu.model->find(name).to_vector<float>());
    NoGradGuard g;
    Tensor ids = Tensor::from_vector<int64_t>(kIds, {1, int64_t(kIds.size())});
    const std::vector<float> want = cpu.model->forward(ids).to_vector<float>();
    const std::vector<float> got = gpu.model->forward(ids.to(Device::cuda(0))).to_vector<float>();
    CHECK(max_diff(got, want) < 1e-4);
  }
}

TEST_CASE("hf: config.json as transformers 5 writes it (rope_parameters, dtype, layer_types) parses") {
  // saved by transformers 5.17 (LlamaConfig with rope_scaling llama3; Qwen2Config) on the GPU machine
  const std::string llama = R"({"architectures": ["LlamaForCausalLM"], "attention_bias": false,
    "attention_dropout": 0.0, "bos_token_id": 1, "dtype": "float32", "eos_token_id": null, "head_dim": 16,
    "hidden_act": "silu", "hidden_size": 128, "initializer_range": 0.1, "intermediate_size": 256,
    "max_position_embeddings": 256, "mlp_bias": false, "model_type": "llama", "num_attention_heads": 8,
    "num_hidden_layers": 1, "num_key_value_heads": 2, "pad_token_id": null, "pretraining_tp": 1,
    "rms_norm_eps": 1e-05, "rope_parameters": {"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
    "original_max_position_embeddings": 64, "rope_theta": 500000.0, "rope_type": "llama3"},
    "tie_word_embeddings": false, "transformers_version": "5.17.0", "use_cache": true, "vocab_size": 512})";
  HfConfig l = parse_hf_config(llama, "llama.json");
  CHECK(l.model.rope_theta == 500000.0);
  CHECK(l.model.rope_scaling.type == "llama3");
  CHECK(l.model.rope_scaling.original_max_position_embeddings == 64);
  CHECK(l.model.n_kv_heads == 2);
  CHECK(l.torch_dtype == "float32");
  CHECK(l.ignored_keys == std::vector<std::string>{"bos_token_id", "eos_token_id", "initializer_range",
                                                   "pad_token_id", "pretraining_tp", "transformers_version",
                                                   "use_cache"});
  // HF's own llama3 frequencies for this config (transformers 5.17, f32): equal to f32 rounding
  const std::vector<double> hf = {1.0,
                                  0.07940301299095154,
                                  0.004700753837823868,
                                  0.0009115831344388425,
                                  0.00017677668074611574,
                                  3.428102354519069e-05,
                                  6.647869668086059e-06,
                                  1.289173155782919e-06};
  for (int64_t i = 0; i < 8; ++i)
    CHECK(kern::rope_inv_freq(i, 16, 500000.0, l.model.rope_scaling.kernel()) ==
          doctest::Approx(hf[size_t(i)]).epsilon(1e-6));
  const std::string qwen = R"({"architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0,
    "bos_token_id": 1, "dtype": "float32", "eos_token_id": null, "hidden_act": "silu", "hidden_size": 128,
    "initializer_range": 0.1, "intermediate_size": 256, "layer_types": ["full_attention"],
    "max_position_embeddings": 256, "max_window_layers": 28, "model_type": "qwen2", "num_attention_heads": 8,
    "num_hidden_layers": 1, "num_key_value_heads": 2, "pad_token_id": null, "rms_norm_eps": 1e-05,
    "rope_parameters": {"rope_theta": 1000000.0, "rope_type": "default"}, "sliding_window": null,
    "tie_word_embeddings": false, "transformers_version": "5.17.0", "use_cache": true,
    "use_sliding_window": false, "vocab_size": 512})";
  HfConfig q = parse_hf_config(qwen, "qwen.json");
  CHECK(q.model.qkv_bias);
  CHECK(q.model.rope_theta == 1e6);
  CHECK(q.model.rope_scaling.type == "none");
}

TEST_CASE("hf: a sentencepiece tokenizer.model travels in and out, with its token ids in config.json") {
  TransformerConfig c = tiny_llama(true);
  c.vocab_size = 512;  // >= the 400 pieces
  auto src = random_model(c);
  const std::string dir = write_hf_dir(*src, "llama");
  fs::copy_file(sra::testing::bpe_model_path(), fs::path(dir) / "tokenizer.model");
  HfImport im = import_hf(dir);
  REQUIRE(im.tokenizer.loaded());
  CHECK(im.tokenizer.vocab_size() == 400);
  CHECK(im.config.data.tokenizer == dir + "/tokenizer.model");
  const std::string out = (temp_dir("hf") / "out").string();
  export_hf(im.config, *im.model, im.tokenizer, out);
  CHECK(sra::testing::slurp(fs::path(out) / "tokenizer.model") == im.tokenizer.model_bytes());
  HfConfig back = read_hf_config(out);
  CHECK(back.ignored_keys == std::vector<std::string>{"bos_token_id", "eos_token_id", "pad_token_id"});
  Json j = Json::parse(sra::testing::slurp(fs::path(out) / "config.json"));
  CHECK(j["bos_token_id"].as_int() == im.tokenizer.bos_id());
  CHECK(j["eos_token_id"].as_int() == im.tokenizer.eos_id());
  CHECK(import_hf(out).tokenizer.hash() == im.tokenizer.hash());
  // a tokenizer with more pieces than the model's vocabulary is refused
  TransformerConfig small = c;
  small.vocab_size = 300;
  auto s2 = random_model(small);
  const std::string d2 = write_hf_dir(*s2, "llama");
  fs::copy_file(sra::testing::bpe_model_path(), fs::path(d2) / "tokenizer.model");
  CHECK(error_of([&] { import_hf(d2); }).find("tokenizer.model has 400 pieces, more than vocab_size 300") !=
        std::string::npos);
}
