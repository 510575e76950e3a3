#include "tools/cli/commands.h"

#include <unistd.h>

#include <functional>
#include <iostream>
#include <memory>
#include <new>
#include <vector>

#include "core/check.h"
#include "data/data_dir.h"
#include "run/activity.h"
#include "tools/cli/bench.h"
#include "tools/cli/demo.h"
#include "tools/cli/generate_run.h"
#include "tools/cli/launch_option.h"
#include "tools/cli/log_split.h"
#include "tools/cli/train_validation.h"
#include "tools/cli/validators.h"
#include "train/trainer.h"

namespace sra::cli {

namespace {
struct Command {
  CLI::App* app;
  std::function<int()> run;
};
std::vector<Command>& commands() {
  static std::vector<Command> c;
  return c;
}

void add_demo(CLI::App& app) {
  auto opt = std::make_shared<TextDemoOptions>();
  auto data_dir = std::make_shared<std::string>();
  auto text = std::make_shared<std::string>();
  CLI::App* c =
      app.add_subcommand("demo", "Train a small model on CPU on tinyshakespeare bytes, printing the loss");
  c->footer("Example: sra demo --seconds 60 --data-dir ../shared/data");
  c->add_option("--seconds", opt->seconds, "Wall-clock training budget")
      ->capture_default_str()
      ->check(number_above(0));
  c->add_option("--data-dir", *data_dir, "Data directory (default: $SRA_DATA_DIR, else ../shared/data)");
  c->add_option("--text", *text, "Train on this text file instead of tinyshakespeare/input.txt");
  c->add_option("--batch", opt->batch, "Sequences per step")
      ->capture_default_str()
      ->check(integer_at_least(1));
  c->add_option("--seq-len", opt->seq_len, "Tokens per sequence")
      ->capture_default_str()
      ->check(integer_in(2, 4096));
  c->add_option("--lr", opt->lr, "Peak learning rate")->capture_default_str()->check(number_above(0));
  c->add_option("--seed", opt->seed, "Seed for weights and batches")->capture_default_str();
  // the demo's model, set before the options so that --help shows these defaults
  opt->model.d_model = 128;
  opt->model.n_layers = 4;
  opt->model.n_heads = opt->model.n_kv_heads = 4;
  opt->model.attention = "sra";  // layers 1 and 2 sparse; the first and last stay dense
  opt->model.window = 32;
  opt->model.router.threshold_lr = 0.5;  // track the target ratio closely in a short run
  c->add_option("--d-model", opt->model.d_model, "Model width (a multiple of the 4 heads)")
      ->capture_default_str()
      ->check(integer_at_least(1));
  c->add_option("--layers", opt->model.n_layers, "Decoder layers")
      ->capture_default_str()
      ->check(integer_at_least(1));
  c->add_option("--attention", opt->model.attention, "dense or sra")
      ->capture_default_str()
      ->check(CLI::IsMember({"dense", "sra"}));
  c->add_option("--window", opt->model.window, "SRA local window")
      ->capture_default_str()
      ->check(integer_at_least(1));
  commands().push_back(
      {c, [opt, data_dir, text]() {
         if (opt->model.d_model % opt->model.n_heads != 0)
           throw CLI::ValidationError("--d-model", "must be a multiple of the " +
                                                       std::to_string(opt->model.n_heads) + " heads, got " +
                                                       std::to_string(opt->model.d_model));
         opt->model.d_ff = opt->model.d_model * 8 / 3 / 8 * 8;
         opt->text_path = text->empty() ? resolve_data_dir(*data_dir) + "/tinyshakespeare/input.txt" : *text;
         run_text_demo(*opt, std::cout);
         return 0;
       }});
}

void add_bench(CLI::App& app) {
  CLI::App* bench = app.add_subcommand("bench", "Benchmarks");
  bench->require_subcommand(1);
  auto opt = std::make_shared<BenchCpuOptions>();
  CLI::App* c = bench->add_subcommand("cpu", "sgemm GFLOP/s vs a tiny transformer training step, same run");
  c->footer("Example: sra bench cpu --steps 10");
  c->add_option("--d-model", opt->d_model)->capture_default_str()->check(integer_at_least(1));
  c->add_option("--layers", opt->n_layers)->capture_default_str()->check(integer_at_least(1));
  c->add_option("--heads", opt->n_heads)->capture_default_str()->check(integer_at_least(1));
  c->add_option("--d-ff", opt->d_ff)->capture_default_str()->check(integer_at_least(1));
  c->add_option("--seq-len", opt->seq_len)->capture_default_str()->check(integer_at_least(1));
  c->add_option("--batch", opt->batch)->capture_default_str()->check(integer_at_least(1));
  c->add_option("--vocab", opt->vocab)->capture_default_str()->check(integer_at_least(1));
  c->add_option("--steps", opt->steps, "Timed training steps")
      ->capture_default_str()
      ->check(integer_at_least(1));
  c->add_option("--threads", opt->threads, "0 = all cores")
      ->capture_default_str()
      ->check(integer_at_least(0));
  commands().push_back({c, [opt]() { return run_bench_cpu(*opt, std::cout); }});

  auto aopt = std::make_shared<BenchAttentionOptions>();
  CLI::App* a = bench->add_subcommand("attention", "Dense causal vs SRA sparse attention on CPU, same run");
  a->footer("Example: sra bench attention --seq-len 4096 --window 256 --ratio 0.1");
  a->add_option("--batch", aopt->batch)->capture_default_str()->check(integer_at_least(1));
  a->add_option("--heads", aopt->heads)->capture_default_str()->check(integer_at_least(1));
  a->add_option("--seq-len", aopt->seq_len)->capture_default_str()->check(integer_at_least(1));
  a->add_option("--head-dim", aopt->head_dim)->capture_default_str()->check(integer_at_least(1));
  a->add_option("--window", aopt->window)->capture_default_str()->check(integer_at_least(1));
  a->add_option("--sinks", aopt->sinks)->capture_default_str()->check(integer_at_least(0));
  a->add_option("--ratio", aopt->ratio, "Fraction of critical tokens")
      ->capture_default_str()
      ->check(number_in(0, 1));
  a->add_option("--reps", aopt->reps)->capture_default_str()->check(integer_at_least(1));
  a->add_option("--threads", aopt->threads, "0 = all cores")
      ->capture_default_str()
      ->check(integer_at_least(0));
  a->add_flag("--json", aopt->json, "One JSON line per length (forward + backward, medians; any device)");
  a->add_option("--device", aopt->device, "With --json: cpu, cuda or cuda:N")->capture_default_str();
  a->add_option("--seqs", aopt->seqs, "With --json: lengths, comma-separated (default: --seq-len)")
      ->delimiter(',')
      ->check(integer_at_least(1));
  a->add_option("--precision", aopt->precision,
                "With --json: f32 or bf16 (autocast: the bf16 tensor-core kernels; default bf16 on CUDA, f32 "
                "on the CPU)")
      ->check(CLI::IsMember({"f32", "bf16"}));
  commands().push_back({a, [aopt]() {
                          return aopt->json ? run_bench_attention_json(*aopt, std::cout)
                                            : run_bench_attention(*aopt, std::cout);
                        }});

  auto dopt = std::make_shared<BenchDecodeOptions>();
  CLI::App* dc = bench->add_subcommand(
      "decode",
      "Greedy decoding tokens/s and KV-cache bytes with a filled context, dense vs SRA (JSON lines)");
  dc->footer(
      "Example: sra bench decode --device cuda --contexts 16384,65536\n"
      "Defaults: the model and call of ../shared/bench/torch_reference.py decode (d 768, 12 layers, 12 "
      "heads,\n"
      "vocab 32768, batch 8, 64 new tokens).");
  dc->add_option("--device", dopt->device, "cpu, cuda or cuda:N")->capture_default_str();
  dc->add_option("--contexts", dopt->contexts, "Context lengths, comma-separated (default 16384)")
      ->delimiter(',')
      ->check(integer_at_least(1));
  dc->add_option("--attention", dopt->attention, "dense and/or sra, comma-separated")
      ->delimiter(',')
      ->capture_default_str();
  dc->add_option("--batch", dopt->batch)->capture_default_str()->check(integer_at_least(1));
  dc->add_option("--warmup", dopt->warmup, "Untimed decode steps first")
      ->capture_default_str()
      ->check(integer_at_least(0));
  dc->add_option("--new", dopt->new_tokens, "Timed decode steps")
      ->capture_default_str()
      ->check(integer_at_least(1));
  dc->add_option("--d-model", dopt->d_model)->capture_default_str()->check(integer_at_least(1));
  dc->add_option("--layers", dopt->n_layers)->capture_default_str()->check(integer_at_least(1));
  dc->add_option("--heads", dopt->n_heads)->capture_default_str()->check(integer_at_least(1));
  dc->add_option("--d-ff", dopt->d_ff)->capture_default_str()->check(integer_at_least(1));
  dc->add_option("--vocab", dopt->vocab)->capture_default_str()->check(integer_at_least(2));
  dc->add_option("--ratio", dopt->ratio, "Fraction of the context marked critical (SRA)")
      ->capture_default_str()
      ->check(number_in(0, 1));
  dc->add_option("--window", dopt->window)->capture_default_str()->check(integer_at_least(1));
  dc->add_option("--sinks", dopt->sinks)->capture_default_str()->check(integer_at_least(0));
  commands().push_back({dc, [dopt]() { return run_bench_decode(*dopt, std::cout); }});

  auto topt = std::make_shared<BenchTrainOptions>();
  CLI::App* t = bench->add_subcommand(
      "train", "Training-step tokens/s, MFU and peak memory of a dense Llama-style model (one JSON line)");
  t->footer(
      "Example: sra bench train --device cuda --precision bf16\n"
      "Defaults: the dimensions of ../shared/bench/torch_reference.py train (d 768, 12 layers, 12 heads,\n"
      "seq 1024, batch 16, vocab 32768, d_ff 2048, untied head).");
  t->add_option("--device", topt->device, "cpu, cuda or cuda:N")
      ->capture_default_str()
      ->check(CLI::Validator(
          [](std::string& s) {
            try {
              Device::parse(s);
              return std::string();
            } catch (const Error&) {
              return "must be cpu, cuda or cuda:N, got '" + s + "'";
            }
          },
          "DEVICE"));
  t->add_option("--precision", topt->precision,
                "f32, or bf16 (autocast: bf16 GEMM operands, fp32 accumulation)")
      ->capture_default_str()
      ->check(CLI::IsMember({"f32", "bf16"}));
  t->add_option("--d-model", topt->d_model)->capture_default_str()->check(integer_at_least(1));
  t->add_option("--layers", topt->n_layers)->capture_default_str()->check(integer_at_least(1));
  t->add_option("--heads", topt->n_heads)->capture_default_str()->check(integer_at_least(1));
  t->add_option("--d-ff", topt->d_ff)->capture_default_str()->check(integer_at_least(1));
  t->add_option("--seq-len", topt->seq_len)->capture_default_str()->check(integer_at_least(1));
  t->add_option("--batch", topt->batch)->capture_default_str()->check(integer_at_least(1));
  t->add_option("--vocab", topt->vocab)->capture_default_str()->check(integer_at_least(1));
  t->add_option("--steps", topt->steps, "Timed steps (the median is reported)")
      ->capture_default_str()
      ->check(integer_at_least(1));
  t->add_option("--warmup", topt->warmup, "Untimed steps first")
      ->capture_default_str()
      ->check(integer_at_least(0));
  t->add_option("--attention", topt->attention, "dense, or sra (every layer but the first and last sparse)")
      ->capture_default_str()
      ->check(CLI::IsMember({"dense", "sra"}));
  t->add_option("--window", topt->window, "SRA window")->capture_default_str()->check(integer_at_least(1));
  t->add_option("--sinks", topt->sinks, "SRA sinks")->capture_default_str()->check(integer_at_least(0));
  t->add_option("--ratio", topt->ratio, "SRA routers' target ratio")
      ->capture_default_str()
      ->check(number_in(0, 1));
  t->add_option("--loss", topt->loss,
                "fused (the head and cross-entropy in row chunks, no full logits) or unfused (head, then "
                "cross_entropy)")
      ->capture_default_str()
      ->check(CLI::IsMember({"fused", "unfused"}));
  t->add_option("--backend", topt->backend,
                "Under --nproc-per-node or a launcher: auto, tcp or nccl; mpi under mpirun")
      ->check(CLI::IsMember({"auto", "tcp", "nccl", "mpi"}));
  auto nproc = add_nproc_option(t);
  commands().push_back({t, launched(nproc, [topt]() { return run_bench_train(*topt, std::cout); })});
}

void add_train(CLI::App& app) {
  auto opt = std::make_shared<TrainOptions>();
  CLI::App* c = app.add_subcommand("train", "Train a model from a YAML run config");
  c->footer(
      "Example: sra train --config configs/tiny-cpu.yaml --set train.steps=200 --out runs/tiny\n"
      "         sra train --config configs/tiny-cpu.yaml --out runs/tiny --resume auto\n"
      "Ctrl-C (or SIGTERM) finishes the current step, saves a checkpoint and exits 130; a second one exits "
      "at "
      "once.");
  c->add_option("--config", opt->config, "Run config (see configs/reference.yaml)")->required();
  c->add_option("--set", opt->overrides, "Override a config key: a.b=c (repeatable)");
  c->add_option("--out", opt->out_dir, "Run directory: config.yaml, metrics.jsonl, checkpoints")->required();
  auto* resume =
      c->add_option("--resume", opt->resume, "auto (newest valid checkpoint in --out) or a checkpoint path");
  c->add_flag("--fresh", opt->fresh,
              "Start from step 0 although --out holds a run (moved to --out/previous-N)")
      ->excludes(resume);
  c->add_option("--data-dir", opt->data_dir, "Data directory (default: $SRA_DATA_DIR, else ../shared/data)");
  c->add_option("--max-steps", opt->max_steps, "Stop after this step (the schedule still spans train.steps)")
      ->check(integer_at_least(0));
  auto nproc = add_nproc_option(c);
  commands().push_back({c, launched(nproc, [opt]() {
                          opt->terminal = ::isatty(1);
                          opt->task_validator = synthetic_task_validator;
                          WarningSplitStream log(std::cout, std::cerr);
                          return run_train(*opt, log);
                        })});
}

void add_generate(CLI::App& app) {
  auto opt = std::make_shared<GenerateRunOptions>();
  auto colour = std::make_shared<std::string>("auto");
  CLI::App* c = app.add_subcommand("generate", "Generate from a checkpoint (or a freshly initialised model)");
  c->footer(
      "Examples: sra generate --checkpoint runs/x/ckpt-00001000.h5 --prompt \"Let x = 3.\" --show-selection\n"
      "          sra generate --config configs/tiny-cpu.yaml --prompt \"ROMEO:\" --show-selection --html "
      "sel.html");
  auto* ck = c->add_option("--checkpoint", opt->checkpoint, "A checkpoint written by sra train");
  auto* cf =
      c->add_option("--config", opt->config, "A run config: generate from a randomly initialised model");
  ck->excludes(cf);
  c->add_option("--set", opt->overrides, "Override a config key (with --config): a.b=c");
  c->add_option("--prompt", opt->prompt, "The prompt text")->required()->check(non_empty());
  c->add_option("--max-new-tokens", opt->gen.max_new_tokens)
      ->capture_default_str()
      ->check(integer_at_least(1));
  c->add_option("--temperature", opt->gen.sampling.temperature, "0 = greedy")
      ->capture_default_str()
      ->check(number_at_least(0));
  c->add_option("--top-k", opt->gen.sampling.top_k, "0 = off")
      ->capture_default_str()
      ->check(integer_at_least(0));
  c->add_option("--top-p", opt->gen.sampling.top_p, "1 = off")
      ->capture_default_str()
      ->check(number_in(0, 1, /*lo_open=*/true));
  c->add_option("--seed", opt->gen.sampling.seed)->capture_default_str();
  c->add_option("--stop", opt->gen.stop_strings, "Stop when the answer contains this string");
  c->add_flag("--show-selection", opt->show_selection, "Print the text with critical tokens highlighted");
  c->add_option("--color", *colour, "Highlight with colour: auto (on a terminal), always, never")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "always", "never"}));
  c->add_option("--html", opt->html, "Write the selection as an HTML page");
  c->add_option(
      "--device", opt->device,
      "Where the model runs: cpu, cuda or cuda:N (default: the --config's device; a checkpoint: cpu)");
  commands().push_back({c, [opt, colour]() {
                          if (opt->checkpoint.empty() && opt->config.empty())
                            throw CLI::RequiredError("--checkpoint or --config");
                          opt->colour = *colour == "always" || (*colour == "auto" && ::isatty(1));
                          opt->stream = ::isatty(1);
                          return run_generate(*opt, std::cout, std::cerr);
                        }});
}

}  // namespace

