// Run configuration: one YAML file per run, strictly validated against a schema.
//
// Sections: model, router, data (with data.synthetic), optimizer, schedule, train, logging,
// distributed, rl (the `sra rl` stage), and the top-level scalars precision and device. Every key is
// declared once in the schema (run/config_schema.cpp) with its type, range or allowed values and a
// one-line doc; its default is the initializer of the matching RunConfig field below.
// configs/reference.yaml lists every key with its default and doc (tests keep it equal to
// reference_yaml()).
//
//   load_config(path, overrides)  — RunConfig{} (the defaults), then the file's keys, then each
//                                   "--set" override "a.b=c" in order, then the cross-field checks.
//   Errors throw sra::Error, always starting "[config] ":
//     "[config] run.yaml:3: unknown key 'model.d_modle' (did you mean 'model.d_model'?)"
//     "[config] run.yaml:3: model.d_model: expected an integer, got 'abc'"
//     "[config] run.yaml:3: model.d_model: must be > 0, got -1"
//     "[config] run.yaml:7: model.attention: must be one of dense, sra, got 'sparse'"
//     "[config] run.yaml:4: model.d_model (100) must be a multiple of model.n_heads (12)"  (cross-field:
//                                   the location of the first named key that was set, else the file)
//     "[config] run.yaml:5: invalid YAML: <yaml-cpp's message> (column 9)"
//     "[config] config file 'x.yaml' does not exist" (or "is not a regular file", "cannot read ...")
//     "[config] config file 'x.yaml' is empty (only whitespace or comments): ..." (a file that sets
//                                   nothing is refused, so a wrong or truncated file cannot silently
//                                   train on every default; load_config_string accepts "")
//     "[config] --set model.d_modle=512: unknown key 'model.d_modle' (did you mean 'model.d_model'?)"
//   Values: int = a plain decimal integer; float = a decimal or exponent number (finite); bool = true or
//   false; string = any scalar; enum = one of the listed words; int list = a YAML sequence of ints,
//   e.g. [0, -1]. A section written with no keys (`router:`) keeps its defaults; a duplicated key is an
//   error. Override values are parsed as YAML (`--set model.dense_layers=[0,1]`); an empty override
//   value sets a string key to "".
//   dump_resolved_yaml(cfg)       — every key with its value, in schema order; load_config_string of the
//                                   result gives back an equal RunConfig. The trainer writes it into the
//                                   run directory (write_resolved_config) and into every checkpoint.
// Works with yaml-cpp 0.7 (Debian 12) and 0.8 (Ubuntu 24.04): only API present in both.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "data/synthetic.h"
#include "model/optimizer.h"
#include "model/router.h"
#include "model/transformer.h"

