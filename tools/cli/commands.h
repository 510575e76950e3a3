// Subcommand registry of the `sra` CLI. Each subcommand adds itself in register_commands() and runs
// in run_selected(), which maps errors to exit codes: 0 success, 2 usage or config error, 1 runtime
// failure (out of memory included: "error: out of memory in 'sra CMD' while ACTIVITY", run/activity.h);
// messages go to stderr starting "error:".
#pragma once
#include <CLI/CLI.hpp>
#include <functional>

namespace sra::cli {

void register_commands(CLI::App& app);
int run_selected(CLI::App& app);

// Registers a parsed subcommand's action (run_selected calls the one whose app was parsed). Subcommands
// living in their own file (tools/cli/<name>_cmd.cpp) call this from their add_<name>(app), which
// register_commands() calls.
void add_command(CLI::App* sub, std::function<int()> run);

// `sra eval --checkpoint/--compare` and `sra eval score` (tools/cli/eval_cmd.cpp).
void add_eval_commands(CLI::App& app);

// `sra tokenizer train`, `sra data prepare` (tools/cli/data_cmd.cpp).
void add_data_commands(CLI::App& app);

// `sra tokenizer encode` and `sra tokenizer decode` under `tk` (tools/cli/tokenizer_cmd.cpp).
void add_tokenizer_codec(CLI::App& tk);

// `sra rl` (tools/cli/rl_cmd.cpp).
void add_rl_command(CLI::App& app);

// `sra convert hf-to-sra | sra-to-hf`, `sra logits` (tools/cli/hf_cmd.cpp).
void add_hf_commands(CLI::App& app);

}  // namespace sra::cli
