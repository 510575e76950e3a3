// The training loop: see train/trainer.h for data, schedule, logging, checkpoint and resume semantics.
#include "train/trainer.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <optional>
#include <ostream>

#include "autograd/autocast.h"
#include "autograd/ops.h"
#include "core/check.h"
#include "core/cuda_runtime.h"
#include "core/dist/collectives.h"
#include "core/json.h"
#include "data/packing.h"
#include "model/optimizer.h"
#include "run/checkpoint.h"
#include "run/config.h"
#include "run/data_prep.h"
#include "run/hf_import.h"
#include "run/interrupt.h"
#include "run/model_io.h"
#include "run/run_log.h"
#include "train/grad_sync.h"
#include "train/zero.h"

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

// A batch built on the host, on the run's device: inputs and targets through the pinned staging ring
// (asynchronous, core/cuda_runtime.h); the loss mask stays on the host (the targets carry it).
Batch on_device(Batch b, Device device) {
  if (device.is_cpu()) return b;
  for (Tensor* t : {&b.inputs, &b.targets}) {
    Tensor out = Tensor::empty(t->shape(), t->dtype(), device);
    cuda::memcpy_h2d_staged(out.raw(), t->raw(), size_t(t->numel()) * dtype_size(t->dtype()), device.index);
    *t = out;
  }
  return b;
}

// Mean over target positions (targets != -100) of KL(teacher || student), both (N, V) logits.
Tensor distill_kl(const Tensor& student, const Tensor& teacher, const Tensor& targets) {
  Tensor log_t = log_softmax(teacher, -1);
  Tensor kl = sum(mul(exp(log_t), sub(log_t, log_softmax(student, -1))), {-1});  // (N)
  Tensor mask = cast(gt(cast(targets, DType::f32), -50.0), kl.dtype());          // 1 at targets
  return div(sum(mul(kl, mask)), sum(mask));
}

// Masked next-token cross-entropy plus the routers' budget losses (training: remembers the ratios), plus
// distill_weight · KL(dense || SRA) toward the same model with every layer dense (no gradient). Without
// distillation the loss is Transformer::loss (cross-entropy fused with the head, never full logits).
Tensor batch_loss(Transformer& model, const Batch& b, double distill_weight = 0.0) {
  if (distill_weight <= 0) return model.loss(b.inputs, b.targets, -100);  // fused with the head
  int64_t V = model.config().vocab_size;
  Tensor teacher;
  if (distill_weight > 0) {
    NoGradGuard g;
    model.set_all_dense(true);
    teacher = model.run(b.inputs).logits.reshape({-1, V});
    model.set_all_dense(false);
  }
  ForwardOutput out = model.run(b.inputs);
  Tensor logits = out.logits.reshape({-1, V});
  Tensor targets = b.targets.reshape({-1});
  Tensor ce = cross_entropy(logits, targets, -100);
  Tensor loss = out.budget_loss.defined() ? add(ce, out.budget_loss) : ce;
  if (distill_weight > 0) loss = add(loss, mul(distill_kl(logits, teacher, targets), distill_weight));
  return loss;
}

// Schedule fraction of update s in [0, 1]: s / (steps - 1), or with train.time_limit_s > 0 the elapsed
// share of the limit (`elapsed_s`: seconds since the run's first step).
double schedule_fraction(const RunConfig& cfg, int64_t s, double elapsed_s) {
  if (cfg.train.time_limit_s > 0) return std::clamp(elapsed_s / cfg.train.time_limit_s, 0.0, 1.0);
  return cfg.train.steps > 1 ? double(s) / double(cfg.train.steps - 1) : 0.0;
}

double learning_rate(const RunConfig& cfg, int64_t s, double elapsed_s) {
  const ScheduleSection& sc = cfg.schedule;
  double base = cfg.optimizer.lr;
  if (s < sc.warmup_steps) return base * double(s + 1) / double(sc.warmup_steps);
  if (sc.kind == "constant") return base;
  double span = double(std::max<int64_t>(1, cfg.train.steps - sc.warmup_steps));
  double progress = cfg.train.time_limit_s > 0 ? schedule_fraction(cfg, s, elapsed_s)
                                               : std::min(1.0, double(s - sc.warmup_steps) / span);
  return base * (sc.min_lr_ratio + (1.0 - sc.min_lr_ratio) * 0.5 * (1.0 + std::cos(M_PI * progress)));
}

