// The training loop behind `sra train`: config → data → model → AdamW steps, with validation, metrics,
// checkpoints and exact resume.
//
// Data: load_training_data (run/data_prep.h, the code `sra data prepare` runs too) gives a train and a
//   validation token stream per data.dataset:
//   synthetic  train problems 0..N-1 of the synthetic generator's train split
//              (N = data.synthetic.train_problems, or max(64, batch_size · grad_accum · steps) when 0),
//              data.synthetic.form (step or direct); validation: val-split problems 0..M-1 (M = max(8,
//              eval_batches · batch_size)).
//   gsm8k,     data.path = the train JSONL (load_gsm8k / load_math); round(n · data.val_fraction) of its n
//   math       rows (at least 1, at most n - 1), spread evenly through the file, validate; the rest train.
//              A malformed line is a fatal "[data] FILE:LINE: ..." error unless data.skip_bad_lines, which
//              skips it; the count (and the first error) is logged.
//   text       data.path = a text file, mask 1 everywhere; the first 90% trains, the rest validates (with
//              a tokenizer: cut at the next line end, each line encoded on its own).
//   shards     data.path = a directory from `sra data prepare` (train.tok, val.tok); its tokenizer hash
//              must equal data.tokenizer's ("" for bytes) and its vocab size must be <= model.vocab_size.
//   Relative data.path values not found from the working directory resolve against the data directory
//   (data/data_dir.h). Examples are prompt + target: with data.tokenizer empty, the bytes (ids 0..255),
//   loss mask on the target bytes only, examples joined with byte 0 as end-of-text (the model learns to
//   emit it after the target; pad = 0); else tokenize_example with the sentencepiece model (prompt
//   masked out, its EOS; pad = its pad id or EOS), whose vocab_size must be <= model.vocab_size. Every
//   token id must be < model.vocab_size ("[data] FILE ...: token id X ... is >= vocab size V").
//   Rows of seq_len + 1 tokens (PackedRows), without the rows that hold no target token (loss mask 0
//   at every target position: they would log a loss of 0 and use up a step; their count is logged as
//   "data: skipped N train and M val rows ..."); training batches come from a
//   SequenceSampler(rows, seed = data.seed) whose cursor is checkpointed; validation uses the first
//   eval_batches · batch_size val rows (fewer when the split is smaller) in fixed order.
//
// Step s = 0 .. train.steps - 1 (logged and checkpointed as s + 1):
//   lr      warmup (s + 1) / warmup_steps · lr, then cosine down to min_lr_ratio · lr over the remaining
//           steps (kind cosine) or constant;
//   τ       router.temperature → router.temperature_final linearly (s / (steps - 1)), set on every router;
//   time    with train.time_limit_s = L > 0 the cosine's progress and τ's fraction are instead the seconds
//           since this process's first step over L (clamped to 1; warmup stays in steps), and the run
//           ends after the first step that finds L seconds gone (or at train.steps, a cap then): that
//           step is evaluated (eval_every > 0) and checkpointed as the run's end. Not bitwise
//           reproducible (the schedule follows the clock); a resumed run gets a fresh L.
//   grad_accum micro-batches of batch_size rows: loss = masked next-token cross-entropy + the routers'
//           budget losses, backward(loss / grad_accum); clip at optimizer.grad_clip; AdamW step;
//           zero_grad; update_thresholds().
//   Every logging.log_every steps a plain line "step N  loss L  lr X  |g| G  selected R  T tok/s" (plus
//   "val V" when evaluated); every step one JSON line in out_dir/<logging.metrics_file>: {"step", "loss",
//   "lr", "grad_norm", "selected_ratio", "tokens_per_s"[, "val_loss"]}; val_loss every train.eval_every
//   steps (mean masked loss over the validation batches, eval mode, no gradients). With
//   train.eval_problems > 0 (synthetic data only) each evaluation also calls the task validator made by
//   TrainOptions::task_validator and logs its "val_accuracy" and "val_selected_ratio" (the sra CLI wires
//   tools/cli/train_validation.h: val-split problems 0..eval_problems-1 answered greedily with the eval
//   harness, zero-shot, deterministic selection, strict "#### N"). The trainer never includes eval/.
//
// Pretrained start (train.init_from hf:DIR, run/hf_import.h): the directory's architecture replaces the
//   config's model keys (SRA keys stay), data.tokenizer defaults to DIR/tokenizer.model, and a fresh run
//   copies the weights in (routers stay freshly initialised). train.freeze_base: only router parameters
//   get gradients and AdamW state (the LM stays bitwise unchanged). train.distill_weight w > 0 adds
//   w · mean over target positions of KL(p_dense || p_sra), p_dense from the same model with every layer
//   dense (Transformer::set_all_dense, no gradient): with a frozen base, the imported model itself.
// out_dir: config.yaml (the resolved config) at start; checkpoint_path(out_dir, step) every
//   train.checkpoint_every steps and at the end of the run (train.steps or max_steps), then
//   keep_last(out_dir, train.keep_last) when keep_last > 0. A checkpoint holds "model/" (parameters and
//   buffers, the naming of run/model_io.h, so load_model reads it), "optim/" (add_optimizer), the step,
//   and meta: config (dump_resolved_yaml), data_cursor (SequenceSampler::state() JSON), rng (the model's
//   router generator, generator_state JSON), code_version (kCodeVersion), tokenizer and tokenizer_hash
//   (empty for bytes), and the tokenizer's .model bytes as tensor "tokenizer/model" (add_tokenizer,
//   run/model_io.h), so that generate and eval work from any directory.
//
// Resume (run/checkpoint.h checkpoint_to_resume, which decides before anything is written, config.yaml
//   included): "auto" → the newest checkpoint of out_dir that loads (corrupt ones are renamed *.corrupt
//   with a warning; none valid → a fresh start only when out_dir holds no run, else an error asking for
//   --fresh); otherwise the checkpoint at that path. Model, optimizer, step, sampler cursor and router
//   generator are restored, so the continued run is bitwise identical to an uninterrupted one. The
//   metrics file keeps its lines with step <= the resumed step and is appended to (truncate_metrics,
//   run/run_log.h). A plain start (resume "") refuses an out_dir that holds a run (checkpoints, corrupt
//   checkpoints or metrics); fresh (--fresh) moves that run's files to out_dir/previous-<n>/ first.
// Interrupts: SIGINT / SIGTERM (run/interrupt.h) stop the loop after the current step, which is saved;
//   run_train returns 130. A second signal exits at once.
// Device (config key device: cpu | cuda | cuda:N, run/config.h run_device): the model is moved there
//   after it is built and before AdamW (so its moments are there too); a checkpoint loads into it
//   (copies into the device tensors); batches are built on the host and copied through pinned memory
//   (cuda::memcpy_h2d_staged). The loss, the selected ratio, the gradient norm and the clip factor, and
//   the routers' thresholds and quantiles stay on the device: a step reads nothing back to the host. The
//   step values are read (one host read for all the steps since the last read) at logging steps
//   (step % log_every == 0), evaluation and checkpoint steps and the run's last step, and the metrics
//   lines of those steps are written then; tokens_per_s is then the mean over those steps. On the CPU
//   they are read after every step. Checkpoints hold host copies: the same bytes from either device.
// Data parallel (docs/distributed.md; a launcher's variables, core/dist/env.h): the ranks join before
// anything
//   is written (dist::join_job: store, communicator by distributed.backend, the resolved config's hash
//   compared); device "cuda" is cuda:LOCAL_RANK. train.batch_size is the global micro-batch: every rank
//   draws it from the same global sampler and takes rows [rank·b, rank·b + b), b = batch_size / ranks;
//   after the backward the gradients are averaged (train/grad_sync.h, 25 MB buckets), and so are the
//   logged loss and ratio sums and, after update_thresholds, the routers' thresholds. Rank 0 alone
//   decides the resume (the others load the checkpoint it names), logs, writes config.yaml, metrics and
//   checkpoints (the others wait at a barrier) and validates; the interrupt flag is gathered before each
//   step so that all ranks stop after the same one. A checkpoint resumes on any number of ranks.
// Errors: sra::Error "[train] ..." (and "[config] ...", "[checkpoint] ...", "[data] ..." from below).
#pragma once
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

