// Model-based evaluation (`sra eval --checkpoint` / `--compare`): prompts a model on GSM8K, MATH,
// MATH-500 or the synthetic task, generates greedily, scores the answers, and measures the cost.
//
// Model and tokenizer (load_eval_model): the checkpoint's parameters and resolved config
// (run/model_io.h); the tokenizer is checkpoint_tokenizer's (run/model_io.h): the sentencepiece model
// embedded in the checkpoint, else meta "tokenizer" (else the config's data.tokenizer) as a path, whose
// hash must equal meta "tokenizer_hash" when the checkpoint has one ("[eval] ... tokenizer hash ..."
// otherwise), or bytes when empty. Token ids of a prompt: sentencepiece
// [BOS] encode(prompt) (tokenize_example's layout); bytes: byte 0 (the end-of-text the trainer puts
// between examples) then the prompt's bytes. End of text: the tokenizer's EOS, byte 0 for bytes.
//
// Generation: greedy (temperature 0), model/generate.h with the SRA KV cache, `batch` prompts decoded
// together, on the model's device (run_eval: --device; the checkpoint is loaded on the CPU, its threshold
// offset applied, then moved; a checkpoint trained on either device evaluates on either); stops at
// end-of-text, at max_new_tokens, or when the decoded answer contains a stop string of the prompt format
// (eval/prompts.h). The answer text ("output") is the decoded tokens without the end-of-text, cut before the
// earliest stop string. max_new_tokens 0 picks the default: gsm8k 256, math / math500 512, synthetic max(64,
// 16 + the longest step-by-step reference among the evaluated problems in the model's tokens).
//
// Scoring (score_output; the RL stage calls it per rollout):
//   gsm8k      strict-match and flexible-extract against the gold number (eval/answer_gsm8k.h)
//   math(500)  answer extraction + equivalence (eval/answer_math.h)
//   synthetic  as gsm8k, against the chain's answer ("#### N" is strict)
//
// Per sample: index, prompt, output, extracted, gold, correct (+ extracted_flexible, correct_flexible for
// gsm8k / synthetic; reason for math), prompt_tokens (fed prompt ids), answer_tokens (generated ids,
// end-of-text or stop token included), finish_reason ("eos", "stop", "length"), selected_ratio
// (Σ critical decisions / (fed tokens × SRA layers) over the audit trail: every prompt token and
// every generated token but the last; 0 for a dense model), flops = 2 × the exact multiply-adds of
// prefill + decode (model/flops.h: a forward of the fed tokens with logits at the last prompt token and
// at every decode step), attention_flops = the part of flops spent in the q·k and p·v products (what
// sparse attention cuts), latency_ms = the sample's prefill time + the wall time of the batched decode
// steps up to its last token (with batch 1: its end-to-end generation time).
// Summary: n; accuracy (gsm8k / synthetic: strict and flexible; math: one); mean selected ratio;
// FLOPs per query (mean of flops) and, with a baseline evaluated on the same problems, relative to its
// FLOPs per query, and the same for attention FLOPs; latency mean and p95 (nearest rank); tokens/s = Σ
// answer_tokens / generation wall time; items/s; prefill seconds and prompt tokens/s of the prefill; mean
// prompt and answer tokens; prompts_over_max_seq_len (prompt + max_new_tokens beyond the model's max_seq_len:
// RoPE positions past training, reported, not refused). Lengths are checked before any generation:
// every prompt is encoded first and the warning for prompts_over_max_seq_len comes then; a few-shot
// prompt that leaves no room for an answer (prompt tokens >= max_seq_len) is refused ("[config] --shots K:
// the prompt of problem I is N tokens ...; it fits with --shots J or fewer"). A zero-shot one is not (the
// problem's own text: reported as above).
//
// run_eval (CLI): every model (and the --baseline) is evaluated on the same problems and exemplars, those
// of the first checkpoint (synthetic: generated from its data.synthetic options and data.seed). Before
// building any exemplar, --shots >= the first model's max_seq_len is refused (each exemplar takes at least
// one token), as is --shots beyond the exemplar file's problems (make_eval_task). evaluate() refuses a
// given max_new_tokens above max_seq_len (the defaults are not checked: a 512-token MATH answer on a
// short-context model is reported as above). FLOPs
// are relative to --baseline when given, else (--compare) to the first row. A row with a non-zero
// threshold offset gets " θ+D" in its default label and "threshold_offset" in its summary.
// Outputs of run_eval: the Markdown table on `out` always (one row per model, the columns of
// markdown_table; with several rows then "Paired answers (McNemar's test, two-sided):" and
// eval/compare.h's paired_table); with out_dir: DIR/summary.md, DIR/summary.json and DIR/samples.jsonl
// (one model), or for --compare DIR/summary.md (both tables), DIR/summary.json {"dataset", "rows":
// [summary, ...], "paired": paired_json} and DIR/<label>/samples.jsonl + summary.json per model (label
// with characters other than [A-Za-z0-9._-] replaced by '_', a repeated one suffixed _2, _3, ...).
// Samples also record cache_bytes (the KV cache at the end of the answer), summaries its mean
// kv_cache_bytes and, for the --match-ratio row, "calibration" (RatioMatch::to_json plus matched_row,
// problems, split). Progress lines go to `log`.
#pragma once
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/dist/collectives.h"
#include "core/json.h"
#include "data/tokenizer.h"
#include "eval/prompts.h"
#include "model/transformer.h"
#include "run/config.h"

