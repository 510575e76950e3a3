// `sra rl`: REINFORCE tuning of the SRA routers from a supervised checkpoint (docs/sra.md, "RL"), so that
// they keep the tokens that decide the answer and drop the rest.
//
// Config: the model, router, data, schedule and train sections come from --init's checkpoint (its
//   resolved config); the RL YAML (plus --set overrides) supplies rl, optimizer and logging, and device
//   (where this run runs, whatever --init was trained on; default cpu) and precision (f32 only). Any other
//   key set there is an error "[config] FILE:LINE: KEY: sra rl takes ... from --init". Cross-checks:
//   rl.train_lm needs rl.sample_answers (a greedy answer is not a sample), rl.warmup_steps <= rl.steps;
//   the model must have SRA layers.
// Model and tokenizer: eval::load_eval_model(--init) (the tokenizer's hash checked against the
//   checkpoint's), once for the policy and once for the reference, loaded on the CPU and moved to the
//   device (run/config.h) before the optimizer is built: rollouts, replays, backward and AdamW run
//   there. Host reads per step: the decode steps' (model/generate.h), the replays' KL, entropy and loss
//   (one read after the last backward), the clipped gradient norm; rewards are computed on the host from
//   the decoded text.
// Policy τ = rl.router_temperature, or the checkpoint's router.temperature_final when 0; θ stays fixed.
// Trained parameters: the routers' (every parameter with a "router" name component; the rest get
//   requires_grad false and are not in the optimizer, so they stay bitwise unchanged), or all of them
//   with rl.train_lm: the routers then at optimizer.lr, the LM at rl.lm_lr (two AdamWs, the second's
//   state saved under "lm_optim/"; an LM step as large as a router's wrecks the LM in a step or two).
//   The reference policy π⁰ (KL term and metric) is the initial model.
//
// Step s = 0 .. rl.steps − 1 (logged and checkpointed as s + 1):
//   prompts   rl.prompts_per_step problems from the train pool (rl/rl_data.h: the eval harness's zero-shot
//             prompts; the first max(256, steps · prompts) synthetic train problems, or every GSM8K train
//             row, that fit), visited in epochs, each a Fisher–Yates order from Generator(mix(rl.seed, 1),
//             stream = epoch); slot k of step s takes position s · prompts + k: a function of the step.
//   rollouts  group_size copies of each prompt (sequence b = prompt · G + rollout) through generate()
//             with the Bernoulli sampling policy keyed by mix(mix(rl.seed, 2), s) (select_stateless) and
//             the answer sampler seeded mix(mix(rl.seed, 3), s) (greedy unless rl.sample_answers); stops
//             at the end-of-text id or a stop string of the prompt format (eval/prompts.h), answer text =
//             eval::decode_answer cut at the stop string.
//   reward    rl/reinforce.h with λ_s; advantages per group (rl.baseline, rl.adv_clip).
//   update    per rollout: replay (rl/policy.h), loss (1/R)(−A log π + β KL − η H), backward; then clip
//             at optimizer.grad_clip (one norm over every trained parameter), AdamW at lr = optimizer.lr ·
//             min(1, (s + 1)/warmup_steps) (the LM's, with train_lm, at rl.lm_lr times the same factor).
//   time      with rl.time_limit_s = L > 0, λ_s follows the seconds since this process's first step over L
//             (clamped to 1) instead of s / (steps − 1), and the run ends after the first step that finds
//             L seconds gone (rl.steps is then a cap): that step is evaluated, checkpointed and gets the
//             before/after table as if it were rl.steps. Not bitwise reproducible (the clock decides).
//   metrics   one JSON line per step in out_dir/<logging.metrics_file>: {"step", "reward", "accuracy",
//             "selected_ratio", "adv_std", "kl", "entropy" (both per decision), "lambda", "lr", "lm_lr"
//             (0 without train_lm), "grad_norm", "loss", "formatted", "answer_tokens", "rollout_s",
//             "update_s", "step_s"}; a plain line every logging.log_every steps.
//   eval      with rl.eval_every > 0: before the first step (fresh starts; a line {"step": 0, ...}),
//             every eval_every steps and at step rl.steps, eval::evaluate on the first rl.eval_problems
//             test problems — what `sra eval --dataset D --limit N` does: greedy, batch 8, the harness's
//             default answer length, deterministic selection z = 1[s > θ] — adds "eval_accuracy",
//             "eval_selected_ratio", "eval_answer_tokens", "eval_flops_per_query", "eval_n" to that
//             step's line and writes out_dir/eval/step-<8 digits>/ (summary.md, summary.json,
//             samples.jsonl). When the run reaches rl.steps, out_dir/eval_table.md holds the before/after
//             table (eval::markdown_table; a resumed run re-evaluates the initial model for it).
// Checkpoints: checkpoint_path(out_dir, step) every rl.checkpoint_every steps and at the end of the run,
//   then keep_last(rl.keep_last): "model/" (load_model, sra generate read it), "optim/", "ref/" (the
//   initial values of the trained parameters), meta config (the resolved merged config), code_version,
//   tokenizer, tokenizer_hash (and the embedded tokenizer, add_tokenizer in run/model_io.h), stage = "rl",
//   init_checkpoint.
// Resume ("auto" or a path) restores model, optimizer, reference and step; every random draw is keyed
//   by (rl.seed, step), so N steps + resume + N steps is bitwise equal to 2N steps. The metrics file keeps
//   its lines with step <= the resumed step. Where a run starts is checkpoint_to_resume's (run/checkpoint.h):
//   a plain start refuses an out_dir that holds a run, --fresh moves that run aside, corrupt checkpoints
//   are renamed *.corrupt.
#pragma once
#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace sra::rl {

struct RlOptions {
  std::string config;                  // the RL YAML (required)
  std::string init;                    // the supervised checkpoint (required)
  std::vector<std::string> overrides;  // "a.b=c", applied after the file
  std::string out_dir;                 // required
  std::string resume;                  // "", "auto" or a checkpoint path
  std::string data_dir;                // --data-dir (GSM8K)
  int64_t max_steps = -1;              // >= 0: stop after this step
  bool fresh = false;                  // start from step 0 even though out_dir holds a run (moved aside)
};

// Runs (or continues) RL; returns 0, or kInterruptedExit (130, run/interrupt.h) after SIGINT / SIGTERM
// (the step in progress finishes and is saved; a second signal exits at once). Errors: sra::Error "[rl] ...",
// "[config] ...", "[checkpoint] ...".
int run_rl(const RlOptions& opt, std::ostream& log);

}  // namespace sra::rl
