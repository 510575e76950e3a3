// The training loop: see train/trainer.h for data, schedule, logging, checkpoint and resume semantics.
#include "train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <ostream>
#include <sstream>

#include "autograd/ops.h"
#include "core/check.h"
#include "core/json.h"
#include "data/packing.h"
#include "data/tokenizer.h"
#include "eval/evaluate.h"
#include "eval/prompts.h"
#include "train/checkpoint.h"
#include "train/config.h"
#include "train/data_prep.h"
#include "train/model_io.h"
#include "train/optimizer.h"

namespace sra {

namespace {

namespace fs = std::filesystem;

double now_s() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

struct TrainData {
  std::unique_ptr<PackedRows> train;
  std::unique_ptr<PackedRows> val;
  std::string tokenizer_path;  // "" for bytes
  std::string tokenizer_hash;
};

// The config's data (train/data_prep.h, shared with `sra data prepare`) as rows of seq_len + 1 tokens.
TrainData load_data(const RunConfig& cfg, const TrainOptions& opt, std::ostream& log) {
  const DataSection& ds = cfg.data;
  TrainingData td = load_training_data(cfg, opt.data_dir);
  if (!td.bad_lines_summary.empty()) log << "warning: " << td.bad_lines_summary << "\n";
  const std::string where = td.source.empty() ? ds.dataset + " data" : td.source;
  check_token_ids(*td.train, cfg.model.vocab_size, where + " (train)");
  check_token_ids(*td.val, cfg.model.vocab_size, where + " (validation)");
  TrainData d;
  d.train = std::make_unique<PackedRows>(td.train, ds.seq_len, td.pad_id);
  d.val = std::make_unique<PackedRows>(td.val, ds.seq_len, td.pad_id);
  d.tokenizer_path = td.tokenizer_path;
  d.tokenizer_hash = td.tokenizer_hash;
  log << "data: " << ds.dataset << (td.source.empty() ? "" : " from " + td.source) << ", "
      << (td.tokenizer_path.empty() ? std::string("bytes") : "tokenizer " + td.tokenizer_path) << ", "
      << td.train->size() << " train and " << td.val->size() << " val tokens";
  if (td.train_examples > 0) log << " (" << td.train_examples << " and " << td.val_examples << " examples)";
  if (td.bad_lines > 0) log << ", " << td.bad_lines << " bad lines skipped";
  log << "\n";
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

// Keeps the metrics lines with step <= last_step (all of them dropped when last_step is 0).
void truncate_metrics(const std::string& path, int64_t last_step) {
  std::string kept;
  if (last_step > 0) {
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      Json j;
      try {
        j = Json::parse(line);
      } catch (const Error&) {
        continue;  // a line cut short by a crash
      }
      const Json* st = j.is_object() ? j.find("step") : nullptr;
      if (st && st->is_number() && st->as_int() <= last_step) kept += line + "\n";
    }
  }
  std::ofstream out(path, std::ios::trunc);
  SRA_CHECK(out.good(), "[train] cannot write ", path);
  out << kept;
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

}  // namespace

int run_train(const TrainOptions& opt, std::ostream& log) {
  SRA_CHECK(!opt.config.empty(), "[train] no config file given");
  SRA_CHECK(!opt.out_dir.empty(), "[train] no output directory given");
  RunConfig cfg = load_config(opt.config, opt.overrides);
  SRA_CHECK(cfg.device == "cpu", "[train] device '", cfg.device, "' is not supported yet (use cpu)");
  SRA_CHECK(cfg.precision == "f32", "[train] precision '", cfg.precision, "' is not supported yet (use f32)");
  SRA_CHECK(cfg.distributed.world_size == 1 && cfg.distributed.backend == "none",
            "[train] distributed training is not supported yet (distributed.world_size must be 1)");
  SRA_CHECK(cfg.data.seq_len <= cfg.model.max_seq_len, "[train] data.seq_len ", cfg.data.seq_len,
            " exceeds model.max_seq_len ", cfg.model.max_seq_len);

  fs::create_directories(opt.out_dir);
  write_resolved_config(cfg, (fs::path(opt.out_dir) / "config.yaml").string());
  const std::string metrics_path = (fs::path(opt.out_dir) / cfg.logging.metrics_file).string();
  const std::string resolved = dump_resolved_yaml(cfg);

  TrainData data = load_data(cfg, opt, log);
  LoadedModel lm = model_from_config(cfg);
  Transformer& model = *lm.model;
  model.train();
  NamedTensors params = model.named_parameters();
  AdamW optim(params, to_adamw_config(cfg));
  SequenceSampler sampler(data.train->num_rows(), uint64_t(cfg.data.seed));

  // ---- resume ----
  int64_t start = 0;
  std::optional<std::pair<std::string, Checkpoint>> resumed;
  if (opt.resume.empty()) {
    std::vector<std::string> existing = list_checkpoints(opt.out_dir);
    SRA_CHECK(existing.empty(), "[train] ", opt.out_dir, " already holds checkpoints (", existing.front(),
              "); resume with \"auto\" or a checkpoint path, or use another output directory");
  } else if (opt.resume == "auto") {
    resumed = load_newest_valid_checkpoint(opt.out_dir, log);
    if (!resumed) log << "no checkpoint in " << opt.out_dir << ": starting from step 0\n";
  } else if (!opt.resume.empty()) {
    resumed.emplace(opt.resume, load_checkpoint(opt.resume));
  }
  if (resumed) {
    const std::string& path = resumed->first;
    const Checkpoint& ck = resumed->second;
    for (const char* key : {"data_cursor", "rng"}) {
      SRA_CHECK(ck.meta.count(key), "[train] ", path, ": no '", key,
                "' metadata (not a trainer checkpoint?)");
    }
    auto cit = ck.meta.find("config");
    if (cit != ck.meta.end() && cit->second != resolved) {
      log << "warning: the config differs from the one saved in " << path << "\n";
    }
    auto tit = ck.meta.find("tokenizer_hash");
    SRA_CHECK(tit == ck.meta.end() || tit->second == data.tokenizer_hash, "[train] ", path,
              ": tokenizer hash '", tit->second, "' does not match the current tokenizer's '",
              data.tokenizer_hash, "'");
    load_module(model, ck);
    load_optimizer(optim, ck);
    sampler.load_state(Json::parse(ck.meta.at("data_cursor")));
    set_generator_state(model.router_generator(), Json::parse(ck.meta.at("rng")));
    start = ck.step;
    SRA_CHECK(start >= 0 && start <= cfg.train.steps, "[train] ", path, ": step ", start,
              " is outside [0, train.steps = ", cfg.train.steps, "]");
    log << "resumed from " << path << " at step " << start << "\n";
  }
  truncate_metrics(metrics_path, start);

  int64_t end = cfg.train.steps;
  if (opt.max_steps >= 0) end = std::min(end, std::max(start, opt.max_steps));

  auto save = [&](int64_t step) {
    Checkpoint ck;
    ck.step = step;
    add_module(ck, model);
    add_optimizer(ck, optim);
    ck.meta["config"] = resolved;
    ck.meta["data_cursor"] = sampler.state().dump();
    ck.meta["rng"] = generator_state(model.router_generator()).dump();
    ck.meta["code_version"] = kCodeVersion;
    ck.meta["tokenizer"] = data.tokenizer_path;
    ck.meta["tokenizer_hash"] = data.tokenizer_hash;
    std::string path = checkpoint_path(opt.out_dir, step);
    save_checkpoint(ck, path);
    if (cfg.train.keep_last > 0) keep_last(opt.out_dir, cfg.train.keep_last);
    log << "saved " << path << "\n";
  };

  log << "train: " << model.num_parameters() << " parameters, " << data.train->num_rows()
      << " train rows and " << data.val->num_rows() << " val rows of " << cfg.data.seq_len
      << " tokens, steps " << start << " -> " << end << " of " << cfg.train.steps << "\n";

  // Task accuracy on val-split synthetic problems (greedy, deterministic selection), when asked for.
  std::optional<eval::EvalTask> val_task;
  Tokenizer val_tokenizer;
  if (cfg.train.eval_problems > 0) {
    SRA_CHECK(cfg.data.dataset == "synthetic", "[train] train.eval_problems needs data.dataset synthetic, got ",
              cfg.data.dataset);
    if (!data.tokenizer_path.empty()) val_tokenizer = Tokenizer::load(data.tokenizer_path);
    eval::EvalTask t;
    t.dataset = "synthetic";
    t.problems = eval::load_eval_problems("synthetic", "val", "", 0, cfg.train.eval_problems,
                                          to_synthetic_options(cfg));
    t.format = eval::make_prompt_format("synthetic", {}, true);
    val_task = std::move(t);
  }
  std::ofstream metrics(metrics_path, std::ios::app);
  SRA_CHECK(metrics.good(), "[train] cannot write ", metrics_path);
  const int64_t B = cfg.train.batch_size, accum = cfg.train.grad_accum;
  const double tau0 = cfg.router.temperature, tau1 = cfg.router.temperature_final;
  int64_t last_saved = resumed ? start : -1;
  // a progress bar redrawn in place on a terminal (logging.progress: auto = when the log is a terminal)
  const bool bar = cfg.logging.progress == "on" || (cfg.logging.progress == "auto" && opt.terminal);
  const double loop_t0 = now_s();
  auto clear_bar = [&] {
    if (bar) log << "\r\x1b[K";
  };
  auto draw_bar = [&](int64_t step, double loss, double ratio, double tok_s) {
    if (!bar) return;
    const int width = 24;
    int filled = int(double(width) * double(step) / double(std::max<int64_t>(cfg.train.steps, 1)));
    double per_step = (now_s() - loop_t0) / double(std::max<int64_t>(step - start, 1));
    double eta = per_step * double(end - step);
    log << "\r\x1b[K" << step << "/" << cfg.train.steps << " [" << std::string(size_t(filled), '#')
        << std::string(size_t(width - filled), '.') << "] loss " << fmt("%.4f", loss) << "  sel "
        << fmt("%.3f", ratio) << "  " << fmt("%.0f", tok_s) << " tok/s  ETA " << fmt("%.0f", eta) << "s"
        << std::flush;
  };
  for (int64_t s = start; s < end; ++s) {
    const double t0 = now_s();
    double lr = learning_rate(cfg, s);
    double frac = cfg.train.steps > 1 ? double(s) / double(cfg.train.steps - 1) : 0.0;
    set_router_temperature(model, tau0 + (tau1 - tau0) * frac);
    double loss_sum = 0, ratio_sum = 0;
    for (int64_t m = 0; m < accum; ++m) {
      Batch b = make_batch(*data.train, sampler.next_batch(B));
      Tensor loss = batch_loss(model, b);
      ratio_sum += model.last_selected_ratio();
      loss_sum += loss.item();
      backward(accum == 1 ? loss : mul(loss, 1.0 / double(accum)));
    }
    auto [norm, scale] = clip_grad_norm(params, cfg.optimizer.grad_clip);
    optim.step(lr, scale);
    optim.zero_grad();
    model.update_thresholds();
    const int64_t step = s + 1;
    const double loss = loss_sum / double(accum), ratio = ratio_sum / double(accum);
    const double tok_s = double(B * accum * cfg.data.seq_len) / std::max(now_s() - t0, 1e-9);
    std::optional<double> val, val_acc, val_sel;
    if (cfg.train.eval_every > 0 && step % cfg.train.eval_every == 0) {
      val = validation_loss(model, *data.val, B, cfg.train.eval_batches);
      if (val_task) {
        eval::EvalResult er = eval::evaluate(model, val_tokenizer, *val_task, 0, 16);
        val_acc = er.accuracy();
        val_sel = er.selected_ratio;
      }
    }
    Json line = Json::object({{"step", step},
                              {"loss", loss},
                              {"lr", lr},
                              {"grad_norm", norm},
                              {"selected_ratio", ratio},
                              {"tokens_per_s", tok_s}});
    if (val) line["val_loss"] = *val;
    if (val_acc) line["val_accuracy"] = *val_acc, line["val_selected_ratio"] = *val_sel;
    metrics << line.dump() << "\n" << std::flush;
    if ((cfg.logging.log_every > 0 && step % cfg.logging.log_every == 0) || val) {
      clear_bar();
      log << "step " << step << "  loss " << fmt("%.4f", loss) << "  lr " << fmt("%.2e", lr) << "  |g| "
          << fmt("%.3f", norm) << "  selected " << fmt("%.3f", ratio) << "  " << fmt("%.0f", tok_s)
          << " tok/s";
      if (val) log << "  val " << fmt("%.4f", *val);
      if (val_acc) log << "  val acc " << fmt("%.3f", *val_acc) << " (selected " << fmt("%.3f", *val_sel) << ")";
      log << "\n" << std::flush;
    }
    if ((cfg.train.checkpoint_every > 0 && step % cfg.train.checkpoint_every == 0) || step == end) {
      clear_bar();
      save(step);
      last_saved = step;
    }
    draw_bar(step, loss, ratio, tok_s);
  }
  clear_bar();
  if (last_saved != end) save(end);  // nothing to run (already at the end): still leave the final state
  log << "done: step " << end << " of " << cfg.train.steps << "\n";
  return 0;
}

}  // namespace sra
