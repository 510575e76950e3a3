// The RL loop behind `sra rl`: see rl/rl_trainer.h for config, schedule, metrics, checkpoints and resume.
#include "rl/rl_trainer.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <ostream>
#include <set>

#include "autograd/tape.h"
#include "core/dist/collectives.h"
#include "core/json.h"
#include "eval/evaluate.h"
#include "eval/prompts.h"
#include "model/optimizer.h"
#include "rl/policy.h"
#include "rl/reinforce.h"
#include "rl/rl_data.h"
#include "run/checkpoint.h"
#include "run/config.h"
#include "run/hf_import.h"  // is_router_name
#include "run/interrupt.h"
#include "run/model_io.h"
#include "run/run_log.h"
#include "train/grad_sync.h"

namespace sra::rl {

namespace {

namespace fs = std::filesystem;

// The init checkpoint's config with the RL YAML's rl, optimizer and logging sections.
RunConfig merged_config(const RunConfig& init_cfg, const RlOptions& opt) {
  std::map<std::string, std::string> origins;
  RunConfig rc = load_config(opt.config, opt.overrides, &origins);
  for (const auto& [key, where] : origins) {
    const std::string section = key.substr(0, key.find('.'));
    const bool allowed = section == "rl" || section == "optimizer" || section == "logging" ||
                         key == "device" || key == "precision" || key.rfind("distributed.", 0) == 0;
    SRA_CHECK(allowed, "[config] ", where, ": ", key,
              ": sra rl takes the model, router, data, schedule and train sections from --init; its config "
              "sets only rl, optimizer and logging");
  }
  auto at = [&](const std::string& key) {
    auto it = origins.find(key);
    return it == origins.end() ? opt.config : it->second;
  };
  SRA_CHECK(rc.precision == "f32", "[config] ", at("precision"), ": precision '", rc.precision,
            "' is not supported by sra rl yet (use f32)");
  SRA_CHECK(!rc.rl.train_lm || rc.rl.sample_answers, "[config] ", at("rl.train_lm"),
            ": rl.train_lm needs rl.sample_answers: true (a greedy answer token is not a sample, so its "
            "log-probability has no place in the score-function gradient)");
  SRA_CHECK(rc.rl.warmup_steps <= rc.rl.steps, "[config] ", at("rl.warmup_steps"), ": rl.warmup_steps (",
            rc.rl.warmup_steps, ") must be <= rl.steps (", rc.rl.steps, ")");
  SRA_CHECK(!rc.rl.train_lm || init_cfg.train.base_dtype != "bf16", "[config] ", at("rl.train_lm"),
            ": rl.train_lm trains the LM, but --init ", opt.init,
            " holds its frozen base in bf16 (train.base_dtype bf16); only its routers can train");
  RunConfig cfg = init_cfg;
  cfg.rl = rc.rl;
  cfg.optimizer = rc.optimizer;
  cfg.logging = rc.logging;
  cfg.device = rc.device;  // where this run runs, not where --init was trained
  cfg.precision = rc.precision;
  cfg.distributed = rc.distributed;  // how this run's ranks talk (the launcher gives their number)
  return cfg;
}

// Epoch e of the prompt pool is a Fisher–Yates order drawn from Generator(seed, stream = e).
class PromptOrder {
 public:
  PromptOrder(size_t n, uint64_t seed) : n_(n), seed_(seed) {}
  size_t at(int64_t pos) {
    const int64_t epoch = pos / int64_t(n_);
    if (epoch != epoch_) {
      order_.resize(n_);
      std::iota(order_.begin(), order_.end(), size_t(0));
      Generator g(seed_, uint64_t(epoch));
      for (size_t i = n_; i > 1; --i) std::swap(order_[i - 1], order_[g.next_below(i)]);
      epoch_ = epoch;
    }
    return order_[size_t(pos % int64_t(n_))];
  }