namespace sra::eval {

// ---- scoring one answer --------------------------------------------------------------------------
struct OutputScore {
  bool correct = false;                  // gsm8k / synthetic: strict-match; math: equivalent
  bool correct_flexible = false;         // gsm8k / synthetic: flexible-extract (math: = correct)
  std::optional<std::string> extracted;  // gsm8k / synthetic: strict ("[invalid]" if none); math: none
  std::string extracted_flexible;        // gsm8k / synthetic
  std::string reason;                    // math: the rule that decided
};
OutputScore score_output(const std::string& dataset, std::string_view output, std::string_view gold);
inline bool output_correct(const std::string& dataset, std::string_view output, std::string_view gold) {
  return score_output(dataset, output, gold).correct;
}

// ---- model, tokenizer, task ------------------------------------------------------------------------
struct EvalModel {
  std::string checkpoint;
  RunConfig config;
  int64_t step = 0;
  std::unique_ptr<Transformer> model;
  Tokenizer tokenizer;  // not loaded: bytes
};
EvalModel load_eval_model(const std::string& checkpoint);

// Prompt ids and answer text for a model with this tokenizer (unloaded: bytes), as described above.
std::vector<int64_t> encode_prompt(const Tokenizer& tok, const std::string& text);
std::string decode_answer(const Tokenizer& tok, const std::vector<int64_t>& ids);  // drops end-of-text ids
int64_t end_of_text_id(const Tokenizer& tok);

struct EvalOptions {
  std::string dataset;         // gsm8k | math | math500 | synthetic
  int64_t limit = -1;          // problems 0 .. limit − 1; < 0: all (synthetic: kSyntheticDefaultLimit)
  int64_t shots = 0;           // few-shot exemplars (0: zero-shot, the training format)
  bool cot = true;             // few-shot targets with reasoning (false: --direct)
  int64_t max_new_tokens = 0;  // 0: the dataset's default
  int64_t batch = 8;           // prompts decoded together
  std::string data_dir;        // "" → resolve_data_dir
};
inline constexpr int64_t kSyntheticDefaultLimit = 500;

struct EvalTask {
  std::string dataset;
  std::vector<EvalProblem> problems;
  std::vector<EvalProblem> exemplars;  // the first `shots` of the exemplar file / train split
  PromptFormat format;
};
// Loads the problems and exemplars (synthetic: from `synthetic`, the model's data.synthetic options).
EvalTask make_eval_task(const EvalOptions& opt, const SyntheticOptions& synthetic);

// ---- results ----------------------------------------------------------------------------------------
struct EvalSample {
  int64_t index = 0;
  std::string prompt, output, gold;
  OutputScore score;
  int64_t prompt_tokens = 0, answer_tokens = 0;
  std::string finish_reason;
  double selected_ratio = 0;
  double flops = 0;
  double attention_flops = 0;  // of flops: the q·k and p·v products (what sparse attention cuts)
  double latency_ms = 0;
  int64_t cache_bytes = 0;  // the KV cache's bytes at the end of the answer (SRA: critical + window + sinks)
  Json to_json(const std::string& dataset) const;
};

struct EvalResult {
  std::string dataset, label, checkpoint;
  int64_t step = 0;
  int64_t shots = 0;
  bool cot = true;
  std::string attention;        // "dense" or "sra"
  double threshold_offset = 0;  // added to every SRA router's θ for this evaluation (run_eval)
  int64_t max_new_tokens = 0, batch = 0;
  int64_t n = 0, correct = 0, correct_flexible = 0;
  double selected_ratio = 0;                       // mean over samples
  double flops_per_query = 0;                      // mean
  std::optional<double> baseline_flops;            // the baseline's FLOPs per query on the same problems
  double attention_flops_per_query = 0;            // mean
  std::optional<double> baseline_attention_flops;  // the baseline's, on the same problems
  std::string baseline_label;
  double latency_mean_ms = 0, latency_p95_ms = 0;
  double cache_bytes_mean = 0;      // mean of the samples' cache_bytes
  Json calibration;                 // --match-ratio: how threshold_offset was found (null otherwise)
  double seconds = 0;               // generation wall time
  double prefill_seconds = 0;       // of which prefill (the rest decodes)
  double prefill_tokens_per_s = 0;  // Σ prompt_tokens / prefill_seconds
  double tokens_per_s = 0, items_per_s = 0;
  double prompt_tokens_mean = 0, answer_tokens_mean = 0;
  int64_t prompts_over_max_seq_len = 0;
  std::vector<EvalSample> samples;

