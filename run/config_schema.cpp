// The run-config schema: every key once, with its type, bounds or allowed values and a one-line doc.
// Defaults are the initializers of the RunConfig fields (run/config.h).
#include <limits>

#include "run/config.h"

namespace sra {

namespace {

// Bounds: GT(x) value > x, GE(x) value >= x, LE / LT likewise for the upper end.
struct Bound {
  bool set = false, open = false;
  double v = 0;
};
Bound gt(double v) {
  return {true, true, v};
}
Bound ge(double v) {
  return {true, false, v};
}
Bound lt(double v) {
  return {true, true, v};
}
Bound le(double v) {
  return {true, false, v};
}
Bound none() {
  return {};
}

void set_bounds(ConfigKey& k, Bound lo, Bound hi) {
  k.has_min = lo.set;
  k.min_open = lo.open;
  k.min = lo.v;
  k.has_max = hi.set;
  k.max_open = hi.open;
  k.max = hi.v;
}

ConfigKey int_key(const char* key, int64_t& (*f)(RunConfig&), Bound lo, Bound hi, const char* doc) {
  ConfigKey k;
  k.key = key;
  k.type = ConfigType::kInt;
  k.int_field = f;
  k.doc = doc;
  set_bounds(k, lo, hi);
  return k;
}

ConfigKey float_key(const char* key, double& (*f)(RunConfig&), Bound lo, Bound hi, const char* doc) {
  ConfigKey k;
  k.key = key;
  k.type = ConfigType::kFloat;
  k.float_field = f;
  k.doc = doc;
  set_bounds(k, lo, hi);
  return k;
}

ConfigKey bool_key(const char* key, bool& (*f)(RunConfig&), const char* doc) {
  ConfigKey k;
  k.key = key;
  k.type = ConfigType::kBool;
  k.bool_field = f;
  k.doc = doc;
  return k;
}

ConfigKey string_key(const char* key, std::string& (*f)(RunConfig&), const char* doc) {
  ConfigKey k;
  k.key = key;
  k.type = ConfigType::kString;
  k.string_field = f;
  k.doc = doc;
  return k;
}

ConfigKey enum_key(const char* key, std::string& (*f)(RunConfig&), std::vector<std::string> choices,
                   const char* doc) {
  ConfigKey k;
  k.key = key;
  k.type = ConfigType::kEnum;
  k.string_field = f;
  k.choices = std::move(choices);
  k.doc = doc;
  return k;
}

ConfigKey list_key(const char* key, std::vector<int64_t>& (*f)(RunConfig&), const char* doc) {
  ConfigKey k;
  k.key = key;
  k.type = ConfigType::kIntList;
  k.list_field = f;
  k.doc = doc;
  return k;
}

#define SRA_FIELD(T, member) [](RunConfig& c) -> T& { return c.member; }

std::vector<ConfigKey> build_schema() {
  std::vector<ConfigKey> s;
  // model
  s.push_back(int_key("model.vocab_size", SRA_FIELD(int64_t, model.vocab_size), gt(0), none(),
                      "Vocabulary size (256 for bytes; the tokenizer's size otherwise)."));
  s.push_back(int_key("model.d_model", SRA_FIELD(int64_t, model.d_model), gt(0), none(), "Model width."));
  s.push_back(int_key("model.n_layers", SRA_FIELD(int64_t, model.n_layers), gt(0), none(),
                      "Number of Transformer blocks."));
  s.push_back(int_key("model.n_heads", SRA_FIELD(int64_t, model.n_heads), gt(0), none(),
                      "Attention (query) heads; d_model must be a multiple, with an even head dim."));
  s.push_back(int_key("model.n_kv_heads", SRA_FIELD(int64_t, model.n_kv_heads), gt(0), none(),
                      "Key/value heads (grouped-query attention); must divide n_heads."));
  s.push_back(int_key("model.d_ff", SRA_FIELD(int64_t, model.d_ff), gt(0), none(), "SwiGLU hidden size."));
  s.push_back(int_key("model.max_seq_len", SRA_FIELD(int64_t, model.max_seq_len), gt(0), none(),
                      "Longest sequence the model accepts (>= data.seq_len)."));
  s.push_back(float_key("model.rope_theta", SRA_FIELD(double, model.rope_theta), gt(0), none(),
                        "Rotary embedding base."));
  s.push_back(enum_key("model.rope_scaling.type", SRA_FIELD(std::string, model.rope_scaling.type),
                       {"none", "llama3"},
                       "Rotary frequency scaling: none, or Llama 3's (Hugging Face rope_type llama3)."));
  s.push_back(float_key("model.rope_scaling.factor", SRA_FIELD(double, model.rope_scaling.factor), gt(0),
                        none(), "llama3: low frequencies are divided by this."));
  s.push_back(float_key("model.rope_scaling.low_freq_factor",
                        SRA_FIELD(double, model.rope_scaling.low_freq_factor), gt(0), none(),
                        "llama3: wavelengths over original_max_position_embeddings / this are scaled."));
  s.push_back(float_key("model.rope_scaling.high_freq_factor",
                        SRA_FIELD(double, model.rope_scaling.high_freq_factor), gt(0), none(),
                        "llama3: wavelengths under original_max_position_embeddings / this are kept "
                        "(> low_freq_factor)."));
  s.push_back(int_key("model.rope_scaling.original_max_position_embeddings",
                      SRA_FIELD(int64_t, model.rope_scaling.original_max_position_embeddings), gt(0), none(),
                      "llama3: the context length the model was pretrained at."));
  s.push_back(bool_key("model.qkv_bias", SRA_FIELD(bool, model.qkv_bias),
                       "q_proj, k_proj and v_proj have a bias (Qwen2); o_proj never does."));
  s.push_back(
      float_key("model.norm_eps", SRA_FIELD(double, model.norm_eps), gt(0), none(), "RMSNorm epsilon."));
  s.push_back(bool_key("model.tie_embeddings", SRA_FIELD(bool, model.tie_embeddings),
                       "Share the token embedding with the output projection."));
  s.push_back(float_key("model.init_std", SRA_FIELD(double, model.init_std), gt(0), none(),
                        "Standard deviation of the normal weight initialisation."));
  s.push_back(
      int_key("model.seed", SRA_FIELD(int64_t, model.seed), ge(0), none(), "Seed of the initialisation."));
  s.push_back(enum_key("model.attention", SRA_FIELD(std::string, model.attention), {"dense", "sra"},
                       "Attention kind: dense everywhere, or SRA (sinks + window + routed tokens)."));
  s.push_back(list_key("model.dense_layers", SRA_FIELD(std::vector<int64_t>, model.dense_layers),
                       "With sra: layers kept dense (negative indices count from the end)."));
  s.push_back(int_key("model.window", SRA_FIELD(int64_t, model.window), ge(1), none(),
                      "SRA local window: tokens up to and including the query."));
  s.push_back(int_key("model.sinks", SRA_FIELD(int64_t, model.sinks), ge(0), none(),
                      "SRA sinks: first tokens every query attends to."));
  s.push_back(bool_key("model.shared_router", SRA_FIELD(bool, model.shared_router),
                       "One router shared by all SRA layers (else one per layer)."));
  // router
  s.push_back(
      int_key("router.hidden", SRA_FIELD(int64_t, router.hidden), gt(0), none(), "Router MLP width."));
  s.push_back(float_key("router.target_ratio", SRA_FIELD(double, router.target_ratio), gt(0), le(1),
                        "Fraction of tokens the router selects (rho)."));
  s.push_back(float_key("router.temperature", SRA_FIELD(double, router.temperature), gt(0), none(),
                        "Gate temperature at the start of training."));
  s.push_back(float_key("router.temperature_final", SRA_FIELD(double, router.temperature_final), gt(0),
                        none(), "Gate temperature at the end of training (annealed from temperature)."));
  s.push_back(
      float_key("router.threshold_lr", SRA_FIELD(double, router.threshold_lr), ge(0), none(),
                "Step size of the threshold update: the EMA rate (in [0, 1]) toward each step's quantile, or "
                "the step per unit of ratio error."));
  s.push_back(enum_key(
      "router.threshold_update", SRA_FIELD(std::string, router.threshold_update), {"quantile", "ratio"},
      "How theta follows the target ratio after each step: quantile = EMA toward the (1 - "
      "target_ratio)-quantile of the step's noisy scores s + tau*noise (robust to score drift); "
      "ratio = theta += threshold_lr * (selected ratio - target_ratio)."));
  s.push_back(float_key("router.budget_weight", SRA_FIELD(double, router.budget_weight), ge(0), none(),
                        "Weight of the budget loss (0 = off)."));
  s.push_back(float_key("router.init_threshold", SRA_FIELD(double, router.init_threshold), none(), none(),
                        "Initial selection threshold (about logit(1 - target_ratio))."));
  // data
  s.push_back(enum_key(
      "data.dataset", SRA_FIELD(std::string, data.dataset), {"text", "gsm8k", "math", "synthetic", "shards"},
      "Training data: a text corpus, GSM8K or MATH JSONL, generated multi-hop problems, or the "
      "token shards of `sra data prepare`."));
  s.push_back(string_key("data.path", SRA_FIELD(std::string, data.path),
                         "Text file, train JSONL, or prepared-shards directory; relative paths not found "
                         "here resolve against the data dir (required unless dataset is synthetic)."));
  s.push_back(
      string_key("data.tokenizer", SRA_FIELD(std::string, data.tokenizer),
                 "Sentencepiece .model file, or a Hugging Face byte-level BPE tokenizer.json (or a "
                 "directory holding one; docs/tokenizers.md); empty = bytes (needs vocab_size >= 256)."));
  s.push_back(int_key("data.seq_len", SRA_FIELD(int64_t, data.seq_len), gt(0), none(),
                      "Tokens per training row (T)."));
  s.push_back(int_key("data.seed", SRA_FIELD(int64_t, data.seed), ge(0), none(),
                      "Seed of the data order and of synthetic problems."));
  s.push_back(bool_key("data.skip_bad_lines", SRA_FIELD(bool, data.skip_bad_lines),
                       "Skip (and count) malformed JSONL lines instead of failing."));
  s.push_back(float_key("data.val_fraction", SRA_FIELD(double, data.val_fraction), gt(0), le(0.5),
                        "gsm8k / math: share of the train file's examples held out for validation."));
  s.push_back(bool_key("data.align_examples", SRA_FIELD(bool, data.align_examples),
                       "synthetic / gsm8k / math: start an example that would straddle a row boundary at the "
                       "next row (the gap padded, no loss), so that every answer sees its whole prompt."));
  s.push_back(int_key("data.synthetic.min_hops", SRA_FIELD(int64_t, data.synthetic.min_hops), ge(1), le(200),
                      "Fewest reasoning hops per synthetic problem."));
  s.push_back(int_key("data.synthetic.max_hops", SRA_FIELD(int64_t, data.synthetic.max_hops), ge(1), le(200),
                      "Most reasoning hops per synthetic problem."));
  s.push_back(int_key("data.synthetic.min_distractors", SRA_FIELD(int64_t, data.synthetic.min_distractors),
                      ge(0), le(100000), "Fewest distractor sentences per synthetic problem."));
  s.push_back(int_key("data.synthetic.max_distractors", SRA_FIELD(int64_t, data.synthetic.max_distractors),
                      ge(0), le(100000), "Most distractor sentences per synthetic problem."));
  s.push_back(int_key("data.synthetic.context_chars", SRA_FIELD(int64_t, data.synthetic.context_chars), ge(0),
                      le(100000000),
                      "When > 0, add distractors until the context has at least this many bytes."));
  s.push_back(int_key("data.synthetic.unused_variables", SRA_FIELD(int64_t, data.synthetic.unused_variables),
                      ge(0), le(200),
                      "Variable assignments off the reasoning chain, per synthetic problem."));
  s.push_back(int_key("data.synthetic.max_value", SRA_FIELD(int64_t, data.synthetic.max_value), ge(2),
                      le(1000000), "Every synthetic value (constants and results) lies in [0, max_value]."));
  s.push_back(int_key(
      "data.synthetic.train_problems", SRA_FIELD(int64_t, data.synthetic.train_problems), ge(0),
      le(100000000),
      "Train-split problems generated for the run; 0 = batch_size * grad_accum * steps (at least "
      "64): one problem per row the run reads, so each is seen only a few times. A run resumed with a "
      "larger train.steps must set it to the first run's count (the sampler checks it)."));
  s.push_back(enum_key("data.synthetic.form", SRA_FIELD(std::string, data.synthetic.form),
                       {"step", "direct", "trace"},
                       "Synthetic training targets: step (each hop's fact with its value from the chain's "
                       "constant on, then \"#### N\": chain of thought), trace (the chain's definitions "
                       "from the asked variable back, one lookup per hop, then the values forward: chain of "
                       "thought) or direct (\"#### N\" only: the standard answer)."));
  // optimizer
  s.push_back(
      float_key("optimizer.lr", SRA_FIELD(double, optimizer.lr), gt(0), none(), "Peak learning rate."));
  s.push_back(float_key("optimizer.beta1", SRA_FIELD(double, optimizer.beta1), ge(0), lt(1), "AdamW beta1."));
  s.push_back(float_key("optimizer.beta2", SRA_FIELD(double, optimizer.beta2), ge(0), lt(1), "AdamW beta2."));
  s.push_back(float_key("optimizer.eps", SRA_FIELD(double, optimizer.eps), gt(0), none(), "AdamW epsilon."));
  s.push_back(float_key("optimizer.weight_decay", SRA_FIELD(double, optimizer.weight_decay), ge(0), none(),
                        "Decoupled weight decay (matrices only, not norms or embeddings)."));
  s.push_back(float_key("optimizer.grad_clip", SRA_FIELD(double, optimizer.grad_clip), ge(0), none(),
                        "Clip the global gradient norm to this (0 = off)."));
  // schedule
  s.push_back(enum_key("schedule.kind", SRA_FIELD(std::string, schedule.kind), {"cosine", "constant"},
                       "Learning-rate shape after warmup."));
  s.push_back(int_key("schedule.warmup_steps", SRA_FIELD(int64_t, schedule.warmup_steps), ge(0), none(),
                      "Linear warmup steps (<= train.steps)."));
  s.push_back(float_key("schedule.min_lr_ratio", SRA_FIELD(double, schedule.min_lr_ratio), ge(0), le(1),
                        "Cosine floor as a fraction of optimizer.lr."));
  // train
  s.push_back(int_key("train.batch_size", SRA_FIELD(int64_t, train.batch_size), gt(0), none(),
                      "Rows per micro-batch, over all ranks: each of N data-parallel ranks takes "
                      "batch_size / N of them (a multiple of N)."));
  s.push_back(int_key("train.grad_accum", SRA_FIELD(int64_t, train.grad_accum), gt(0), none(),
                      "Micro-batches accumulated per optimizer step."));
  s.push_back(int_key("train.steps", SRA_FIELD(int64_t, train.steps), gt(0), none(), "Optimizer steps."));
  s.push_back(int_key("train.eval_every", SRA_FIELD(int64_t, train.eval_every), ge(0), none(),
                      "Evaluate every this many steps (0 = never)."));
  s.push_back(int_key("train.eval_batches", SRA_FIELD(int64_t, train.eval_batches), gt(0), none(),
                      "Batches per evaluation."));
  s.push_back(int_key("train.eval_problems", SRA_FIELD(int64_t, train.eval_problems), ge(0), none(),
                      "Synthetic data: also answer this many val-split problems greedily at each evaluation "
                      "and log their accuracy and selected ratio (0 = off)."));
  s.push_back(int_key("train.checkpoint_every", SRA_FIELD(int64_t, train.checkpoint_every), ge(0), none(),
                      "Checkpoint every this many steps (0 = only at the end)."));
  s.push_back(int_key("train.keep_last", SRA_FIELD(int64_t, train.keep_last), ge(0), none(),
                      "Checkpoints kept on disk (0 = all)."));
  s.push_back(int_key("train.seed", SRA_FIELD(int64_t, train.seed), ge(0), none(),
                      "Seed of training randomness (router noise)."));
  s.push_back(float_key("train.time_limit_s", SRA_FIELD(double, train.time_limit_s), ge(0), none(),
                        "When > 0: stop (with a checkpoint) once this many seconds of steps have run, or at "
                        "train.steps if sooner; the cosine learning rate and the router temperature then "
                        "follow the elapsed fraction of the limit instead of the step fraction."));
  s.push_back(string_key("train.init_from", SRA_FIELD(std::string, train.init_from),
                         "Start from pretrained weights: hf:DIR (a Hugging Face Llama / Mistral / Qwen2 "
                         "directory, docs/hf.md); its model keys replace the config's, new routers start "
                         "fresh. Empty = random initialisation."));
  s.push_back(bool_key("train.freeze_base", SRA_FIELD(bool, train.freeze_base),
                       "Train only the routers (the imported or initial LM stays bitwise unchanged)."));
  s.push_back(enum_key("train.base_dtype", SRA_FIELD(std::string, train.base_dtype), {"f32", "bf16"},
                       "With train.freeze_base: the dtype the frozen base's linear weights are held in. bf16 "
                       "halves their memory (an imported bf16 checkpoint's bits exactly); their GEMMs then "
                       "take bf16 operands with fp32 accumulation on every device. Embeddings, norms and "
                       "routers stay f32."));
  s.push_back(float_key("train.distill_weight", SRA_FIELD(double, train.distill_weight), ge(0), none(),
                        "Weight of the KL(dense || SRA) distillation term toward the same model's dense "
                        "logits (all layers dense, no gradient) on every target position (0 = off)."));
  // top-level
  s.push_back(enum_key("precision", SRA_FIELD(std::string, precision), {"f32", "bf16"},
                       "Compute precision (bf16 needs device cuda; master weights stay f32)."));
  ConfigKey device = enum_key("device", SRA_FIELD(std::string, device), {"cpu", "cuda", "cuda:N"},
                              "Where the run computes: cpu, cuda (= cuda:0) or cuda:N (the GPU of index N).");
  device.check = device_value_error;
  s.push_back(device);
  // distributed
  s.push_back(enum_key(
      "distributed.backend", SRA_FIELD(std::string, distributed.backend),
      {"auto", "tcp", "nccl", "mpi", "none"},
      "Collectives between ranks: auto = nccl on cuda (when built with NCCL), else tcp; mpi under mpirun "
      "(the same bits as tcp); none refuses a multi-rank launch."));
  s.push_back(float_key("distributed.timeout_s", SRA_FIELD(double, distributed.timeout_s), gt(0), none(),
                        "Seconds a collective or the rendezvous may wait before the job fails."));
  s.push_back(
      int_key("distributed.zero", SRA_FIELD(int64_t, distributed.zero), ge(0), le(1),
              "ZeRO stage of sra train: 0 = plain data parallel; 1 = AdamW state sharded over the ranks "
              "(reduce-scatter gradients, all-gather parameters; the same checkpoints)."));
  s.push_back(
      bool_key("distributed.overlap", SRA_FIELD(bool, distributed.overlap),
               "Start each gradient bucket's all-reduce during the backward, as soon as its gradients are "
               "final (zero 0; the same bits as after the backward)."));
  // logging
  s.push_back(int_key("logging.log_every", SRA_FIELD(int64_t, logging.log_every), gt(0), none(),
                      "Print and record metrics every this many steps."));
  s.push_back(string_key(
      "logging.metrics_file", SRA_FIELD(std::string, logging.metrics_file),
      "JSONL metrics file, relative to the run directory (inside it: no absolute path, no '..')."));
  s.push_back(enum_key("logging.progress", SRA_FIELD(std::string, logging.progress), {"auto", "on", "off"},
                       "Progress bar: auto = only on a terminal."));
  // rl (sra rl; rl/rl_trainer.h)
  s.push_back(int_key("rl.steps", SRA_FIELD(int64_t, rl.steps), gt(0), none(), "RL optimizer steps."));
  s.push_back(int_key("rl.prompts_per_step", SRA_FIELD(int64_t, rl.prompts_per_step), gt(0), none(),
                      "Prompts per RL step."));
  s.push_back(int_key("rl.group_size", SRA_FIELD(int64_t, rl.group_size), ge(2), none(),
                      "Rollouts per prompt (G), the group of the baseline."));
  s.push_back(float_key("rl.lambda", SRA_FIELD(double, rl.lambda), ge(0), none(),
                        "Reward = correct - lambda * selected / total decisions (at the first step)."));
  s.push_back(float_key("rl.lambda_final", SRA_FIELD(double, rl.lambda_final), none(), none(),
                        "Lambda at the last step, linear in between; < 0 = same as lambda."));
  s.push_back(enum_key("rl.baseline", SRA_FIELD(std::string, rl.baseline), {"rloo", "mean"},
                       "Advantage baseline: leave-one-out group mean (RLOO) or group mean (Dr. GRPO)."));
  s.push_back(
      enum_key("rl.penalty_gradient", SRA_FIELD(std::string, rl.penalty_gradient), {"reinforce", "expected"},
               "How the lambda penalty reaches the gradient: in the advantages (REINFORCE) or exactly, "
               "as lambda/N times the sum of the decisions' probabilities (rl/reinforce.h)."));
  s.push_back(bool_key("rl.train_lm", SRA_FIELD(bool, rl.train_lm),
                       "Train the LM too (answer tokens' log-probs join the loss); needs sample_answers."));
  s.push_back(float_key("rl.lm_lr", SRA_FIELD(double, rl.lm_lr), ge(0), none(),
                        "With train_lm: the LM's learning rate (the routers train at optimizer.lr)."));
  s.push_back(float_key("rl.kl_weight", SRA_FIELD(double, rl.kl_weight), ge(0), none(),
                        "Weight of the per-decision KL to the initial router (0 = off)."));
  s.push_back(float_key("rl.entropy_weight", SRA_FIELD(double, rl.entropy_weight), ge(0), none(),
                        "Weight of the decision entropy bonus (0 = off)."));
  s.push_back(float_key("rl.adv_clip", SRA_FIELD(double, rl.adv_clip), ge(0), none(),
                        "Clip advantages to [-adv_clip, adv_clip] (0 = off)."));
  s.push_back(float_key("rl.format_reward", SRA_FIELD(double, rl.format_reward), ge(0), none(),
                        "Reward added when the answer contains '####' (0 = off)."));
  s.push_back(bool_key("rl.sample_answers", SRA_FIELD(bool, rl.sample_answers),
                       "Sample answer tokens at rl.temperature (else greedy)."));
  s.push_back(float_key("rl.temperature", SRA_FIELD(double, rl.temperature), gt(0), none(),
                        "Answer sampling temperature (with sample_answers)."));
  s.push_back(float_key("rl.router_temperature", SRA_FIELD(double, rl.router_temperature), ge(0), none(),
                        "Policy tau: p = sigmoid((s - theta) / tau); 0 = checkpoint's temperature_final."));
  s.push_back(int_key("rl.max_new_tokens", SRA_FIELD(int64_t, rl.max_new_tokens), gt(0), none(),
                      "Rollout answer length limit; prompts over max_seq_len minus this are skipped."));
  s.push_back(enum_key("rl.dataset", SRA_FIELD(std::string, rl.dataset), {"synthetic", "gsm8k"},
                       "Prompts: synthetic train/test splits, or GSM8K train.jsonl/test.jsonl."));
  s.push_back(int_key("rl.eval_every", SRA_FIELD(int64_t, rl.eval_every), ge(0), none(),
                      "Held-out eval at the start, every this many steps and at the end (0 = never)."));
  s.push_back(int_key("rl.eval_problems", SRA_FIELD(int64_t, rl.eval_problems), gt(0), none(),
                      "Test-split problems per evaluation (greedy answers, deterministic selection)."));
  s.push_back(int_key("rl.warmup_steps", SRA_FIELD(int64_t, rl.warmup_steps), ge(0), none(),
                      "Linear learning-rate warmup steps (then constant optimizer.lr)."));
  s.push_back(int_key("rl.seed", SRA_FIELD(int64_t, rl.seed), ge(0), none(),
                      "Seed of the prompt order, the decision and the answer sampling."));
  s.push_back(int_key("rl.checkpoint_every", SRA_FIELD(int64_t, rl.checkpoint_every), ge(0), none(),
                      "Checkpoint every this many RL steps (0 = only at the end)."));
  s.push_back(int_key("rl.keep_last", SRA_FIELD(int64_t, rl.keep_last), ge(0), none(),
                      "RL checkpoints kept on disk (0 = all)."));
  s.push_back(float_key("rl.time_limit_s", SRA_FIELD(double, rl.time_limit_s), ge(0), none(),
                        "When > 0: stop (with a checkpoint and the final evaluation) once this many seconds "
                        "of RL steps have run, or at rl.steps if sooner; lambda -> lambda_final then follows "
                        "the elapsed fraction of the limit."));
  return s;
}

#undef SRA_FIELD

}  // namespace

const std::vector<ConfigKey>& config_schema() {
  static const std::vector<ConfigKey> schema = build_schema();
  return schema;
}

const ConfigKey* find_config_key(const std::string& key) {
  for (const ConfigKey& k : config_schema())
    if (k.key == key) return &k;
  return nullptr;
}

}  // namespace sra