 private:
  size_t n_;
  uint64_t seed_;
  int64_t epoch_ = -1;
  std::vector<size_t> order_;
};

void add_eval(Json& line, const eval::EvalResult& e) {
  line["eval_accuracy"] = e.accuracy();
  line["eval_selected_ratio"] = e.selected_ratio;
  line["eval_answer_tokens"] = e.answer_tokens_mean;
  line["eval_flops_per_query"] = e.flops_per_query;
  line["eval_n"] = e.n;
}

std::string eval_text(const eval::EvalResult& e) {
  return "eval " + e.label + ": accuracy " + fmt("%.4f", e.accuracy()) + "  selected " +
         fmt("%.4f", e.selected_ratio) + "  answer tokens " + fmt("%.1f", e.answer_tokens_mean) + "  (" +
         std::to_string(e.n) + " test problems)\n";
}

std::string step_dir(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "step-%08lld", static_cast<long long>(step));
  return buf;
}

// One run: the policy and the reference model, what is trained, the prompts, and the steps it covers.
struct RlRun {
  RlRun(const RlOptions& o, eval::EvalModel policy, eval::EvalModel reference)
      : opt(o), policy_em(std::move(policy)), ref_em(std::move(reference)) {}
  const RlOptions& opt;
  eval::EvalModel policy_em, ref_em;
  RunConfig cfg;
  std::string resolved;      // dump_resolved_yaml(cfg), saved in every checkpoint
  std::string metrics_path;  // out_dir/<logging.metrics_file>
  size_t n_sra = 0;
  double tau = 0;
  NamedTensors trainable, ref_trainable;  // trainable: the routers' parameters, then (train_lm) the LM's
  NamedTensors router_params, lm_params;  // the two parts of trainable
  int64_t n_trained = 0;
  std::unique_ptr<AdamW> optim;     // the routers' (optimizer.lr)
  std::unique_ptr<AdamW> lm_optim;  // the LM's (rl.lm_lr); null without rl.train_lm
  ProblemSet train;
  eval::PromptFormat format;
  std::optional<eval::EvalTask> test;
  std::unique_ptr<PromptOrder> order;
  int64_t start = 0, end = 0;
  bool resumed = false;
  double t_start = 0;                       // now_s() at this process's first step (rl.time_limit_s)
  bool timed_out = false;                   // the run ended at rl.time_limit_s before rl.steps
  std::unique_ptr<dist::DistContext> dist;  // null: one process
  std::unique_ptr<GradSync> sync;           // with dist: the trainable parameters' gradient sums
  int rank = 0, world = 1;
  bool root() const { return rank == 0; }
  dist::Communicator* comm() const { return dist ? dist->comm.get() : nullptr; }
  Transformer& model() { return *policy_em.model; }
  Transformer& ref() { return *ref_em.model; }
  const Tokenizer& tok() const { return policy_em.tokenizer; }
};

// The router parameters (and the LM's with rl.train_lm) train; the rest, and all of the reference, freeze.
void choose_trainable(RlRun& run) {
  std::set<std::string> trained_names;
  for (auto& [name, p] : run.model().named_parameters()) {
    if (is_router_name(name)) {
      run.router_params.emplace_back(name, p);
    } else if (run.cfg.rl.train_lm) {
      run.lm_params.emplace_back(name, p);
    } else {
      p.set_requires_grad(false);
    }
  }
  run.trainable = run.router_params;
  run.trainable.insert(run.trainable.end(), run.lm_params.begin(), run.lm_params.end());
  for (const auto& [name, p] : run.trainable) trained_names.insert(name);
  for (auto& [name, p] : run.ref().named_parameters()) {
    p.set_requires_grad(false);
    if (trained_names.count(name)) run.ref_trainable.emplace_back(name, p);
  }
  for (const auto& [name, p] : run.trainable) run.n_trained += p.numel();
}

// The train pool and the held-out test task (the eval harness's, as sra eval --limit).
void load_prompts(RlRun& run) {
  const RunConfig& cfg = run.cfg;
  const RlSection& rc = cfg.rl;
  const int64_t max_prompt = cfg.model.max_seq_len - rc.max_new_tokens;
  SRA_CHECK(max_prompt > 0, "[rl] rl.max_new_tokens (", rc.max_new_tokens,
            ") leaves no room for a prompt within model.max_seq_len (", cfg.model.max_seq_len, ")");
  const int64_t pool = rc.dataset == "gsm8k" ? -1 : std::max<int64_t>(256, rc.steps * rc.prompts_per_step);
  run.train = load_train_problems(cfg, run.tok(), pool, max_prompt, run.opt.data_dir);
  SRA_CHECK(!run.train.problems.empty(), "[rl] none of the ", run.train.considered, " ", rc.dataset,
            " train prompts fits: prompt tokens + rl.max_new_tokens (", rc.max_new_tokens,
            ") must be <= model.max_seq_len (", cfg.model.max_seq_len, ")");
  if (run.tok().loaded()) {  // a tokenizer that loses characters of the prompts: say so (stderr)
    std::vector<std::string> texts;
    for (size_t i = 0; i < run.train.problems.size() && i < 64; ++i)
      texts.push_back(run.train.problems[i].prompt);
    warn_if_lossy(run.tok(), texts, "the rl train prompts", std::cerr);
  }
  run.format = eval::make_prompt_format(rc.dataset, {}, /*cot=*/true);
  if (rc.eval_every > 0) {
    eval::EvalOptions eo;
    eo.dataset = rc.dataset;
    eo.limit = rc.eval_problems;
    eo.data_dir = run.opt.data_dir;
    run.test = eval::make_eval_task(eo, to_synthetic_options(cfg));
  }
  run.order = std::make_unique<PromptOrder>(run.train.problems.size(), mix_key(uint64_t(rc.seed), 1));
}

// Restores the policy, the reference's trained copy and the optimizer; returns the checkpoint's step.
int64_t restore(RlRun& run, const std::string& path, const Checkpoint& ck, std::ostream& log) {
  auto st = ck.meta.find("stage");
  SRA_CHECK(st != ck.meta.end() && st->second == "rl", "[rl] ", path, ": not an sra rl checkpoint");
  auto c2 = ck.meta.find("config");
  if (c2 != ck.meta.end() && c2->second != run.resolved)
    log << "warning: the config differs from the one saved in " << path << "\n";
  load_module(run.model(), ck);
  load_module(run.ref(), ck);
  load_into(run.ref_trainable, ck, "ref/");
  load_optimizer(*run.optim, ck);
  if (run.lm_optim) load_optimizer(*run.lm_optim, ck, "lm_optim/");
  const int64_t start = ck.step;
  SRA_CHECK(start >= 0 && start <= run.cfg.rl.steps, "[rl] ", path, ": step ", start,
            " is outside [0, rl.steps = ", run.cfg.rl.steps, "]");
  log << "resumed from " << path << " at step " << start << "\n";
  return start;
}

// Models, config, trainable parameters, prompts, output directory and the resumed state, if any.
RlRun start_run(const RlOptions& opt, std::ostream& log) {
  SRA_CHECK(!opt.config.empty(), "[rl] no config file given (--config)");
  SRA_CHECK(!opt.init.empty(), "[rl] no initial checkpoint given (--init)");
  SRA_CHECK(!opt.out_dir.empty(), "[rl] no output directory given (--out)");
  // The policy and the reference (the initial model), with the checkpoint's tokenizer (hash checked).
  RlRun run{opt, eval::load_eval_model(opt.init), eval::load_eval_model(opt.init)};
  run.cfg = merged_config(run.policy_em.config, opt);
  // both models on the run's device before the optimizer allocates its moments there
  parse_device_spec(run.cfg.device);
  const Device device = dist::rank_device(run.cfg.device, dist::dist_env());
  run.dist = dist::join_job(run.cfg.distributed.backend, device, run.cfg.distributed.timeout_s,
                            dump_resolved_yaml(run.cfg));
  if (run.dist) run.rank = run.dist->rank(), run.world = run.dist->world_size();
  run.model().to(device);
  run.ref().to(device);
  const RlSection& rc = run.cfg.rl;
  SRA_CHECK(rc.prompts_per_step % run.world == 0, "[rl] rl.prompts_per_step ", rc.prompts_per_step,
            " must be a multiple of the ", run.world, " ranks (each rank rolls out whole groups)");
  run.n_sra = run.model().sra_routers().size();
  SRA_CHECK(run.n_sra > 0, "[rl] ", opt.init, ": the model has no SRA layers (model.attention ",
            run.cfg.model.attention, "): there is no router to tune");
  run.tau = rc.router_temperature > 0 ? rc.router_temperature : run.cfg.router.temperature_final;
  set_router_temperature(run.model(), run.tau);
  set_router_temperature(run.ref(), run.tau);
  run.model().eval();
  run.ref().eval();
  choose_trainable(run);
  run.optim = std::make_unique<AdamW>(run.router_params, to_adamw_config(run.cfg));
  if (!run.lm_params.empty()) run.lm_optim = std::make_unique<AdamW>(run.lm_params, to_adamw_config(run.cfg));
  load_prompts(run);

  // decided before anything is written: a refused run leaves out_dir as it was
  run.metrics_path = (fs::path(opt.out_dir) / run.cfg.logging.metrics_file).string();
  // (rank 0 decides and writes; the other ranks load the checkpoint it names)
  std::optional<std::pair<std::string, Checkpoint>> resumed;
  if (run.root())
    resumed = checkpoint_to_resume({opt.out_dir, opt.resume, opt.fresh, run.metrics_path, "rl"}, log);
  if (run.dist) {
    const std::string path = run.comm()->all_gather(resumed ? resumed->first : "", "resume decision")[0];
    if (!run.root() && !path.empty()) resumed.emplace(path, load_checkpoint(path));
  }
  if (run.root()) {
    fs::create_directories(opt.out_dir);
    write_resolved_config(run.cfg, (fs::path(opt.out_dir) / "config.yaml").string());
  }
  run.resolved = dump_resolved_yaml(run.cfg);
  if (resumed) run.start = restore(run, resumed->first, resumed->second, log);
  run.resumed = resumed.has_value();
  if (run.dist) run.sync = std::make_unique<GradSync>(run.trainable, *run.comm());
  run.end = rc.steps;
  if (opt.max_steps >= 0) run.end = std::min(run.end, std::max(run.start, opt.max_steps));
  return run;
}

void save_root(RlRun& run, int64_t step, std::ostream& log) {
  const Tokenizer& tok = run.tok();
  Checkpoint ck;
  ck.step = step;
  add_module(ck, run.model());
  add_optimizer(ck, *run.optim);
  if (run.lm_optim) add_optimizer(ck, *run.lm_optim, "lm_optim/");
  add_tensors(ck, run.ref_trainable, "ref/");
  ck.meta["config"] = run.resolved;
  ck.meta["code_version"] = kCodeVersion;
  add_tokenizer(ck, tok);  // the init checkpoint's tokenizer, embedded
  ck.meta["stage"] = "rl";
  ck.meta["init_checkpoint"] = run.opt.init;
  const std::string path = checkpoint_path(run.opt.out_dir, step);
  save_checkpoint(ck, path);
  if (run.cfg.rl.keep_last > 0) keep_last(run.opt.out_dir, run.cfg.rl.keep_last, log);
  log << "saved " << path << "\n";
}

// Rank 0 writes; the other ranks wait at a barrier.
void save(RlRun& run, int64_t step, std::ostream& log) {
  if (run.root()) save_root(run, step, log);
  if (run.dist) run.comm()->barrier("checkpoint of step " + std::to_string(step));
}

// Every rank stops at the same step: the ranks' interrupt flags are gathered before each step.
bool stop_requested(const RlRun& run) {
  const bool mine = interrupt_requested();
  if (!run.dist || run.world == 1) return mine;
  for (const std::string& v : run.comm()->all_gather(mine ? "1" : "0", "interrupt check"))
    if (v == "1") return true;
  return false;
}

// Seconds since the run's first step by rank 0's clock (every rank gets the same value, so the
// time-limited schedule and the stop at rl.time_limit_s agree across ranks).
double shared_elapsed(const RlRun& run) {
  const double mine = now_s() - run.t_start;
  if (!run.dist || run.world == 1) return mine;
  return std::stod(run.comm()->all_gather(fmt("%.17g", mine), "time-limit clock")[0]);
}

// Held-out evaluation of `m` (greedy, deterministic selection), written to out_dir/eval/step-N/.
eval::EvalResult run_eval(RlRun& run, Transformer& m, int64_t step, std::ostream& log) {
  eval::EvalResult e =
      eval::evaluate(m, run.tok(), *run.test, /*max_new_tokens=*/0, /*batch=*/8, nullptr, run.comm());
  e.label = "step " + std::to_string(step);
  e.checkpoint = step == 0 ? run.opt.init : checkpoint_path(run.opt.out_dir, step);
  e.step = step;
  if (run.root()) eval::write_eval_result(e, (fs::path(run.opt.out_dir) / "eval" / step_dir(step)).string());
  log << eval_text(e) << std::flush;
  return e;
}

// The sums and means one step logs.
struct StepStats {
  int64_t step = 0;
  double lambda = 0, lr = 0, lm_lr = 0, norm = 0, loss_sum = 0;
  double reward_mean = 0, correct = 0, ratio = 0, formatted = 0, answer_tokens = 0;  // sums over rollouts
  double adv_std = 0, kl_sum = 0, entropy_sum = 0, decisions = 0;
  double t0 = 0, t1 = 0, t2 = 0;  // start, rollouts done, update done
};

// Rollouts of step s: G sampled answers (with sampled selections) for each of the step's P prompts.
std::vector<SequenceResult> rollouts(RlRun& run, int64_t s, std::vector<const RlProblem*>& problems) {
  const RlSection& rc = run.cfg.rl;
  const Tokenizer& tok = run.tok();
  const uint64_t seed = uint64_t(rc.seed);
  std::vector<std::vector<int64_t>> batch;
  for (int64_t k = run.rank; k < rc.prompts_per_step; k += run.world) {  // this rank's share
    problems.push_back(&run.train.problems[run.order->at(s * rc.prompts_per_step + k)]);
    for (int64_t g = 0; g < rc.group_size; ++g) batch.push_back(problems.back()->ids);
  }
  GenerateConfig gc;
  gc.max_new_tokens = rc.max_new_tokens;
  gc.eos_id = eval::end_of_text_id(tok);
  gc.stop_strings = run.format.stop_strings;
  gc.decode = [&tok](const std::vector<int64_t>& ids) { return eval::decode_answer(tok, ids); };
  gc.sampling.temperature = rc.sample_answers ? rc.temperature : 0.0;
  // keyed by (seed, step) and, over several ranks, the rank: each rank draws its own rollouts
  const auto key = [&](uint64_t k) {
    const uint64_t v = mix_key(mix_key(seed, k), uint64_t(s));
    return run.world > 1 ? mix_key(v, uint64_t(run.rank)) : v;
  };
  gc.sampling.seed = key(3);
  gc.select = sampling_policy(key(2), run.n_sra);
  gc.select_stateless = true;  // keyed draws: one-pass prefill, sequences decoded together
  return generate(run.model(), batch, gc);
}

// Rewards of the rollouts (into st) and their group advantages.
std::vector<double> advantages(const RlRun& run, const std::vector<SequenceResult>& rollouts,
                               const std::vector<const RlProblem*>& problems, StepStats& st) {
  const RlSection& rc = run.cfg.rl;
  const int64_t G = rc.group_size, R = int64_t(rollouts.size());
  const double R_all = double(rc.prompts_per_step * G);  // every rank's rollouts
  const bool expected_penalty = rc.penalty_gradient == "expected";
  std::vector<double> adv_rewards(size_t(R), 0.0);
  for (int64_t b = 0; b < R; ++b) {
    const SequenceResult& r = rollouts[size_t(b)];
    auto [sel, total] = decision_counts(r);
    const std::string output =
        eval::cut_at_stop(eval::decode_answer(run.tok(), r.ids), run.format.stop_strings);
    RewardParts rp = score_rollout(rc.dataset, output, problems[size_t(b / G)]->gold, sel, total, st.lambda,
                                   rc.format_reward);
    st.reward_mean += rp.reward / R_all;
    // "expected": the penalty's gradient is taken exactly in the loss below, not through the advantage
    adv_rewards[size_t(b)] = expected_penalty ? rp.task_reward : rp.reward;
    st.correct += rp.correct;
    st.ratio += rp.selected_ratio;
    st.formatted += rp.formatted;
    st.answer_tokens += double(r.ids.size());
  }
  return group_advantages(adv_rewards, G, baseline_from_name(rc.baseline), rc.adv_clip);
}

// Replays every rollout against the reference, backpropagates the loss, clips and steps the optimizer.
void update(RlRun& run, const std::vector<SequenceResult>& rollouts, const std::vector<double>& adv,
            StepStats& st) {
  const RlSection& rc = run.cfg.rl;
  const int64_t R = int64_t(rollouts.size());
  const double R_all = double(rc.prompts_per_step * rc.group_size);  // every rank's rollouts
  const bool expected_penalty = rc.penalty_gradient == "expected";
  ReplayOptions ro;
  ro.tau = run.tau;
  ro.answer_log_prob = rc.train_lm;
  ro.answer_temperature = rc.temperature;
  // per rollout KL, entropy and loss (when defined), read back once after every backward pass
  std::vector<Tensor> logged;
  std::vector<bool> has_loss;
  for (int64_t b = 0; b < R; ++b) {
    Replay rp = replay_rollout(run.model(), &run.ref(), rollouts[size_t(b)], ro);
    logged.push_back(rp.kl.detach());
    logged.push_back(rp.entropy.detach());
    st.decisions += double(rp.decisions);
    const double penalty_weight = expected_penalty ? st.lambda / double(rp.decisions) : 0.0;
    Tensor loss = rollout_loss(rp.log_prob, adv[size_t(b)], rp.kl, rc.kl_weight, rp.entropy,
                               rc.entropy_weight, rp.expected_selected, penalty_weight, 1.0 / R_all);
    has_loss.push_back(loss.defined());
    if (loss.defined()) {
      logged.push_back(loss.detach());
      backward(loss);
    } else {
      tape_clear();
    }
  }
  const std::vector<std::vector<double>> values = read_back(logged);  // one read, 0-d tensors
  size_t at = 0;
  for (int64_t b = 0; b < R; ++b) {  // the same sums in the same order as reading each value at once
    st.kl_sum += values[at++][0];
    st.entropy_sum += values[at++][0];
    if (has_loss[size_t(b)]) st.loss_sum += values[at++][0];
  }
  // the ranks' gradient sums: each loss carries 1 / (all rollouts), so this is one process's gradient
  if (run.sync) run.sync->reduce("step " + std::to_string(st.step), /*mean=*/false);
  auto [norm, scale] = clip_grad_norm(run.trainable, run.cfg.optimizer.grad_clip);
  st.norm = norm;
  run.optim->step(st.lr, scale);
  run.optim->zero_grad();
  if (run.lm_optim) {  // the same clip factor: one norm over every trained parameter
    run.lm_optim->step(st.lm_lr, scale);
    run.lm_optim->zero_grad();
  }
}

// Several ranks: the step's sums over every rank's rollouts (one host all-reduce); adv_std from the
// advantages' sum and sum of squares.
void sum_over_ranks(RlRun& run, StepStats& st, const std::vector<double>& adv) {
  double a1 = 0, a2 = 0;
  for (double a : adv) a1 += a, a2 += a * a;
  std::vector<double*> fields = {&st.reward_mean,   &st.correct,   &st.ratio,  &st.formatted,
                                 &st.answer_tokens, &st.decisions, &st.kl_sum, &st.entropy_sum,
                                 &st.loss_sum,      &a1,           &a2};
  Tensor sums = Tensor::empty({int64_t(fields.size())}, DType::f64);
  for (size_t i = 0; i < fields.size(); ++i) sums.data<double>()[i] = *fields[i];
  run.comm()->all_reduce_sum(sums, "rl statistics of step " + std::to_string(st.step));
  for (size_t i = 0; i < fields.size(); ++i) *fields[i] = sums.data<double>()[i];
  const double R = double(run.cfg.rl.prompts_per_step * run.cfg.rl.group_size);
  st.adv_std = std::sqrt(std::max(0.0, a2 / R - (a1 / R) * (a1 / R)));
}

// Update s (0-based): rollouts, rewards and advantages, then the policy-gradient update.
StepStats rl_step(RlRun& run, int64_t s) {
  const RlSection& rc = run.cfg.rl;
  StepStats st;
  st.t0 = now_s();
  st.lambda = rc.time_limit_s > 0 && rc.lambda_final >= 0
                  ? rc.lambda + (rc.lambda_final - rc.lambda) *
                                    std::clamp(shared_elapsed(run) / rc.time_limit_s, 0.0, 1.0)
                  : lambda_at(s, rc.steps, rc.lambda, rc.lambda_final);
  const double warm = rc.warmup_steps > 0 ? std::min(1.0, double(s + 1) / double(rc.warmup_steps)) : 1.0;
  st.lr = run.cfg.optimizer.lr * warm;
  st.lm_lr = rc.train_lm ? rc.lm_lr * warm : 0.0;
  std::vector<const RlProblem*> problems;
  const std::vector<SequenceResult> rolled = rollouts(run, s, problems);
  st.t1 = now_s();
  const std::vector<double> adv = advantages(run, rolled, problems, st);
  st.step = s + 1;
  update(run, rolled, adv, st);
  st.t2 = now_s();
  if (run.world > 1) {
    sum_over_ranks(run, st, adv);
    return st;
  }
  const double R = double(rolled.size());
  double adv_mean = 0, adv_var = 0;
  for (double a : adv) adv_mean += a / R;
  for (double a : adv) adv_var += (a - adv_mean) * (a - adv_mean) / R;
  st.adv_std = std::sqrt(adv_var);
  return st;
}

Json metrics_line(const StepStats& st, double R) {
  return Json::object({{"step", st.step},
                       {"reward", st.reward_mean},
                       {"accuracy", st.correct / R},
                       {"selected_ratio", st.ratio / R},
                       {"adv_std", st.adv_std},
                       {"kl", st.kl_sum / st.decisions},
                       {"entropy", st.entropy_sum / st.decisions},
                       {"lambda", st.lambda},
                       {"lr", st.lr},
                       {"lm_lr", st.lm_lr},
                       {"grad_norm", st.norm},
                       {"loss", st.loss_sum},
                       {"formatted", st.formatted / R},
                       {"answer_tokens", st.answer_tokens / R},
                       {"rollout_s", st.t1 - st.t0},
                       {"update_s", st.t2 - st.t1},
                       {"step_s", st.t2 - st.t0}});
}

void log_step(const StepStats& st, double R, int64_t steps, std::ostream& log) {
  log << "step " << st.step << "/" << steps << "  reward " << fmt("%.4f", st.reward_mean) << "  acc "
      << fmt("%.3f", st.correct / R) << "  selected " << fmt("%.4f", st.ratio / R) << "  adv_std "
      << fmt("%.4f", st.adv_std) << "  kl " << fmt("%.2e", st.kl_sum / st.decisions) << "  H "
      << fmt("%.4f", st.entropy_sum / st.decisions) << "  lambda " << fmt("%.3f", st.lambda) << "  |g| "
      << fmt("%.3g", st.norm) << "  " << fmt("%.1f", st.t2 - st.t0) << "s (rollouts "
      << fmt("%.1f", st.t1 - st.t0) << "s)\n"
      << std::flush;
}

// The before/after table once the run is complete: the initial model is the reference policy (routers
// only: the initial routers on the unchanged LM), so a resumed run re-evaluates it.
void final_table(RlRun& run, std::optional<eval::EvalResult> first_eval, eval::EvalResult last_eval,
                 std::ostream& log) {
  if (!first_eval) first_eval = run_eval(run, run.ref(), 0, log);
  first_eval->label = "step 0 (init)";
  last_eval.label = "step " + std::to_string(run.end) + " (rl)";
  for (eval::EvalResult* r : {&*first_eval, &last_eval}) {  // relative to the initial policy
    r->baseline_flops = first_eval->flops_per_query;
    r->baseline_attention_flops = first_eval->attention_flops_per_query;
    r->baseline_label = first_eval->label;
  }
  const std::string table = eval::markdown_table({*first_eval, last_eval});
  if (!run.root()) return;
  std::ofstream((fs::path(run.opt.out_dir) / "eval_table.md").string()) << table;
  log << table;
}

}  // namespace

