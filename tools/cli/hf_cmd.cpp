// `sra convert hf-to-sra | sra-to-hf` and `sra logits`: Hugging Face checkpoints in and out (run/hf_import.h,
// run/hf_export.h) and the logits of fixed token ids for tools/hf_parity.py (docs/hf.md).
//   sra logits (--checkpoint C | --hf DIR) --ids 1,2,3 [--device D] [--precision f32|bf16] [--greedy N]
//              [--json] [--out FILE]
// prints, per position, the argmax and the largest logit (or with --json one line {"source", "device",
// "precision", "t", "vocab", "argmax": [...], "logits": [[...], ...] (without --out), "greedy": [...]});
// --out writes the (t, vocab) logits as raw little-endian f32, row-major; --greedy N appends N greedy
// tokens, generated as `sra generate` does (model/generate.h: prefill, then KV-cache decode steps).
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

#include "autograd/autocast.h"
#include "core/json.h"
#include "model/generate.h"
#include "run/checkpoint.h"
#include "run/hf_export.h"
#include "run/hf_import.h"
#include "run/model_io.h"
#include "tools/cli/commands.h"
#include "tools/cli/validators.h"

namespace sra::cli {

namespace {

namespace fs = std::filesystem;

struct ConvertOptions {
  std::string in, out, dtype = "f32";
};

struct LogitsOptions {
  std::string checkpoint, hf, device = "cpu", precision = "f32", out;
  std::vector<int64_t> ids;
  int64_t greedy = 0;
  bool json = false;
};

void refuse_existing(const std::string& path) {
  if (fs::exists(path))
    throw CLI::ValidationError("--out", "'" + path + "' exists (remove it or choose another path)");
}

int hf_to_sra(const ConvertOptions& o) {
  refuse_existing(o.out);
  HfImport im = import_hf(o.in);
  Checkpoint ck = model_checkpoint(im.config, *im.model, 0);
  add_tokenizer(ck, im.tokenizer);
  ck.meta["code_version"] = kCodeVersion;
  ck.meta["hf_source"] = fs::absolute(o.in).string();
  save_checkpoint(ck, o.out);
  std::cout << "converted " << o.in << " (" << im.hf.model_type << ", " << im.model->num_parameters()
            << " parameters, " << (im.config.model.attention == "sra" ? "SRA routers restored" : "dense")
            << ", tokenizer " << (im.tokenizer.loaded() ? "tokenizer.model" : "none: bytes") << ") -> "
            << o.out << "\n";
  if (!im.hf.ignored_keys.empty()) {
    std::string keys;
    for (const std::string& k : im.hf.ignored_keys) keys += (keys.empty() ? "" : ", ") + k;
    std::cout << "config.json keys not used: " << keys << "\n";
  }
  return 0;
}

int sra_to_hf(const ConvertOptions& o) {
  Checkpoint ck = load_checkpoint(o.in);
  LoadedModel lm = model_from_checkpoint(ck, o.in);
  Tokenizer tok = checkpoint_tokenizer(ck, o.in, lm.config.data.tokenizer, "convert");
  export_hf(lm.config, *lm.model, tok, o.out, o.dtype == "bf16" ? "BF16" : "F32");
  std::cout << "exported " << o.in << " -> " << o.out << " ("
            << (lm.config.model.qkv_bias ? "Qwen2" : "Llama") << "ForCausalLM, " << o.dtype
            << (lm.config.model.attention == "sra" ? ", routers in sra_routers.safetensors" : "") << ")\n";
  return 0;
}

// (T, V) logits of ids on the model's device, as host floats.
std::vector<float> logits_of(Transformer& m, const std::vector<int64_t>& ids, Device dev, DType compute) {
  NoGradGuard g;
  AutocastGuard ac(compute);
  Tensor x = Tensor::from_vector<int64_t>(ids, {1, int64_t(ids.size())}).to(dev);
  return m.forward(x).to_vector<float>();
}

int run_logits(const LogitsOptions& o) {
  const Device dev = parse_device_spec(o.device);
  std::unique_ptr<Transformer> model;
  std::string source;
  if (!o.hf.empty()) {
    model = std::move(import_hf(o.hf, dev).model);
    source = o.hf;
  } else {
    model = std::move(load_model(o.checkpoint).model);
    model->to(dev);
    source = o.checkpoint;
  }
  model->eval();
  const TransformerConfig& c = model->config();
  const int64_t V = c.vocab_size;
  for (int64_t id : o.ids)
    SRA_CHECK(id >= 0 && id < V, "[logits] --ids: token id ", id, " is outside the vocabulary [0, ", V, ")");
  SRA_CHECK(int64_t(o.ids.size()) + o.greedy <= c.max_seq_len, "[logits] ", o.ids.size(), " ids + --greedy ",
            o.greedy, " exceed the model's context ", c.max_seq_len);
  const DType compute = o.precision == "bf16" ? DType::bf16 : DType::f32;
  const std::vector<float> lg = logits_of(*model, o.ids, dev, compute);
  const int64_t T = int64_t(o.ids.size());
  std::vector<int64_t> argmax(size_t(T), 0);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t v = 1; v < V; ++v)
      if (lg[size_t(t * V + v)] > lg[size_t(t * V + argmax[size_t(t)])]) argmax[size_t(t)] = v;
  std::vector<int64_t> greedy;
  if (o.greedy > 0) {  // the KV-cache path users generate with: a one-pass prefill, then decode steps
    AutocastGuard ac(compute);
    GenerateConfig gc;  // temperature 0: greedy, lowest id on ties; no eos, no stop
    gc.max_new_tokens = o.greedy;
    greedy = generate(*model, {o.ids}, gc)[0].ids;
  }
  if (!o.out.empty()) {
    std::ofstream f(o.out, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(lg.data()), std::streamsize(lg.size() * sizeof(float)));
    f.flush();
    SRA_CHECK(f.good(), "[logits] cannot write '", o.out, "'");
  }
  if (o.json) {
    Json j = Json::object(
        {{"source", source}, {"device", o.device}, {"precision", o.precision}, {"t", T}, {"vocab", V}});
    Json am = Json::array();
    for (int64_t a : argmax) am.push_back(a);
    j.set("argmax", am);
    if (o.out.empty()) {
      Json rows = Json::array();
      for (int64_t t = 0; t < T; ++t) {
        Json row = Json::array();
        for (int64_t v = 0; v < V; ++v) row.push_back(double(lg[size_t(t * V + v)]));
        rows.push_back(row);
      }
      j.set("logits", rows);
    } else {
      j.set("file", o.out);
    }
    if (o.greedy > 0) {
      Json gr = Json::array();
      for (int64_t a : greedy) gr.push_back(a);
      j.set("greedy", gr);
    }
    std::cout << j.dump() << "\n";
    return 0;
  }
  std::cout << "logits of " << source << " (" << T << " x " << V << ", " << o.device << ", " << o.precision
            << ")\n";
  for (int64_t t = 0; t < T; ++t) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "%.6f", double(lg[size_t(t * V + argmax[size_t(t)])]));
    std::cout << "position " << t << "  id " << o.ids[size_t(t)] << "  argmax " << argmax[size_t(t)]
              << "  logit " << buf << "\n";
  }
  if (o.greedy > 0) {
    std::cout << "greedy:";
    for (int64_t a : greedy) std::cout << " " << a;
    std::cout << "\n";
  }
  return 0;
}

}  // namespace