void set_router_temperature(Transformer& model, double tau) {
  if (model.model->router) model.model->router->config().temperature = tau;
  for (const auto& layer : model.model->layers) {
    if (layer->router) layer->router->config().temperature = tau;
  }
}

// Mean loss over the validation batches: summed in f64 on the device, one host read.
double validation_loss(Transformer& model, const PackedRows& val, int64_t batch_size, int64_t eval_batches,
                       Device device) {
  NoGradGuard g;
  model.eval();
  int64_t rows = std::min(val.num_rows(), batch_size * eval_batches);
  Tensor sum = Tensor::zeros({}, DType::f64, device);
  int64_t n = 0;
  for (int64_t first = 0; first < rows; first += batch_size) {
    std::vector<int64_t> idx;
    for (int64_t r = first; r < std::min(rows, first + batch_size); ++r) idx.push_back(r);
    sum = add(sum, cast(batch_loss(model, on_device(make_batch(val, idx), device)), DType::f64));
    ++n;
  }
  model.train();
  return sum.item() / double(n);
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
  std::unique_ptr<AdamW> optim;     // null with zero
  std::unique_ptr<ZeroAdamW> zero;  // distributed.zero 1 with dist: the sharded optimizer
  std::unique_ptr<SequenceSampler> sampler;
  int64_t start = 0, end = 0;
  bool resumed = false;
  double t_start = 0;  // now_s() at the first step of this process (train.time_limit_s)
  Device device;       // run_device(cfg): model, optimizer state, batches and step values live there
  dist::DistContext* dist = nullptr;  // null: one process
  std::unique_ptr<GradSync> sync;     // with dist, without zero
  int rank = 0, world = 1;
  bool root() const { return rank == 0; }
  Transformer& model() { return *lm.model; }
};

// The log of ranks other than 0: they print nothing (their errors still reach stderr).
std::ostream& null_log() {
  struct NullBuf : std::streambuf {
    int overflow(int c) override { return c; }
  };
  static NullBuf buf;
  static std::ostream out(&buf);
  return out;
}

RunConfig checked_config(const TrainOptions& opt) {
  SRA_CHECK(!opt.config.empty(), "[train] no config file given");
  SRA_CHECK(!opt.out_dir.empty(), "[train] no output directory given");
  RunConfig cfg = load_config(opt.config, opt.overrides);
  resolve_init_from(cfg);  // train.init_from hf:DIR: the directory's architecture and tokenizer
  run_device(cfg);         // "[config] device ...": a GPU asked for is present
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
  if (run.zero)
    run.zero->load_state(ck);  // this rank's ranges of a plain optimizer state
  else
    load_optimizer(*run.optim, ck);
  run.sampler->load_state(Json::parse(ck.meta.at("data_cursor")));
  set_generator_state(run.model().router_generator(), Json::parse(ck.meta.at("rng")));
  const int64_t start = ck.step;
  SRA_CHECK(start >= 0 && start <= run.cfg.train.steps, "[train] ", path, ": step ", start,
            " is outside [0, train.steps = ", run.cfg.train.steps, "]");
  log << "resumed from " << path << " at step " << start << "\n";
  return start;
}