void add_command(CLI::App* sub, std::function<int()> run) {
  commands().push_back({sub, std::move(run)});
}

void register_commands(CLI::App& app) {
  add_demo(app);
  add_bench(app);
  add_train(app);
  add_generate(app);
  add_eval_commands(app);
  add_data_commands(app);
  add_rl_command(app);
  add_hf_commands(app);
}

int run_selected(CLI::App& app) {
  for (Command& c : commands()) {
    if (!c.app->parsed()) continue;
    try {
      return c.run();
    } catch (const CLI::Error& e) {
      std::cerr << "error: " << e.what() << "\n";
      return 2;
    } catch (const sra::Error& e) {
      std::cerr << "error: " << e.what() << "\n";
      return std::string(e.what()).rfind("[config]", 0) == 0 ? 2 : 1;  // config errors are usage errors
    } catch (const std::bad_alloc&) {
      std::string path;
      for (const CLI::App* a = c.app; a->get_parent() != nullptr; a = a->get_parent())
        path = a->get_name() + (path.empty() ? "" : " " + path);
      std::string what = failed_activity();
      std::cerr << "error: out of memory in 'sra " << path << "' while "
                << (what.empty() ? std::string("running it") : what) << "\n";
      return 1;
    } catch (const std::exception& e) {
      std::cerr << "error: " << e.what() << "\n";
      return 1;
    }
  }
  std::cerr << "error: no subcommand given; see sra --help\n";
  return 2;
}

}  // namespace sra::cli
