// `sra rl`: REINFORCE tuning of the SRA routers from a supervised checkpoint (rl/rl_trainer.h).
#include <iostream>
#include <memory>

#include "rl/rl_trainer.h"
#include "tools/cli/commands.h"
#include "tools/cli/launch_option.h"
#include "tools/cli/log_split.h"
#include "tools/cli/validators.h"

namespace sra::cli {

void add_rl_command(CLI::App& app) {
  auto opt = std::make_shared<rl::RlOptions>();
  CLI::App* c = app.add_subcommand(
      "rl", "Tune the SRA routers with REINFORCE (reward = correct answer - lambda * selected ratio)");
  c->footer(
      "Example: sra rl --config configs/rl-synthetic.yaml --init runs/sup/ckpt-00002000.h5 --out runs/rl\n"
      "         sra rl --config configs/rl-synthetic.yaml --init runs/sup/ckpt-00002000.h5 --out runs/rl "
      "--resume auto\n"
      "Ctrl-C (or SIGTERM) finishes the current step, saves a checkpoint and exits 130; a second one exits "
      "at "
      "once.");
  c->add_option("--config", opt->config, "RL config: rl, optimizer and logging sections (configs/rl-*.yaml)")
      ->required();
  c->add_option("--init", opt->init, "Supervised checkpoint (sra train): model, router, data sections")
      ->required();
  c->add_option("--out", opt->out_dir, "Run directory: config.yaml, metrics.jsonl, checkpoints")->required();
  c->add_option("--set", opt->overrides, "Override a key of the RL config: a.b=c (repeatable)");
  auto* resume =
      c->add_option("--resume", opt->resume, "auto (newest valid checkpoint in --out) or a checkpoint path");
  c->add_flag("--fresh", opt->fresh,
              "Start from step 0 although --out holds a run (moved to --out/previous-N)")
      ->excludes(resume);
  c->add_option("--data-dir", opt->data_dir, "Data directory (default: $SRA_DATA_DIR, else ../shared/data)");
  c->add_option("--max-steps", opt->max_steps,
                "Stop after this step (the lambda schedule still spans rl.steps)")
      ->check(integer_at_least(0));
  auto nproc = add_nproc_option(c);
  add_command(c, launched(nproc, [opt]() {
                WarningSplitStream log(std::cout, std::cerr);  // warning lines to stderr
                return rl::run_rl(*opt, log);
              }));
}

}  // namespace sra::cli
