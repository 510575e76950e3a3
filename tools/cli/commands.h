// Subcommand registry of the `sra` CLI. Each subcommand adds itself in register_commands() and runs
// in run_selected(), which maps errors to exit codes: 0 success, 2 usage or config error, 1 runtime
// failure; messages go to stderr starting "error:".
#pragma once
#include <CLI/CLI.hpp>

namespace sra::cli {

void register_commands(CLI::App& app);
int run_selected(CLI::App& app);

}  // namespace sra::cli
