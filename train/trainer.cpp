// The training loop: see train/trainer.h for data, schedule, logging, checkpoint and resume semantics.
#include "train/trainer.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <optional>
#include <ostream>

#include "autograd/ops.h"
#include "core/check.h"
#include "core/json.h"
#include "data/packing.h"
#include "model/optimizer.h"
#include "run/checkpoint.h"
#include "run/config.h"
#include "run/data_prep.h"
#include "run/interrupt.h"
#include "run/model_io.h"
#include "run/run_log.h"

namespace sra {

namespace {

namespace fs = std::filesystem;

struct TrainData {
  std::unique_ptr<PackedRows> train;
  std::unique_ptr<PackedRows> val;
  std::string tokenizer_path;  // "" for bytes
  std::string tokenizer_hash;
  Tokenizer tokenizer;  // not loaded for bytes; embedded in every checkpoint
};

// The config's data (run/data_prep.h, shared with `sra data prepare`) as rows of seq_len + 1 tokens.
TrainData load_data(const RunConfig& cfg, const TrainOptions& opt, std::ostream& log) {
  const DataSection& ds = cfg.data;
  TrainingData td = load_training_data(cfg, opt.data_dir);
  if (!td.bad_lines_summary.empty()) log << "warning: " << td.bad_lines_summary << "\n";
  log << td.lossy_tokenizer_warning;
  const std::string where = td.source.empty() ? ds.dataset + " data" : td.source;
  check_token_ids(*td.train, cfg.model.vocab_size, where + " (train)");
  check_token_ids(*td.val, cfg.model.vocab_size, where + " (validation)");
  TrainData d;
  // rows without a target token would log a loss of 0 and use up a schedule step: left out, counted
  d.train = std::make_unique<PackedRows>(td.train, ds.seq_len, td.pad_id, RowsWithoutTargets::skip);
  d.val = std::make_unique<PackedRows>(td.val, ds.seq_len, td.pad_id, RowsWithoutTargets::skip);
  d.tokenizer_path = td.tokenizer_path;
  d.tokenizer_hash = td.tokenizer_hash;
  d.tokenizer = td.tokenizer;
  log << "data: " << ds.dataset << (td.source.empty() ? "" : " from " + td.source) << ", "
      << (td.tokenizer_path.empty() ? std::string("bytes") : "tokenizer " + td.tokenizer_path) << ", "
      << td.train->size() << " train and " << td.val->size() << " val tokens";
  if (td.train_examples > 0) log << " (" << td.train_examples << " and " << td.val_examples << " examples)";
  if (td.bad_lines > 0) log << ", " << td.bad_lines << " bad lines skipped";
  log << "\n";
  if (d.train->skipped_rows() > 0 || d.val->skipped_rows() > 0)
    log << "data: skipped " << d.train->skipped_rows() << " train and " << d.val->skipped_rows()
        << " val rows of " << ds.seq_len << " tokens without a target token (all loss mask 0)\n";
  SRA_CHECK(d.train->num_rows() >= cfg.train.batch_size, "[train] the training data has ",
            d.train->num_rows(), " rows of ", ds.seq_len, " tokens, fewer than train.batch_size ",
            cfg.train.batch_size);
  SRA_CHECK(d.val->num_rows() >= 1, "[train] the validation data is empty");
  return d;
}

// Masked next-token cross-entropy plus the routers' budget losses (training: remembers the ratios).
Tensor batch_loss(Transformer& model, const Batch& b) {
  ForwardOutput out = model.run(b.inputs);
  int64_t V = model.config().vocab_size;
  Tensor ce = cross_entropy(out.logits.reshape({-1, V}), b.targets.reshape({-1}), -100);
  return out.budget_loss.defined() ? add(ce, out.budget_loss) : ce;
}

double learning_rate(const RunConfig& cfg, int64_t s) {
  const ScheduleSection& sc = cfg.schedule;
  double base = cfg.optimizer.lr;
  if (s < sc.warmup_steps) return base * double(s + 1) / double(sc.warmup_steps);
  if (sc.kind == "constant") return base;
  double span = double(std::max<int64_t>(1, cfg.train.steps - sc.warmup_steps));
  double progress = std::min(1.0, double(s - sc.warmup_steps) / span);
  return base * (sc.min_lr_ratio + (1.0 - sc.min_lr_ratio) * 0.5 * (1.0 + std::cos(M_PI * progress)));
}

void set_router_temperature(Transformer& model, double tau) {
  if (model.model->router) model.model->router->config().temperature = tau;
  for (const auto& layer : model.model->layers) {
    if (layer->router) layer->router->config().temperature = tau;
  }
}

double validation_loss(Transformer& model, const PackedRows& val, int64_t batch_size, int64_t eval_batches) {
  NoGradGuard g;
  model.eval();
  int64_t rows = std::min(val.num_rows(), batch_size * eval_batches);
  double sum = 0;
  int64_t n = 0;
  for (int64_t first = 0; first < rows; first += batch_size) {
    std::vector<int64_t> idx;
    for (int64_t r = first; r < std::min(rows, first + batch_size); ++r) idx.push_back(r);
    sum += batch_loss(model, make_batch(val, idx)).item();
    ++n;
  }
  model.train();
  return sum / double(n);
}

// One run: the resolved config, data, model, optimizer and sampler, and the steps it covers.
struct TrainRun {
  TrainRun(const TrainOptions& o, RunConfig c) : opt(o), cfg(std::move(c)) {}
  const TrainOptions& opt;
  RunConfig cfg;
  std::string resolved;      // dump_resolved_yaml(cfg), saved in every checkpoint
  std::string metrics_path;  // out_dir/<logging.metrics_file>
  TrainData data;
  LoadedModel lm;
  NamedTensors params;
  std::unique_ptr<AdamW> optim;
  std::unique_ptr<SequenceSampler> sampler;
  int64_t start = 0, end = 0;
  bool resumed = false;
  Transformer& model() { return *lm.model; }
};

RunConfig checked_config(const TrainOptions& opt) {
  SRA_CHECK(!opt.config.empty(), "[train] no config file given");
  SRA_CHECK(!opt.out_dir.empty(), "[train] no output directory given");
  RunConfig cfg = load_config(opt.config, opt.overrides);
  SRA_CHECK(cfg.device == "cpu", "[train] device '", cfg.device, "' is not supported yet (use cpu)");
  SRA_CHECK(cfg.precision == "f32", "[train] precision '", cfg.precision, "' is not supported yet (use f32)");
  SRA_CHECK(cfg.distributed.world_size == 1 && cfg.distributed.backend == "none",
            "[train] distributed training is not supported yet (distributed.world_size must be 1)");
  SRA_CHECK(cfg.data.seq_len <= cfg.model.max_seq_len, "[train] data.seq_len ", cfg.data.seq_len,
            " exceeds model.max_seq_len ", cfg.model.max_seq_len);
  return cfg;
}

// Restores model, optimizer, sampler cursor and router generator from a trainer checkpoint; returns its step.
int64_t restore(TrainRun& run, const std::string& path, const Checkpoint& ck, std::ostream& log) {
  for (const char* key : {"data_cursor", "rng"}) {
    SRA_CHECK(ck.meta.count(key), "[train] ", path, ": no '", key, "' metadata (not a trainer checkpoint?)");
  }
  auto cit = ck.meta.find("config");
  if (cit != ck.meta.end() && cit->second != run.resolved) {
    log << "warning: the config differs from the one saved in " << path << "\n";
  }
  auto tit = ck.meta.find("tokenizer_hash");
  SRA_CHECK(tit == ck.meta.end() || tit->second == run.data.tokenizer_hash, "[train] ", path,
            ": tokenizer hash '", tit->second, "' does not match the current tokenizer's '",
            run.data.tokenizer_hash, "'");
  load_module(run.model(), ck);
  load_optimizer(*run.optim, ck);
  run.sampler->load_state(Json::parse(ck.meta.at("data_cursor")));
  set_generator_state(run.model().router_generator(), Json::parse(ck.meta.at("rng")));
  const int64_t start = ck.step;
  SRA_CHECK(start >= 0 && start <= run.cfg.train.steps, "[train] ", path, ": step ", start,
            " is outside [0, train.steps = ", run.cfg.train.steps, "]");
  log << "resumed from " << path << " at step " << start << "\n";
  return start;
}

void save(TrainRun& run, int64_t step, std::ostream& log) {
  Checkpoint ck;
  ck.step = step;
  add_module(ck, run.model());
  add_optimizer(ck, *run.optim);
  ck.meta["config"] = run.resolved;
  ck.meta["data_cursor"] = run.sampler->state().dump();
  ck.meta["rng"] = generator_state(run.model().router_generator()).dump();
  ck.meta["code_version"] = kCodeVersion;
  add_tokenizer(ck, run.data.tokenizer);  // meta tokenizer, tokenizer_hash and the model's bytes
  std::string path = checkpoint_path(run.opt.out_dir, step);
  save_checkpoint(ck, path);
  if (run.cfg.train.keep_last > 0) keep_last(run.opt.out_dir, run.cfg.train.keep_last, log);
  log << "saved " << path << "\n";
}

// What one step measured (val, val_acc and val_sel only on evaluation steps).
struct StepResult {
  int64_t step = 0;
  double loss = 0, lr = 0, norm = 0, ratio = 0, tok_s = 0;
  std::optional<double> val, val_acc, val_sel;
};

// Update s (0-based): schedule, grad_accum micro-batches, clip, AdamW, thresholds; then validation.
StepResult train_step(TrainRun& run, int64_t s, const TaskValidator& validate_task) {
  const RunConfig& cfg = run.cfg;
  Transformer& model = run.model();
  const int64_t B = cfg.train.batch_size, accum = cfg.train.grad_accum;
  const double tau0 = cfg.router.temperature, tau1 = cfg.router.temperature_final;
  const double t0 = now_s();
  StepResult r;
  r.lr = learning_rate(cfg, s);
  double frac = cfg.train.steps > 1 ? double(s) / double(cfg.train.steps - 1) : 0.0;
  set_router_temperature(model, tau0 + (tau1 - tau0) * frac);
  double loss_sum = 0, ratio_sum = 0;
  for (int64_t m = 0; m < accum; ++m) {
    Batch b = make_batch(*run.data.train, run.sampler->next_batch(B));
    Tensor loss = batch_loss(model, b);
    ratio_sum += model.last_selected_ratio();
    loss_sum += loss.item();
    backward(accum == 1 ? loss : mul(loss, 1.0 / double(accum)));
  }
  auto [norm, scale] = clip_grad_norm(run.params, cfg.optimizer.grad_clip);
  run.optim->step(r.lr, scale);
  run.optim->zero_grad();
  model.update_thresholds();
  r.step = s + 1;
  r.norm = norm;
  r.loss = loss_sum / double(accum), r.ratio = ratio_sum / double(accum);
  r.tok_s = double(B * accum * cfg.data.seq_len) / std::max(now_s() - t0, 1e-9);
  if (cfg.train.eval_every > 0 && r.step % cfg.train.eval_every == 0) {
    r.val = validation_loss(model, *run.data.val, B, cfg.train.eval_batches);
    if (validate_task) {
      TaskScore ts = validate_task(model);
      r.val_acc = ts.accuracy;
      r.val_sel = ts.selected_ratio;
    }
  }
  return r;
}

Json metrics_line(const StepResult& r) {
  Json line = Json::object({{"step", r.step},
                            {"loss", r.loss},
                            {"lr", r.lr},
                            {"grad_norm", r.norm},
                            {"selected_ratio", r.ratio},
                            {"tokens_per_s", r.tok_s}});
  if (r.val) line["val_loss"] = *r.val;
  if (r.val_acc) line["val_accuracy"] = *r.val_acc, line["val_selected_ratio"] = *r.val_sel;
  return line;
}

void log_step(const StepResult& r, std::ostream& log) {
  log << "step " << r.step << "  loss " << fmt("%.4f", r.loss) << "  lr " << fmt("%.2e", r.lr) << "  |g| "
      << fmt("%.3f", r.norm) << "  selected " << fmt("%.3f", r.ratio) << "  " << fmt("%.0f", r.tok_s)
      << " tok/s";
  if (r.val) log << "  val " << fmt("%.4f", *r.val);
  if (r.val_acc)
    log << "  val acc " << fmt("%.3f", *r.val_acc) << " (selected " << fmt("%.3f", *r.val_sel) << ")";
  log << "\n" << std::flush;
}

// The task validator for train.eval_problems > 0 (synthetic data only), else an empty function.
TaskValidator make_task_validator(const TrainRun& run) {
  const RunConfig& cfg = run.cfg;
  if (cfg.train.eval_problems <= 0) return {};
  SRA_CHECK(cfg.data.dataset == "synthetic", "[train] train.eval_problems needs data.dataset synthetic, got ",
            cfg.data.dataset);
  SRA_CHECK(run.opt.task_validator != nullptr,
            "[train] train.eval_problems needs a task validator (TrainOptions::task_validator)");
  return run.opt.task_validator(cfg, run.data.tokenizer_path);
}

// Config and the checkpoint to resume (checked before anything is written), then config.yaml, data,
// model, optimizer and sampler; then the resumed state, if any, and the steps to run.
TrainRun start_run(const TrainOptions& opt, std::ostream& log) {
  TrainRun run{opt, checked_config(opt)};
  const RunConfig& cfg = run.cfg;
  run.metrics_path = (fs::path(opt.out_dir) / cfg.logging.metrics_file).string();
  auto resumed = checkpoint_to_resume({opt.out_dir, opt.resume, opt.fresh, run.metrics_path, "train"}, log);
  fs::create_directories(opt.out_dir);
  write_resolved_config(cfg, (fs::path(opt.out_dir) / "config.yaml").string());
  run.resolved = dump_resolved_yaml(cfg);
  run.data = load_data(cfg, opt, log);
  run.lm = model_from_config(cfg);
  run.model().train();
  run.params = run.model().named_parameters();
  run.optim = std::make_unique<AdamW>(run.params, to_adamw_config(cfg));
  run.sampler = std::make_unique<SequenceSampler>(run.data.train->num_rows(), uint64_t(cfg.data.seed));
  if (resumed) run.start = restore(run, resumed->first, resumed->second, log);
  run.resumed = resumed.has_value();
  run.end = cfg.train.steps;
  if (opt.max_steps >= 0) run.end = std::min(run.end, std::max(run.start, opt.max_steps));
  return run;
}

}  // namespace

int run_train(const TrainOptions& opt, std::ostream& log) {
  InterruptGuard interrupt;  // Ctrl-C / SIGTERM: finish the step, save, return kInterruptedExit
  TrainRun run = start_run(opt, log);
  const RunConfig& cfg = run.cfg;
  truncate_metrics(run.metrics_path, run.resumed ? std::optional<int64_t>(run.start) : std::nullopt, "train");
  log << "train: " << run.model().num_parameters() << " parameters, " << run.data.train->num_rows()
      << " train rows and " << run.data.val->num_rows() << " val rows of " << cfg.data.seq_len
      << " tokens, steps " << run.start << " -> " << run.end << " of " << cfg.train.steps << "\n";
  const TaskValidator validate_task = make_task_validator(run);
  MetricsWriter metrics(run.metrics_path, "train");
  int64_t last_saved = run.resumed ? run.start : -1, step = run.start;
  // a progress bar redrawn in place on a terminal (logging.progress: auto = when the log is a terminal)
  ProgressBar bar(log, cfg.logging.progress == "on" || (cfg.logging.progress == "auto" && opt.terminal),
                  cfg.train.steps, run.start, run.end);
  for (int64_t s = run.start; s < run.end && !interrupt_requested(); ++s) {
    const StepResult r = train_step(run, s, validate_task);
    step = r.step;
    metrics.write(metrics_line(r));
    if ((cfg.logging.log_every > 0 && r.step % cfg.logging.log_every == 0) || r.val) {
      bar.clear();
      log_step(r, log);
    }
    if ((cfg.train.checkpoint_every > 0 && r.step % cfg.train.checkpoint_every == 0) || r.step == run.end) {
      bar.clear();
      save(run, r.step, log);
      last_saved = r.step;
    }
    bar.draw(r.step, "loss " + fmt("%.4f", r.loss) + "  sel " + fmt("%.3f", r.ratio) + "  " +
                         fmt("%.0f", r.tok_s) + " tok/s");
  }
  bar.clear();
  if (interrupt_requested()) {
    if (step > last_saved && step > 0) save(run, step, log);
    log_interrupted(log, step, cfg.train.steps);
    return kInterruptedExit;
  }
  if (last_saved != run.end)
    save(run, run.end, log);  // nothing to run (already at the end): still leave the final state
  log << "done: step " << run.end << " of " << cfg.train.steps << "\n";
  return 0;
}

}  // namespace sra