namespace sra {

// The model and router sections are the runtime configs themselves (model/transformer.h, model/router.h):
// a new setting is one field there plus one schema line (run/config_schema.cpp). ModelSection's router
// and dtype are not keys: to_transformer_config takes them from the router section and f32.
struct ModelSection : TransformerConfig {
  bool operator==(const ModelSection&) const = default;
};

// RouterConfig plus the end of the trainer's temperature schedule.
struct RouterSection : RouterConfig {
  double temperature_final = 1.0;
  bool operator==(const RouterSection&) const = default;
};

struct SyntheticSection {
  int64_t min_hops = 2;
  int64_t max_hops = 6;
  int64_t min_distractors = 4;
  int64_t max_distractors = 12;
  int64_t context_chars = 0;  // > 0: more distractors until the context has this many bytes
  int64_t unused_variables = 3;
  int64_t max_value = 99;
  int64_t train_problems = 0;  // 0: batch_size * grad_accum * steps (at least 64)
  std::string form = "step";   // training targets: "step" (each hop's fact, then "#### N") | "direct"
  bool operator==(const SyntheticSection&) const = default;
};

struct DataSection {
  std::string dataset = "synthetic";  // "text" | "gsm8k" | "math" | "synthetic" | "shards"
  std::string path;                   // input file or directory; required unless dataset is synthetic
  std::string tokenizer;              // sentencepiece .model; "" = bytes (ids 0..255)
  int64_t seq_len = 256;
  int64_t seed = 0;
  bool skip_bad_lines = false;
  double val_fraction = 0.05;   // gsm8k / math: share of the train file held out for validation
  bool align_examples = false;  // synthetic / gsm8k / math: no example split across rows (PAD instead)
  SyntheticSection synthetic;
  bool operator==(const DataSection&) const = default;
};

// AdamWConfig (model/optimizer.h) plus gradient clipping.
struct OptimizerSection : AdamWConfig {
  double grad_clip = 1.0;  // global gradient-norm clip; 0 = off
  bool operator==(const OptimizerSection&) const = default;
};

struct ScheduleSection {
  std::string kind = "cosine";  // "cosine" | "constant"
  int64_t warmup_steps = 100;
  double min_lr_ratio = 0.1;
  bool operator==(const ScheduleSection&) const = default;
};

struct TrainSection {
  int64_t batch_size = 8;
  int64_t grad_accum = 1;
  int64_t steps = 1000;
  int64_t eval_every = 100;  // 0 = never
  int64_t eval_batches = 10;
  int64_t eval_problems = 0;       // synthetic: greedy val-split answers per evaluation (0 = off)
  int64_t checkpoint_every = 500;  // 0 = only at the end
  int64_t keep_last = 3;           // 0 = keep every checkpoint
  int64_t seed = 1;
  double time_limit_s = 0;   // > 0: stop after this many seconds; lr and tau follow the elapsed fraction
  std::string init_from;     // "" or "hf:DIR" (run/hf_import.h)
  bool freeze_base = false;  // only the routers train
  std::string base_dtype = "f32";  // "f32" | "bf16": the frozen base's linear weights (run/model_io.h)
  double distill_weight = 0;       // KL toward the dense model's logits
  bool operator==(const TrainSection&) const = default;
};

// Data parallel (core/dist/, docs/distributed.md): the ranks come from the launcher (--nproc-per-node,
// torchrun, mpirun, srun), not from the config.
struct DistributedSection {
  std::string backend = "auto";  // "auto" | "tcp" | "nccl" | "mpi" | "none"
  double timeout_s = 300;        // every collective and the rendezvous wait at most this long
  int64_t zero = 0;              // 1: ZeRO-1, AdamW state sharded over the ranks (train/zero.h)
  bool overlap = true;           // gradient all-reduces started during the backward (train/grad_sync.h)
  bool operator==(const DistributedSection&) const = default;
};

struct LoggingSection {
  int64_t log_every = 10;
  std::string metrics_file = "metrics.jsonl";
  std::string progress = "auto";  // "auto" | "on" | "off"
  bool operator==(const LoggingSection&) const = default;
};

// `sra rl` (rl/rl_trainer.h): REINFORCE tuning of the router from a supervised checkpoint.
struct RlSection {
  int64_t steps = 200;
  int64_t prompts_per_step = 4;
  int64_t group_size = 8;
  double lambda = 1.0;
  double lambda_final = -1.0;                  // < 0: same as lambda (constant)
  std::string baseline = "rloo";               // "rloo" | "mean"
  std::string penalty_gradient = "reinforce";  // "reinforce" | "expected" (rl/reinforce.h)
  bool train_lm = false;
  double lm_lr = 2e-5;  // with train_lm: the LM's (every non-router parameter's) learning rate
  double kl_weight = 0.0;
  double entropy_weight = 0.0;
  double adv_clip = 0.0;  // 0 = off
  double format_reward = 0.0;
  bool sample_answers = false;
  double temperature = 1.0;         // answer sampling temperature (sample_answers)
  double router_temperature = 0.0;  // policy tau; 0 = the checkpoint's router.temperature_final
  int64_t max_new_tokens = 160;
  std::string dataset = "synthetic";  // "synthetic" | "gsm8k"
  int64_t eval_every = 50;
  int64_t eval_problems = 100;
  int64_t warmup_steps = 0;
  int64_t seed = 0;
  int64_t checkpoint_every = 50;
  int64_t keep_last = 3;
  double time_limit_s = 0;  // > 0: stop after this many seconds; lambda follows the elapsed fraction
  bool operator==(const RlSection&) const = default;
};

struct RunConfig {
  ModelSection model;
  RouterSection router;
  DataSection data;
  OptimizerSection optimizer;
  ScheduleSection schedule;
  TrainSection train;
  std::string precision = "f32";  // "f32" | "bf16"
  std::string device = "cpu";     // "cpu" | "cuda" | "cuda:N" (run_device maps it to a Device)
  DistributedSection distributed;
  LoggingSection logging;
  RlSection rl;
  bool operator==(const RunConfig&) const = default;
};

// ---- schema ----------------------------------------------------------------------------------------
enum class ConfigType { kInt, kFloat, kBool, kString, kEnum, kIntList };

struct ConfigKey {
  std::string key;  // dotted path, e.g. "model.d_model"
  ConfigType type = ConfigType::kInt;
  std::string doc;
  std::vector<std::string> choices;  // kEnum: the allowed values
  // Bounds of kInt / kFloat values (and of kIntList entries): value > min (min_open) or >= min, etc.
  bool has_min = false, min_open = false, has_max = false, max_open = false;
  double min = 0, max = 0;
  // The field, by type (exactly one is set, matching `type`; kEnum uses string_field).
  int64_t& (*int_field)(RunConfig&) = nullptr;
  double& (*float_field)(RunConfig&) = nullptr;
  bool& (*bool_field)(RunConfig&) = nullptr;
  std::string& (*string_field)(RunConfig&) = nullptr;
  std::vector<int64_t>& (*list_field)(RunConfig&) = nullptr;
  // kEnum whose values are not a fixed list (device: cuda:N): replaces the choices test, which then only
  // names the forms in messages and docs; returns "" or the message ("must be ..., got 'x'").
  std::string (*check)(const std::string& value) = nullptr;
};

// Every key, grouped by section, in the order dump_resolved_yaml and reference.yaml write them.
const std::vector<ConfigKey>& config_schema();
const ConfigKey* find_config_key(const std::string& key);  // nullptr when not in the schema
// "expected an integer" / "a float" / ... and the bound text, e.g. "must be > 0", "must be in (0, 1]".
std::string config_type_name(ConfigType t);
std::string config_range_text(const ConfigKey& k);  // "" when unbounded
// Levenshtein distance (insertions, deletions, substitutions), for "did you mean" messages: unknown
// config keys here, unknown command words in the sra CLI.
size_t levenshtein(const std::string& a, const std::string& b);

// ---- loading -------------------------------------------------------------------------------------
// origins (optional): for each key set by the file or an override, where: "FILE:LINE" or
// "--set KEY=VALUE".
RunConfig load_config(const std::string& path, const std::vector<std::string>& overrides = {},
                      std::map<std::string, std::string>* origins = nullptr);
// The same from YAML text; `source` names it in messages (e.g. the checkpoint file it came from).
RunConfig load_config_string(const std::string& yaml, const std::string& source,
                             const std::vector<std::string>& overrides = {},
                             std::map<std::string, std::string>* origins = nullptr);
// Applies one "a.b=c" override to cfg (same checks as a file value, no cross-field checks).
void apply_override(RunConfig& cfg, const std::string& assignment);
// Per-key ranges and cross-field checks; throws "[config] ..." naming the keys.
void validate_config(const RunConfig& cfg);

// ---- writing -------------------------------------------------------------------------------------
std::string dump_resolved_yaml(const RunConfig& cfg);
// Writes dump_resolved_yaml(cfg) to path (parent directories created), via path.tmp + rename.
void write_resolved_config(const RunConfig& cfg, const std::string& path);
// The text of configs/reference.yaml: every key with its default and a comment.
std::string reference_yaml();

// ---- conversions -----------------------------------------------------------------------------------
RouterConfig to_router_config(const RunConfig& cfg);
TransformerConfig to_transformer_config(const RunConfig& cfg);  // dtype f32 (bf16 is a compute precision)
AdamWConfig to_adamw_config(const RunConfig& cfg);
// The device of the run: cfg.device ("cpu", "cuda" = cuda:0, "cuda:N") checked against this build and
// machine: "[config] device cuda: SRA was built without CUDA ...", "[config] device cuda:2: no CUDA device
// is visible" or "... only 2 CUDA devices are visible (cuda:0 to cuda:1)". Loading a config never
// checks this (a checkpoint trained on a GPU loads on a machine without one); the commands that place
// work do.
Device run_device(const RunConfig& cfg);
// The same for a spelling from elsewhere (a --device flag): cpu, cuda, cuda:N; the errors name the key.
Device parse_device_spec(const std::string& spec);
// The GEMM operand dtype of precision: bf16 for "bf16" (autograd/autocast.h), else f32.
DType compute_dtype(const RunConfig& cfg);
// The form check of the device key: "" for cpu, cuda and cuda:N, else the message.
std::string device_value_error(const std::string& value);
SyntheticOptions to_synthetic_options(const RunConfig& cfg);

}  // namespace sra
