// `sra eval`: model-based evaluation of checkpoints (eval/evaluate.h) — `sra eval --checkpoint C ...` or
// `sra eval --compare C1 C2 ...` — and the model-free `sra eval score` subcommand (eval/score.h).
// Usage errors (missing --checkpoint/--compare or --dataset, bad values) exit 2; a missing checkpoint,
// a tokenizer hash mismatch or unreadable data exit 1 (main.cpp / run_selected).
#include <iostream>
#include <memory>

#include "core/dist/launch.h"
#include "eval/evaluate.h"
#include "eval/score.h"
#include "tools/cli/commands.h"
#include "tools/cli/launch_option.h"
#include "tools/cli/validators.h"

namespace sra::cli {

void add_eval_commands(CLI::App& app) {
  auto opt = std::make_shared<eval::EvalRunOptions>();
  CLI::App* ev = app.add_subcommand("eval",
                                    "Evaluate checkpoints on GSM8K / MATH / MATH-500 / synthetic (accuracy, "
                                    "selected ratio, FLOPs, latency)");
  ev->require_subcommand(0, 1);
  ev->footer(
      "Examples: sra eval --checkpoint runs/tiny/ckpt-00000300.h5 --dataset synthetic --limit 100 --out "
      "runs/tiny/eval\n"
      "          sra eval --checkpoint runs/x/ckpt-00001000.h5 --dataset gsm8k --shots 5 --cot --limit 50\n"
      "          sra eval --compare dense.h5 dense.h5 sra.h5 --modes direct,cot,cot --labels "
      "Standard,CoT,SRA "
      "--dataset gsm8k --shots 5\n"
      "          sra eval --compare sra.h5 sra.h5 rl.h5 --threshold-offset 0,0.5,0 --dataset synthetic\n"
      "          sra eval --compare sra.h5 rl.h5 sra.h5 --labels SRA,RL,Shift --match-ratio RL:Shift "
      "--dataset synthetic\n"
      "          sra eval --checkpoint runs/x/ckpt-00001000.h5 --dataset gsm8k --device cuda --batch 64\n"
      "          sra eval score --dataset gsm8k --predictions preds.jsonl");
  auto* ck = ev->add_option("--checkpoint", opt->checkpoint, "A checkpoint written by sra train");
  auto* cmp =
      ev->add_option("--compare", opt->compare, "Several checkpoints: one table row each (same problems)");
  ck->excludes(cmp);
  ev->add_option("--dataset", opt->eval.dataset, "gsm8k, math, math500 or synthetic")
      ->check(CLI::IsMember({"gsm8k", "math", "math500", "synthetic"}));
  ev->add_option("--limit", opt->eval.limit, "Evaluate problems 0..N-1 (default: all; synthetic: 500)")
      ->check(integer_at_least(1));
  ev->add_option("--shots", opt->eval.shots, "Few-shot exemplars (0: zero-shot, the training format)")
      ->capture_default_str()
      ->check(integer_at_least(0));
  auto direct = std::make_shared<bool>(false), cot = std::make_shared<bool>(false);
  auto* direct_flag = ev->add_flag("--direct", *direct, "Few-shot exemplars give the answer only");
  auto* cot_flag = ev->add_flag("--cot", *cot, "Few-shot exemplars show the reasoning (default)");
  direct_flag->excludes(cot_flag);
  ev->add_option("--max-new-tokens", opt->eval.max_new_tokens,
                 "Answer length limit (default: gsm8k 256, math 512, synthetic from the references)")
      ->check(integer_at_least(1));
  ev->add_option("--batch", opt->eval.batch, "Prompts decoded together")
      ->capture_default_str()
      ->check(integer_at_least(1));
  ev->add_option("--device", opt->device, "Where the models run: cpu, cuda or cuda:N")->capture_default_str();
  ev->add_option("--out", opt->out_dir, "Write samples.jsonl, summary.json and summary.md here");
  ev->add_option("--data-dir", opt->eval.data_dir,
                 "Data directory (default: $SRA_DATA_DIR, else ../shared/data)");
  ev->add_option("--baseline", opt->baseline, "FLOPs relative to this checkpoint's, on the same problems");
  ev->add_option("--labels", opt->labels, "Row labels, comma-separated (--compare)")->delimiter(',');
  ev->add_option("--modes", opt->modes, "Per-checkpoint cot or direct, comma-separated (--compare)")
      ->delimiter(',');
  ev->add_option(
        "--threshold-offset", opt->threshold_offsets,
        "Add D to every SRA router's threshold (fewer critical tokens when D > 0): one value, or one "
        "per checkpoint, comma-separated (--compare)")
      ->delimiter(',')
      ->check(finite_number());
  ev->add_option("--match-ratio", opt->match_ratio,
                 "ROW:SHIFTED (labels or 1-based row numbers, --compare): set SHIFTED's threshold offset by "
                 "bisection so that its selected ratio equals ROW's on the calibration problems");
  ev->add_option("--calibration-problems", opt->calibration_problems,
                 "--match-ratio: problems of another split (synthetic val, else train) to calibrate on")
      ->capture_default_str()
      ->check(integer_at_least(1));

  auto sopt = std::make_shared<eval::EvalScoreOptions>();
  CLI::App* sc = ev->add_subcommand("score", "Score given model outputs (no model needed)");
  sc->footer(
      "Example: sra eval score --dataset gsm8k --predictions preds.jsonl --out runs/score\n"
      "         sra eval score --dataset math500 --references");
  sc->add_option("--dataset", sopt->dataset, "gsm8k, math or math500")
      ->required()
      ->check(CLI::IsMember({"gsm8k", "math", "math500"}));
  auto* preds =
      sc->add_option("--predictions", sopt->predictions, "JSONL lines {\"index\": i, \"output\": \"...\"}");
  auto* refs = sc->add_flag("--references", sopt->references, "Score the dataset's reference solutions");
  preds->excludes(refs);
  sc->add_option("--out", sopt->out_dir, "Write summary.json and samples.jsonl here");
  sc->add_option("--data-dir", sopt->data_dir,
                 "Data directory (default: $SRA_DATA_DIR, else ../shared/data)");

  auto nproc = add_nproc_option(ev);
  ev->add_option("--dist-timeout", opt->dist_timeout_s,
                 "Seconds a rank waits for the others (several ranks; docs/distributed.md)")
      ->capture_default_str()
      ->check(number_above(0));
  add_command(ev, [opt, sopt, sc, direct, nproc]() {
    if (sc->parsed()) {
      if (sopt->predictions.empty() && !sopt->references)
        throw CLI::RequiredError("--predictions or --references");
      return eval::run_eval_score(*sopt, std::cout);
    }
    if (opt->checkpoint.empty() && opt->compare.empty())
      throw CLI::RequiredError("--checkpoint or --compare");
    if (opt->eval.dataset.empty()) throw CLI::RequiredError("--dataset");
    opt->eval.cot = !*direct;
    if (*nproc > 0) return dist::launch_local(*nproc, std::cerr);
    eval::run_eval(*opt, std::cout, std::cerr);
    return 0;
  });
}

}  // namespace sra::cli