void save_root(TrainRun& run, int64_t step, const NamedTensors& optim_state, std::ostream& log) {
  Checkpoint ck;
  ck.step = step;
  add_module(ck, run.model());
  add_optimizer_state(ck, optim_state, run.zero ? run.zero->steps() : run.optim->steps());
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

// Rank 0 writes the checkpoint (ZeRO-1: the optimizer state gathered from every rank first); the other
// ranks wait for it at a barrier.
void save(TrainRun& run, int64_t step, std::ostream& log) {
  const NamedTensors optim_state =
      run.zero ? run.zero->gather_state("checkpoint of step " + std::to_string(step)) : run.optim->state();
  if (run.root()) save_root(run, step, optim_state, log);
  if (run.dist) run.dist->comm->barrier("checkpoint of step " + std::to_string(step));
}

// What one step measured (val, val_acc and val_sel only on evaluation steps).
struct StepResult {
  int64_t step = 0;
  double loss = 0, lr = 0, norm = 0, ratio = 0, tok_s = 0;
  std::optional<double> val, val_acc, val_sel;
};

// The steps run since the last read of their values, which stay on the run's device until then: row i
// of `values` holds step i's [Σ loss, Σ selected ratio] over its micro-batches and its gradient norm.
// A step only queues copies into its row; read() makes the one host read of the window. Rows are
// reused window after window, so a steady step allocates nothing for its results.
class StepWindow {
 public:
  StepWindow(int64_t capacity, Device device) : values_(Tensor::zeros({capacity, 3}, DType::f64, device)) {}
  bool empty() const { return steps_.empty(); }
  bool full() const { return int64_t(steps_.size()) == values_.size(0); }
  // Step `step` (1-based), started at host time t0 with learning rate lr.
  void add(int64_t step, double lr, double t0, const Tensor& loss_sum, const Tensor& ratio_sum,
           const Tensor& norm) {
    SRA_ASSERT(!full(), "step window of ", values_.size(0), " is full");
    const int64_t i = int64_t(steps_.size());
    values_.narrow(0, i, 1).narrow(1, 0, 1).copy_(loss_sum);
    values_.narrow(0, i, 1).narrow(1, 1, 1).copy_(ratio_sum);
    values_.narrow(0, i, 1).narrow(1, 2, 1).copy_(norm);
    steps_.push_back({step, lr, t0});
  }
  // The window's results (tokens per second over the window: its steps ran asynchronously), then empty.
  std::vector<StepResult> read(const RunConfig& cfg) {
    const std::vector<double> v = values_.narrow(0, 0, int64_t(steps_.size())).to_vector<double>();
    const double accum = double(cfg.train.grad_accum);
    const double tokens = double(steps_.size()) * accum * double(cfg.train.batch_size * cfg.data.seq_len);
    const double tok_s = tokens / std::max(now_s() - steps_.front().t0, 1e-9);
    std::vector<StepResult> out;
    for (size_t i = 0; i < steps_.size(); ++i) {
      StepResult r;
      r.step = steps_[i].step;
      r.lr = steps_[i].lr;
      r.loss = v[3 * i] / accum, r.ratio = v[3 * i + 1] / accum, r.norm = v[3 * i + 2];
      r.tok_s = tok_s;
      out.push_back(r);
    }
    steps_.clear();
    return out;
  }

 private:
  struct Pending {
    int64_t step;
    double lr, t0;
  };
  Tensor values_;  // (capacity, 3) f64 on the run's device
  std::vector<Pending> steps_;
};

// Data parallel: the gradients and the step's loss and ratio sums become the ranks' means (one
// all-reduce per gradient bucket, one for the two sums), so every rank takes the same optimizer step.
void sync_step(TrainRun& run, int64_t step, Tensor& loss_sum, Tensor& ratio_sum) {
  if (run.sync && run.cfg.distributed.overlap)
    run.sync->finish("step " + std::to_string(step));  // started during the backward
  else if (run.sync)
    run.sync->average("step " + std::to_string(step));  // ZeRO-1: in ZeroAdamW::step
  NoGradGuard g;
  Tensor sums = Tensor::empty({2}, DType::f64, run.device);
  sums.narrow(0, 0, 1).copy_(loss_sum);
  sums.narrow(0, 1, 1).copy_(ratio_sum);
  run.dist->comm->all_reduce_sum(sums, "loss of step " + std::to_string(step));
  sums.mul_(1.0 / double(run.world));
  loss_sum = sums.narrow(0, 0, 1);
  ratio_sum = sums.narrow(0, 1, 1);
}

// Every rank stops at the same step: rank r's interrupt flag (a signal it got) is gathered each step.
bool stop_requested(const TrainRun& run) {
  const bool mine = interrupt_requested();
  if (!run.dist || run.world == 1) return mine;
  for (const std::string& v : run.dist->comm->all_gather(mine ? "1" : "0", "interrupt check"))
    if (v == "1") return true;
  return false;
}

// Seconds since the run's first step by rank 0's clock when train.time_limit_s is set (every rank gets the
// same value, so the time-based schedule and the stop at the limit agree across ranks); 0 otherwise.
double shared_elapsed(const TrainRun& run) {
  if (run.cfg.train.time_limit_s <= 0) return 0.0;
  const double mine = now_s() - run.t_start;
  if (!run.dist || run.world == 1) return mine;
  return std::stod(run.dist->comm->all_gather(fmt("%.17g", mine), "time-limit clock")[0]);
}

// Update s (0-based): schedule, grad_accum micro-batches, clip, AdamW, thresholds. Reads nothing back
// to the host: the step's loss, ratio and norm go into `window`.
void train_step(TrainRun& run, int64_t s, StepWindow& window) {
  const RunConfig& cfg = run.cfg;
  Transformer& model = run.model();
  const int64_t B = cfg.train.batch_size, accum = cfg.train.grad_accum;
  const double tau0 = cfg.router.temperature, tau1 = cfg.router.temperature_final;
  const double t0 = now_s();
  const double elapsed = shared_elapsed(run);
  const double lr = learning_rate(cfg, s, elapsed);
  const double frac = schedule_fraction(cfg, s, elapsed);
  set_router_temperature(model, tau0 + (tau1 - tau0) * frac);
  // Σ over micro-batches in f64 from 0, in order: the host's double sums, on the device
  Tensor loss_sum = Tensor::zeros({}, DType::f64, run.device);
  Tensor ratio_sum = Tensor::zeros({}, DType::f64, run.device);
  // precision bf16: the GEMMs of forward and backward on bf16 operands (autograd/autocast.h)
  AutocastGuard autocast(compute_dtype(cfg));
  const int64_t local = B / run.world;  // this rank's rows of each micro-batch
  for (int64_t m = 0; m < accum; ++m) {
    std::vector<int64_t> rows = run.sampler->next_batch(B);  // the global micro-batch, same on every rank
    if (run.world > 1)
      rows = std::vector<int64_t>(rows.begin() + run.rank * local, rows.begin() + (run.rank + 1) * local);
    Batch b = on_device(make_batch(*run.data.train, rows), run.device);
    Tensor loss = batch_loss(model, b, cfg.train.distill_weight);
    {
      NoGradGuard g;
      loss_sum = add(loss_sum, cast(loss.detach(), DType::f64));
      ratio_sum = add(ratio_sum, model.last_selected_ratio());
    }
    // data parallel with distributed.overlap: the last micro-batch's backward starts each gradient bucket's
    // all-reduce as soon as its gradients are final (train/grad_sync.h)
    const bool overlap = run.sync && cfg.distributed.overlap && m == accum - 1;
    backward(accum == 1 ? loss : mul(loss, 1.0 / double(accum)), Tensor(), false,
             overlap ? run.sync->overlap_hook("step " + std::to_string(s + 1)) : LeafReadyFn());
  }
  if (run.dist) sync_step(run, s + 1, loss_sum, ratio_sum);
  Tensor norm_scale;  // [norm, clip factor]
  if (run.zero) {
    norm_scale = run.zero->step(lr, cfg.optimizer.grad_clip, "step " + std::to_string(s + 1));
    run.zero->zero_grad();
  } else {
    norm_scale = grad_norm_and_scale(run.params, cfg.optimizer.grad_clip);
    run.optim->step(lr, norm_scale.narrow(0, 1, 1));
    run.optim->zero_grad();
  }
  model.update_thresholds();
  if (run.dist) average_router_thresholds(model, *run.dist->comm, "step " + std::to_string(s + 1));
  window.add(s + 1, lr, t0, loss_sum, ratio_sum, norm_scale.narrow(0, 0, 1));
}

// Validation loss (and the task score) of an evaluation step, into its result.
void evaluate(TrainRun& run, StepResult& r, const TaskValidator& validate_task) {
  const RunConfig& cfg = run.cfg;
  AutocastGuard autocast(compute_dtype(cfg));  // the training step's precision
  r.val =
      validation_loss(run.model(), *run.data.val, cfg.train.batch_size, cfg.train.eval_batches, run.device);
  if (validate_task) {
    TaskScore ts = validate_task(run.model());
    r.val_acc = ts.accuracy;
    r.val_sel = ts.selected_ratio;
  }
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
  if (cfg.train.eval_problems <= 0 || !run.root()) return {};
  SRA_CHECK(cfg.data.dataset == "synthetic", "[train] train.eval_problems needs data.dataset synthetic, got ",
            cfg.data.dataset);
  SRA_CHECK(run.opt.task_validator != nullptr,
            "[train] train.eval_problems needs a task validator (TrainOptions::task_validator)");
  return run.opt.task_validator(cfg, run.data.tokenizer_path);
}

// Config and the checkpoint to resume (checked before anything is written), then config.yaml, data,
// model, optimizer and sampler; then the resumed state, if any, and the steps to run.
// Data parallel: rank 0 alone decides (it may set corrupt checkpoints aside) and writes; the others load
// the checkpoint it names.
TrainRun start_run(const TrainOptions& opt, RunConfig cfg_in, Device device, dist::DistContext* dist,
                   std::ostream& log) {
  TrainRun run{opt, std::move(cfg_in)};
  const RunConfig& cfg = run.cfg;
  run.dist = dist;
  run.device = device;
  if (dist) run.rank = dist->rank(), run.world = dist->world_size();
  SRA_CHECK(cfg.train.batch_size % run.world == 0, "[train] train.batch_size ", cfg.train.batch_size,
            " (the global micro-batch) must be a multiple of the ", run.world, " ranks");
  run.metrics_path = (fs::path(opt.out_dir) / cfg.logging.metrics_file).string();
  std::optional<std::pair<std::string, Checkpoint>> resumed;
  if (run.root())
    resumed = checkpoint_to_resume({opt.out_dir, opt.resume, opt.fresh, run.metrics_path, "train"}, log);
  if (dist) {
    const std::string path = dist->comm->all_gather(resumed ? resumed->first : "", "resume decision")[0];
    if (!run.root() && !path.empty()) resumed.emplace(path, load_checkpoint(path));
  }
  if (run.root()) {
    fs::create_directories(opt.out_dir);
    write_resolved_config(cfg, (fs::path(opt.out_dir) / "config.yaml").string());
  }
  run.resolved = dump_resolved_yaml(cfg);
  run.data = load_data(cfg, opt, log);
  run.lm = model_from_config(cfg);
  run.model().to(run.device);  // before AdamW: its moments are allocated beside the parameters
  if (!resumed && !cfg.train.init_from.empty()) {
    load_hf_weights(run.model(), hf_init_dir(cfg.train.init_from));  // mmap → the device's parameters
    log << "init: " << cfg.train.init_from << " (routers new)\n";
  }
  run.model().train();
  for (auto& [name, p] : run.model().named_parameters()) {
    if (cfg.train.freeze_base && !is_router_name(name))
      p.set_requires_grad(false);  // frozen: no gradient, no optimizer state
    else
      run.params.emplace_back(name, p);
  }
  if (dist && cfg.distributed.zero == 1)
    run.zero = std::make_unique<ZeroAdamW>(run.params, to_adamw_config(cfg), *dist->comm);
  else  // one process with zero 1: the one shard is the whole state
    run.optim = std::make_unique<AdamW>(run.params, to_adamw_config(cfg));
  run.sampler = std::make_unique<SequenceSampler>(run.data.train->num_rows(), uint64_t(cfg.data.seed));
  if (resumed) run.start = restore(run, resumed->first, resumed->second, log);
  run.resumed = resumed.has_value();
  if (dist) {
    broadcast_state(run.model(), *dist->comm);  // the ranks start from rank 0's bits
    if (!run.zero) run.sync = std::make_unique<GradSync>(run.params, *dist->comm);
    log << "data parallel: " << run.world << " ranks (" << dist->comm->backend() << "), "
        << cfg.train.batch_size / run.world << " rows per rank of each micro-batch of "
        << cfg.train.batch_size << ", " << (run.zero ? run.zero->num_buckets() : run.sync->num_buckets())
        << " gradient buckets\n";
    if (run.zero)
      log << "ZeRO-1: AdamW state sharded over " << run.world
          << " ranks (this rank: " << run.zero->owned_elements() << " parameter elements)\n";
  }
  run.end = cfg.train.steps;
  if (opt.max_steps >= 0) run.end = std::min(run.end, std::max(run.start, opt.max_steps));
  return run;
}

}  // namespace

