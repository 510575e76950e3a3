// The RL loop behind `sra rl`: see rl/rl_trainer.h for config, schedule, metrics, checkpoints and resume.
#include "rl/rl_trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <optional>
#include <ostream>
#include <set>

#include "autograd/tape.h"
#include "core/json.h"
#include "eval/evaluate.h"
#include "eval/prompts.h"
#include "rl/policy.h"
#include "rl/reinforce.h"
#include "rl/rl_data.h"
#include "train/checkpoint.h"
#include "train/config.h"
#include "train/optimizer.h"
#include "train/trainer.h"

namespace sra::rl {

namespace {

namespace fs = std::filesystem;

double now_s() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// True when one '.'-separated component of the name is "router".
bool is_router_parameter(const std::string& name) {
  size_t start = 0;
  while (true) {
    size_t dot = name.find('.', start);
    if (name.compare(start, dot == std::string::npos ? std::string::npos : dot - start, "router") == 0)
      return true;
    if (dot == std::string::npos) return false;
    start = dot + 1;
  }
}

// The init checkpoint's config with the RL YAML's rl, optimizer and logging sections.
RunConfig merged_config(const RunConfig& init_cfg, const RlOptions& opt) {
  std::map<std::string, std::string> origins;
  RunConfig rc = load_config(opt.config, opt.overrides, &origins);
  for (const auto& [key, where] : origins) {
    const std::string section = key.substr(0, key.find('.'));
    const bool allowed = section == "rl" || section == "optimizer" || section == "logging" ||
                         key == "device" || key == "precision";
    SRA_CHECK(allowed, "[config] ", where, ": ", key,
              ": sra rl takes the model, router, data, schedule and train sections from --init; its config "
              "sets only rl, optimizer and logging");
  }
  auto at = [&](const std::string& key) {
    auto it = origins.find(key);
    return it == origins.end() ? opt.config : it->second;
  };
  SRA_CHECK(rc.device == "cpu", "[config] ", at("device"), ": device '", rc.device,
            "' is not supported by sra rl yet (use cpu)");
  SRA_CHECK(rc.precision == "f32", "[config] ", at("precision"), ": precision '", rc.precision,
            "' is not supported by sra rl yet (use f32)");
  SRA_CHECK(!rc.rl.train_lm || rc.rl.sample_answers, "[config] ", at("rl.train_lm"),
            ": rl.train_lm needs rl.sample_answers: true (a greedy answer token is not a sample, so its "
            "log-probability has no place in the score-function gradient)");
  SRA_CHECK(rc.rl.warmup_steps <= rc.rl.steps, "[config] ", at("rl.warmup_steps"), ": rl.warmup_steps (",
            rc.rl.warmup_steps, ") must be <= rl.steps (", rc.rl.steps, ")");
  RunConfig cfg = init_cfg;
  cfg.rl = rc.rl;
  cfg.optimizer = rc.optimizer;
  cfg.logging = rc.logging;
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

// Keeps the metrics lines with step <= last_step (none when last_step < 0).
void truncate_metrics(const std::string& path, int64_t last_step) {
  std::string kept;
  if (last_step >= 0) {
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
  SRA_CHECK(out.good(), "[rl] cannot write ", path);
  out << kept;
}

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

}  // namespace

int run_rl(const RlOptions& opt, std::ostream& log) {
  SRA_CHECK(!opt.config.empty(), "[rl] no config file given (--config)");
  SRA_CHECK(!opt.init.empty(), "[rl] no initial checkpoint given (--init)");
  SRA_CHECK(!opt.out_dir.empty(), "[rl] no output directory given (--out)");
  // The policy and the reference (the initial model), with the checkpoint's tokenizer (hash checked).
  eval::EvalModel policy_em = eval::load_eval_model(opt.init), ref_em = eval::load_eval_model(opt.init);
  const RunConfig cfg = merged_config(policy_em.config, opt);
  const RlSection& rc = cfg.rl;
  Transformer &model = *policy_em.model, &ref = *ref_em.model;
  const Tokenizer& tok = policy_em.tokenizer;
  const size_t n_sra = model.sra_routers().size();
  SRA_CHECK(n_sra > 0, "[rl] ", opt.init, ": the model has no SRA layers (model.attention ",
            cfg.model.attention, "): there is no router to tune");
  const double tau = rc.router_temperature > 0 ? rc.router_temperature : cfg.router.temperature_final;
  set_router_temperature(model, tau);
  set_router_temperature(ref, tau);
  model.eval();
  ref.eval();
  NamedTensors trainable, ref_trainable;
  std::set<std::string> trained_names;
  for (auto& [name, p] : model.named_parameters()) {
    if (rc.train_lm || is_router_parameter(name)) {
      trainable.emplace_back(name, p);
      trained_names.insert(name);
    } else {
      p.set_requires_grad(false);
    }
  }
  for (auto& [name, p] : ref.named_parameters()) {
    p.set_requires_grad(false);
    if (trained_names.count(name)) ref_trainable.emplace_back(name, p);
  }
  int64_t n_trained = 0;
  for (const auto& [name, p] : trainable) n_trained += p.numel();
  AdamW optim(trainable, to_adamw_config(cfg));

  // ---- prompts: the train pool, the held-out test task (the eval harness's, as sra eval --limit) ----
  const int64_t max_prompt = cfg.model.max_seq_len - rc.max_new_tokens;
  SRA_CHECK(max_prompt > 0, "[rl] rl.max_new_tokens (", rc.max_new_tokens,
            ") leaves no room for a prompt within model.max_seq_len (", cfg.model.max_seq_len, ")");
  const int64_t pool = rc.dataset == "gsm8k" ? -1 : std::max<int64_t>(256, rc.steps * rc.prompts_per_step);
  const ProblemSet train = load_train_problems(cfg, tok, pool, max_prompt, opt.data_dir);
  SRA_CHECK(!train.problems.empty(), "[rl] none of the ", train.considered, " ", rc.dataset,
            " train prompts fits: prompt tokens + rl.max_new_tokens (", rc.max_new_tokens,
            ") must be <= model.max_seq_len (", cfg.model.max_seq_len, ")");
  const eval::PromptFormat format = eval::make_prompt_format(rc.dataset, {}, /*cot=*/true);
  std::optional<eval::EvalTask> test;
  if (rc.eval_every > 0) {
    eval::EvalOptions eo;
    eo.dataset = rc.dataset;
    eo.limit = rc.eval_problems;
    eo.data_dir = opt.data_dir;
    test = eval::make_eval_task(eo, to_synthetic_options(cfg));
  }
  PromptOrder order(train.problems.size(), mix_key(uint64_t(rc.seed), 1));

  // ---- output directory, resume ----
  fs::create_directories(opt.out_dir);
  write_resolved_config(cfg, (fs::path(opt.out_dir) / "config.yaml").string());
  const std::string metrics_path = (fs::path(opt.out_dir) / cfg.logging.metrics_file).string();
  const std::string resolved = dump_resolved_yaml(cfg);
  int64_t start = 0;
  std::optional<std::pair<std::string, Checkpoint>> resumed;
  if (opt.resume.empty()) {
    std::vector<std::string> existing = list_checkpoints(opt.out_dir);
    SRA_CHECK(existing.empty(), "[rl] ", opt.out_dir, " already holds checkpoints (", existing.front(),
              "); resume with \"auto\" or a checkpoint path, or use another output directory");
  } else if (opt.resume == "auto") {
    resumed = load_newest_valid_checkpoint(opt.out_dir, log);
    if (!resumed) log << "no checkpoint in " << opt.out_dir << ": starting from step 0\n";
  } else {
    resumed.emplace(opt.resume, load_checkpoint(opt.resume));
  }
  if (resumed) {
    const auto& [path, ck] = *resumed;
    auto st = ck.meta.find("stage");
    SRA_CHECK(st != ck.meta.end() && st->second == "rl", "[rl] ", path, ": not an sra rl checkpoint");
    auto c2 = ck.meta.find("config");
    if (c2 != ck.meta.end() && c2->second != resolved)
      log << "warning: the config differs from the one saved in " << path << "\n";
    load_module(model, ck);
    load_module(ref, ck);
    load_into(ref_trainable, ck, "ref/");
    load_optimizer(optim, ck);
    start = ck.step;
    SRA_CHECK(start >= 0 && start <= rc.steps, "[rl] ", path, ": step ", start,
              " is outside [0, rl.steps = ", rc.steps, "]");
    log << "resumed from " << path << " at step " << start << "\n";
  }
  truncate_metrics(metrics_path, resumed ? start : -1);
  int64_t end = rc.steps;
  if (opt.max_steps >= 0) end = std::min(end, std::max(start, opt.max_steps));

  auto save = [&](int64_t step) {
    Checkpoint ck;
    ck.step = step;
    add_module(ck, model);
    add_optimizer(ck, optim);
    add_tensors(ck, ref_trainable, "ref/");
    ck.meta["config"] = resolved;
    ck.meta["code_version"] = kCodeVersion;
    ck.meta["tokenizer"] = tok.loaded() ? tok.path() : "";
    ck.meta["tokenizer_hash"] = tok.loaded() ? tok.hash() : "";
    ck.meta["stage"] = "rl";
    ck.meta["init_checkpoint"] = opt.init;
    const std::string path = checkpoint_path(opt.out_dir, step);
    save_checkpoint(ck, path);
    if (rc.keep_last > 0) keep_last(opt.out_dir, rc.keep_last);
    log << "saved " << path << "\n";
  };
  // Held-out evaluation of `m` (greedy, deterministic selection), written to out_dir/eval/step-N/.
  auto run_eval = [&](Transformer& m, int64_t step) {
    eval::EvalResult e = eval::evaluate(m, tok, *test, /*max_new_tokens=*/0, /*batch=*/8);
    e.label = "step " + std::to_string(step);
    e.checkpoint = step == 0 ? opt.init : checkpoint_path(opt.out_dir, step);
    e.step = step;
    eval::write_eval_result(e, (fs::path(opt.out_dir) / "eval" / step_dir(step)).string());
    log << eval_text(e) << std::flush;
    return e;
  };

  log << "rl: " << n_trained << " trained parameters (" << (rc.train_lm ? "router + LM" : "routers only")
      << ", " << n_sra << " SRA layers, tau " << fmt("%g", tau) << "), " << train.problems.size() << " "
      << rc.dataset << " train prompts (" << train.skipped << " of " << train.considered << " too long), "
      << (test ? test->problems.size() : 0) << " test problems; " << rc.prompts_per_step << " prompts x "
      << rc.group_size << " rollouts per step, steps " << start << " -> " << end << " of " << rc.steps
      << "\n";

  std::ofstream metrics(metrics_path, std::ios::app);
  SRA_CHECK(metrics.good(), "[rl] cannot write ", metrics_path);
  std::optional<eval::EvalResult> first_eval, last_eval;
  if (!resumed && test && start < end) {
    first_eval = run_eval(model, 0);
    Json line = Json::object({{"step", 0}});
    add_eval(line, *first_eval);
    metrics << line.dump() << "\n" << std::flush;
  }

  const Baseline baseline = baseline_from_name(rc.baseline);
  const bool expected_penalty = rc.penalty_gradient == "expected";
  const int64_t P = rc.prompts_per_step, G = rc.group_size, R = P * G;
  const uint64_t seed = uint64_t(rc.seed);
  int64_t last_saved = resumed ? start : -1;
  for (int64_t s = start; s < end; ++s) {
    const double t0 = now_s();
    const double lambda = lambda_at(s, rc.steps, rc.lambda, rc.lambda_final);
    const double warm = rc.warmup_steps > 0 ? std::min(1.0, double(s + 1) / double(rc.warmup_steps)) : 1.0;
    const double lr = cfg.optimizer.lr * warm;
    std::vector<const RlProblem*> problems;
    std::vector<std::vector<int64_t>> batch;
    for (int64_t k = 0; k < P; ++k) {
      problems.push_back(&train.problems[order.at(s * P + k)]);
      for (int64_t g = 0; g < G; ++g) batch.push_back(problems.back()->ids);
    }
    GenerateConfig gc;
    gc.max_new_tokens = rc.max_new_tokens;
    gc.eos_id = eval::end_of_text_id(tok);
    gc.stop_strings = format.stop_strings;
    gc.decode = [&tok](const std::vector<int64_t>& ids) { return eval::decode_answer(tok, ids); };
    gc.sampling.temperature = rc.sample_answers ? rc.temperature : 0.0;
    gc.sampling.seed = mix_key(mix_key(seed, 3), uint64_t(s));
    gc.select = sampling_policy(mix_key(mix_key(seed, 2), uint64_t(s)), n_sra);
    gc.select_stateless = true;  // keyed draws: one-pass prefill, sequences decoded together
    const std::vector<SequenceResult> rollouts = generate(model, batch, gc);
    const double t1 = now_s();

    std::vector<double> rewards(size_t(R), 0.0), adv_rewards(size_t(R), 0.0);
    double correct = 0, ratio = 0, formatted = 0, answer_tokens = 0;
    for (int64_t b = 0; b < R; ++b) {
      const SequenceResult& r = rollouts[size_t(b)];
      auto [sel, total] = decision_counts(r);
      const std::string output = eval::cut_at_stop(eval::decode_answer(tok, r.ids), format.stop_strings);
      RewardParts rp = score_rollout(rc.dataset, output, problems[size_t(b / G)]->gold, sel, total, lambda,
                                     rc.format_reward);
      rewards[size_t(b)] = rp.reward;
      // "expected": the penalty's gradient is taken exactly in the loss below, not through the advantage
      adv_rewards[size_t(b)] = expected_penalty ? rp.task_reward : rp.reward;
      correct += rp.correct;
      ratio += rp.selected_ratio;
      formatted += rp.formatted;
      answer_tokens += double(r.ids.size());
    }
    const std::vector<double> adv = group_advantages(adv_rewards, G, baseline, rc.adv_clip);

    ReplayOptions ro;
    ro.tau = tau;
    ro.answer_log_prob = rc.train_lm;
    ro.answer_temperature = rc.temperature;
    double kl_sum = 0, entropy_sum = 0, decisions = 0, loss_sum = 0;
    for (int64_t b = 0; b < R; ++b) {
      Replay rp = replay_rollout(model, &ref, rollouts[size_t(b)], ro);
      kl_sum += rp.kl.item();
      entropy_sum += rp.entropy.item();
      decisions += double(rp.decisions);
      const double penalty_weight = expected_penalty ? lambda / double(rp.decisions) : 0.0;
      Tensor loss = rollout_loss(rp.log_prob, adv[size_t(b)], rp.kl, rc.kl_weight, rp.entropy,
                                 rc.entropy_weight, rp.expected_selected, penalty_weight, 1.0 / double(R));
      if (loss.defined()) {
        loss_sum += loss.item();
        backward(loss);
      } else {
        tape_clear();
      }
    }
    auto [norm, scale] = clip_grad_norm(trainable, cfg.optimizer.grad_clip);
    optim.step(lr, scale);
    optim.zero_grad();
    const double t2 = now_s();

    double adv_mean = 0, adv_var = 0, reward_mean = 0;
    for (double a : adv) adv_mean += a / double(R);
    for (double a : adv) adv_var += (a - adv_mean) * (a - adv_mean) / double(R);
    for (double r : rewards) reward_mean += r / double(R);
    const int64_t step = s + 1;
    Json line = Json::object({{"step", step},
                              {"reward", reward_mean},
                              {"accuracy", correct / double(R)},
                              {"selected_ratio", ratio / double(R)},
                              {"adv_std", std::sqrt(adv_var)},
                              {"kl", kl_sum / decisions},
                              {"entropy", entropy_sum / decisions},
                              {"lambda", lambda},
                              {"lr", lr},
                              {"grad_norm", norm},
                              {"loss", loss_sum},
                              {"formatted", formatted / double(R)},
                              {"answer_tokens", answer_tokens / double(R)},
                              {"rollout_s", t1 - t0},
                              {"update_s", t2 - t1},
                              {"step_s", t2 - t0}});
    const bool log_now = (cfg.logging.log_every > 0 && step % cfg.logging.log_every == 0) || step == end;
    if (log_now) {
      log << "step " << step << "/" << rc.steps << "  reward " << fmt("%.4f", reward_mean) << "  acc "
          << fmt("%.3f", correct / double(R)) << "  selected " << fmt("%.4f", ratio / double(R))
          << "  adv_std " << fmt("%.4f", std::sqrt(adv_var)) << "  kl " << fmt("%.2e", kl_sum / decisions)
          << "  H " << fmt("%.4f", entropy_sum / decisions) << "  lambda " << fmt("%.3f", lambda) << "  |g| "
          << fmt("%.3g", norm) << "  " << fmt("%.1f", t2 - t0) << "s (rollouts " << fmt("%.1f", t1 - t0)
          << "s)\n"
          << std::flush;
    }
    if (test && (step % rc.eval_every == 0 || step == rc.steps)) {
      last_eval = run_eval(model, step);
      add_eval(line, *last_eval);
    }
    metrics << line.dump() << "\n" << std::flush;
    if ((rc.checkpoint_every > 0 && step % rc.checkpoint_every == 0) || step == end) {
      save(step);
      last_saved = step;
    }
  }
  if (last_saved != end) save(end);
  // The before/after table once the run is complete: the initial model is the reference policy (routers
  // only: the initial routers on the unchanged LM), so a resumed run re-evaluates it.
  if (test && end == rc.steps && last_eval && last_eval->step == end) {
    if (!first_eval) first_eval = run_eval(ref, 0);
    first_eval->label = "step 0 (init)";
    last_eval->label = "step " + std::to_string(end) + " (rl)";
    for (eval::EvalResult* r : {&*first_eval, &*last_eval}) {  // relative to the initial policy
      r->baseline_flops = first_eval->flops_per_query;
      r->baseline_attention_flops = first_eval->attention_flops_per_query;
      r->baseline_label = first_eval->label;
    }
    const std::string table = eval::markdown_table({*first_eval, *last_eval});
    std::ofstream((fs::path(opt.out_dir) / "eval_table.md").string()) << table;
    log << table;
  }
  log << "done: step " << end << " of " << rc.steps << "\n";
  return 0;
}

}  // namespace sra::rl