  double accuracy() const { return n == 0 ? 0.0 : double(correct) / double(n); }
  double accuracy_flexible() const { return n == 0 ? 0.0 : double(correct_flexible) / double(n); }
  bool has_flexible() const { return dataset == "gsm8k" || dataset == "synthetic"; }
  std::optional<double> flops_relative() const;
  std::optional<double> attention_flops_relative() const;
  Json summary() const;
};

// Evaluates an in-memory model (switched to eval mode for the call) on the task's problems.
// max_new_tokens 0 → the default; batch >= 1. Progress lines go to `log` when given. With `comm` (a
// multi-rank job; collective: every rank calls it) this rank generates only its share of the batches
// and the result holds every rank's samples (eval/shard.h).
EvalResult evaluate(Transformer& m, const Tokenizer& tok, const EvalTask& task, int64_t max_new_tokens,
                    int64_t batch, std::ostream* log = nullptr, dist::Communicator* comm = nullptr);

// The Markdown table: | Model | n | <DS> accuracy [| flexible] | Selected ratio | FLOPs per query |
// FLOPs (relative) | Attention FLOPs (relative) | Latency (ms) | Latency p95 (ms) | Tokens/s | Attention
// FLOPs per query | KV cache (KiB) |, one row per result.
std::string markdown_table(const std::vector<EvalResult>& rows);
void write_eval_result(const EvalResult& r, const std::string& dir);  // samples.jsonl, summary.json, .md

// ---- the CLI's entry point ------------------------------------------------------------------------
struct EvalRunOptions {
  EvalOptions eval;
  std::string checkpoint;            // one model, or
  std::vector<std::string> compare;  // several, one table row each
  std::vector<std::string> labels;   // row labels (default: run dir/checkpoint name (attention, mode))
  std::vector<std::string> modes;    // --compare: per-checkpoint "cot" or "direct" (default: eval.cot)
  std::string baseline;              // FLOPs relative to this checkpoint's, evaluated on the same problems
  // Added to the threshold θ of every SRA router (z = 1[s > θ + offset]): one value for every model, or
  // one per checkpoint (--compare; the same checkpoint may appear twice with different offsets). A
  // positive offset selects fewer tokens: an inference-time budget knob, and the baseline that RL router
  // tuning has to beat at equal selected ratio (docs/results.md). Dense models ignore it.
  std::vector<double> threshold_offsets;
  // --match-ratio ROW:SHIFTED (labels, or 1-based row numbers): before the table, SHIFTED's threshold
  // offset is found by bisection (eval/compare.h match_selected_ratio) so that its selected ratio on
  // `calibration_problems` problems of another split (synthetic: val; gsm8k / math: train) equals ROW's
  // there: the threshold-shift baseline at RL's ratio. It replaces SHIFTED's --threshold-offset.
  std::string match_ratio;
  int64_t calibration_problems = 200;
  std::string out_dir;
  std::string device = "cpu";  // cpu, cuda or cuda:N (run/config.h): where every model is evaluated
  // Several ranks (eval/shard.h): how long a rank waits for the others' samples. Long by default: the
  // ranks' shares can take different times; a dead rank is still noticed at once (its sockets close).
  double dist_timeout_s = 3600;
};
// Runs the evaluation(s) and returns the results (baseline not included); errors throw sra::Error
// ("[config] ..." for inconsistent options).
std::vector<EvalResult> run_eval(const EvalRunOptions& opt, std::ostream& out, std::ostream& log);

}  // namespace sra::eval