int run_rl(const RlOptions& opt, std::ostream& out) {
  InterruptGuard interrupt;  // Ctrl-C / SIGTERM: finish the step, save, return kInterruptedExit
  // ranks other than 0 (core/dist/env.h) print nothing; their errors still reach stderr
  std::ostream& log = dist::dist_env().rank == 0 ? out : null_stream();
  RlRun run = start_run(opt, log);
  const RunConfig& cfg = run.cfg;
  const RlSection& rc = cfg.rl;
  if (run.root())
    truncate_metrics(run.metrics_path, run.resumed ? std::optional<int64_t>(run.start) : std::nullopt, "rl");
  log << "rl: " << run.n_trained << " trained parameters (" << (rc.train_lm ? "router + LM" : "routers only")
      << ", " << run.n_sra << " SRA layers, tau " << fmt("%g", run.tau) << "), " << run.train.problems.size()
      << " " << rc.dataset << " train prompts (" << run.train.skipped << " of " << run.train.considered
      << " too long), " << (run.test ? run.test->problems.size() : 0) << " test problems; "
      << rc.prompts_per_step << " prompts x " << rc.group_size << " rollouts per step, steps " << run.start
      << " -> " << run.end << " of " << rc.steps << "\n";
  std::unique_ptr<MetricsWriter> metrics;  // rank 0's
  if (run.root()) metrics = std::make_unique<MetricsWriter>(run.metrics_path, "rl");
  std::optional<eval::EvalResult> first_eval, last_eval;
  if (!run.resumed && run.test && run.start < run.end) {
    first_eval = run_eval(run, run.model(), 0, log);
    Json line = Json::object({{"step", 0}});
    add_eval(line, *first_eval);
    if (metrics) metrics->write(line);
  }
  const double R = double(rc.prompts_per_step * rc.group_size);
  int64_t last_saved = run.resumed ? run.start : -1, step = run.start;
  run.t_start = now_s();
  bool stop = false;
  for (int64_t s = run.start; s < run.end; ++s) {
    if ((stop = stop_requested(run))) break;
    const StepStats st = rl_step(run, s);
    step = st.step;
    if (rc.time_limit_s > 0 && st.step < run.end && shared_elapsed(run) >= rc.time_limit_s) {
      log << "rl: time limit " << fmt("%g", rc.time_limit_s) << " s reached at step " << st.step << "\n";
      run.end = st.step;
      run.timed_out = true;
    }
    Json line = metrics_line(st, R);
    if ((cfg.logging.log_every > 0 && st.step % cfg.logging.log_every == 0) || st.step == run.end)
      log_step(st, R, rc.steps, log);
    if (run.test && (st.step % rc.eval_every == 0 || st.step == rc.steps || run.timed_out)) {
      last_eval = run_eval(run, run.model(), st.step, log);
      add_eval(line, *last_eval);
    }
    if (metrics) metrics->write(line);
    if ((rc.checkpoint_every > 0 && st.step % rc.checkpoint_every == 0) || st.step == run.end) {
      save(run, st.step, log);
      last_saved = st.step;
    }
  }
  if (stop) {
    if (step > last_saved && step > 0) save(run, step, log);
    log_interrupted(log, step, rc.steps);
    return kInterruptedExit;
  }
  if (last_saved != run.end) save(run, run.end, log);
  if (run.test && (run.end == rc.steps || run.timed_out) && last_eval && last_eval->step == run.end)
    final_table(run, first_eval, *last_eval, log);
  log << "done: step " << run.end << " of " << rc.steps << "\n";
  return 0;
}

}  // namespace sra::rl