#include "model/transformer.h"
#include "run/config.h"

namespace sra {

// Task accuracy of the model during training (train.eval_problems > 0), from whoever wires it.
struct TaskScore {
  double accuracy = 0;        // fraction of the validation problems answered correctly
  double selected_ratio = 0;  // mean fraction of keys the SRA layers selected while answering
};
using TaskValidator = std::function<TaskScore(Transformer& model)>;
// Made once per run from the resolved config and the run's tokenizer path ("" for bytes).
using TaskValidatorFactory =
    std::function<TaskValidator(const RunConfig& cfg, const std::string& tokenizer_path)>;

struct TrainOptions {
  std::string config;                  // run YAML (required)
  std::vector<std::string> overrides;  // "a.b=c", applied after the file
  std::string out_dir;                 // required
  std::string resume;                  // "", "auto" or a checkpoint path
  std::string data_dir;                // --data-dir (see resolve_data_dir)
  int64_t max_steps = -1;              // >= 0: stop after this step (the run's last checkpoint is there)
  bool terminal = false;               // the log is a terminal: logging.progress auto draws a progress bar
  TaskValidatorFactory task_validator = nullptr;  // needed when train.eval_problems > 0
  bool fresh = false;  // start from step 0 even though out_dir holds a run (its files move aside)
  // Called after each step with its number (1-based), once its metrics, log line and checkpoint are done
  // (tests measure a step's device allocations and host syncs between two calls).
  std::function<void(int64_t step)> on_step = nullptr;
};

// Runs (or continues) training; returns 0, or kInterruptedExit (130, run/interrupt.h) after SIGINT or
// SIGTERM: the step in progress finishes, a checkpoint of it is saved, and the loop stops.
int run_train(const TrainOptions& opt, std::ostream& log);

}  // namespace sra