void add_hf_commands(CLI::App& app) {
  CLI::App* conv =
      app.add_subcommand("convert", "Convert between Hugging Face directories and SRA checkpoints");
  conv->require_subcommand(1);
  for (bool to_sra : {true, false}) {
    auto opt = std::make_shared<ConvertOptions>();
    CLI::App* c = conv->add_subcommand(
        to_sra ? "hf-to-sra" : "sra-to-hf",
        to_sra ? "A Hugging Face Llama / Mistral / Qwen2 directory (safetensors) -> an SRA checkpoint"
               : "An SRA checkpoint -> a directory transformers loads (LlamaForCausalLM / Qwen2ForCausalLM)");
    c->footer(to_sra
                  ? "Example: sra convert hf-to-sra --in models/llama --out llama.h5  (docs/hf.md)"
                  : "Example: sra convert sra-to-hf --in runs/x/ckpt-00001000.h5 --out hf-out  (docs/hf.md)");
    c->add_option("--in", opt->in, to_sra ? "Hugging Face model directory" : "SRA checkpoint")
        ->required()
        ->check(non_empty());
    c->add_option(
         "--out", opt->out,
         to_sra ? "Checkpoint to write (must not exist)" : "Directory to write (must not exist or be empty)")
        ->required()
        ->check(non_empty());
    if (!to_sra)
      c->add_option("--dtype", opt->dtype, "Weights in model.safetensors: f32 or bf16")
          ->capture_default_str()
          ->check(CLI::IsMember({"f32", "bf16"}));
    add_command(c, [opt, to_sra]() { return to_sra ? hf_to_sra(*opt) : sra_to_hf(*opt); });
  }

  auto lo = std::make_shared<LogitsOptions>();
  CLI::App* l = app.add_subcommand("logits", "Print a model's logits for given token ids (parity checks)");
  l->footer("Example: sra logits --hf models/llama --ids 1,2,3 --json --out logits.f32 --greedy 32");
  auto* ck = l->add_option("--checkpoint", lo->checkpoint, "An SRA checkpoint");
  auto* hf = l->add_option("--hf", lo->hf, "A Hugging Face model directory");
  ck->excludes(hf);
  l->add_option("--ids", lo->ids, "Token ids, comma-separated")
      ->required()
      ->delimiter(',')
      ->check(integer_at_least(0));
  l->add_option("--device", lo->device, "cpu, cuda or cuda:N")->capture_default_str();
  l->add_option("--precision", lo->precision, "f32, or bf16 (bf16 GEMM operands, fp32 accumulation)")
      ->capture_default_str()
      ->check(CLI::IsMember({"f32", "bf16"}));
  l->add_option("--greedy", lo->greedy, "Also generate this many greedy tokens")
      ->capture_default_str()
      ->check(integer_at_least(0));
  l->add_flag("--json", lo->json, "One JSON line (the logits themselves unless --out)");
  l->add_option("--out", lo->out, "Write the logits as raw little-endian f32 (t x vocab)");
  add_command(l, [lo]() {
    if (lo->checkpoint.empty() && lo->hf.empty()) throw CLI::RequiredError("--checkpoint or --hf");
    return run_logits(*lo);
  });
}

}  // namespace sra::cli