int run_train(const TrainOptions& opt, std::ostream& out) {
  InterruptGuard interrupt;  // Ctrl-C / SIGTERM: finish the step, save, return kInterruptedExit
  RunConfig config = checked_config(opt);
  const Device device = dist::rank_device(config.device, dist::dist_env());
  // a launcher's job (core/dist/env.h): rendezvous, communicator, the same config on every rank
  std::unique_ptr<dist::DistContext> dist = dist::join_job(
      config.distributed.backend, device, config.distributed.timeout_s, dump_resolved_yaml(config));
  std::ostream& log = !dist || dist->is_root() ? out : null_log();
  TrainRun run = start_run(opt, std::move(config), device, dist.get(), log);
  const RunConfig& cfg = run.cfg;
  if (run.root())
    truncate_metrics(run.metrics_path, run.resumed ? std::optional<int64_t>(run.start) : std::nullopt,
                     "train");
  log << "train: " << run.model().num_parameters() << " parameters, " << run.data.train->num_rows()
      << " train rows and " << run.data.val->num_rows() << " val rows of " << cfg.data.seq_len
      << " tokens, steps " << run.start << " -> " << run.end << " of " << cfg.train.steps << "\n";
  const TaskValidator validate_task = make_task_validator(run);
  std::unique_ptr<MetricsWriter> metrics;  // rank 0's
  if (run.root()) metrics = std::make_unique<MetricsWriter>(run.metrics_path, "train");
  int64_t last_saved = run.resumed ? run.start : -1, step = run.start;
  // a progress bar redrawn in place on a terminal (logging.progress: auto = when the log is a terminal)
  ProgressBar bar(
      log, run.root() && (cfg.logging.progress == "on" || (cfg.logging.progress == "auto" && opt.terminal)),
      cfg.train.steps, run.start, run.end);
  std::string bar_fields;
  // Step values are read back at logging, evaluation and checkpoint steps and at the end; on the CPU,
  // where a read costs nothing, after every step.
  StepWindow window(run.device.is_cpu() ? 1 : std::min(cfg.logging.log_every, cfg.train.steps), run.device);
  auto write_results = [&](bool eval_now) {
    std::vector<StepResult> rs = window.read(cfg);
    if (!run.root()) return;
    if (eval_now) evaluate(run, rs.back(), validate_task);
    for (const StepResult& r : rs) metrics->write(metrics_line(r));
    const StepResult& r = rs.back();
    if (r.step % cfg.logging.log_every == 0 || r.val) {
      bar.clear();
      log_step(r, log);
    }
    bar_fields = "loss " + fmt("%.4f", r.loss) + "  sel " + fmt("%.3f", r.ratio) + "  " +
                 fmt("%.0f", r.tok_s) + " tok/s";
  };
  const double limit = cfg.train.time_limit_s;
  run.t_start = now_s();
  bool stop = false;
  for (int64_t s = run.start; s < run.end; ++s) {
    if ((stop = stop_requested(run))) break;
    train_step(run, s, window);
    step = s + 1;
    if (limit > 0 && step < run.end && shared_elapsed(run) >= limit) {  // out of time: this is the end
      log << "train: time limit " << fmt("%g", limit) << " s reached at step " << step << "\n";
      run.end = step;
    }
    const bool eval_now =
        cfg.train.eval_every > 0 && (step % cfg.train.eval_every == 0 || (limit > 0 && step == run.end));
    const bool save_now =
        (cfg.train.checkpoint_every > 0 && step % cfg.train.checkpoint_every == 0) || step == run.end;
    if (window.full() || step % cfg.logging.log_every == 0 || eval_now || save_now) write_results(eval_now);
    if (save_now) {
      bar.clear();
      save(run, step, log);
      last_saved = step;
    }
    bar.draw(step, bar_fields);
    if (opt.on_step) opt.on_step(step);
  }
  if (!window.empty()) write_results(false);  // interrupted between reads
  bar.clear();
  if (stop) {
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
