// The `sra` command line: parses with CLI11, then calls into the library. Subcommands register here.
#include <CLI/CLI.hpp>

#include <iostream>

#include "tools/cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"SRA — Sparse Reasoning Attention training framework"};
  app.require_subcommand(1);
  sra::cli::register_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  return sra::cli::run_selected(app);
}
