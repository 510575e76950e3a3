// The `sra` command line: parses with CLI11, then calls into the library. Subcommands register in
// tools/cli/commands.cpp. Exit codes: 0 success, 2 usage or config error, 1 runtime failure.
#include <CLI/CLI.hpp>

#include <iostream>

#include "tools/cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"SRA — Sparse Reasoning Attention training framework"};
  app.require_subcommand(1);
  sra::cli::register_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "error: " << e.what() << "\nRun with --help for more information.\n";
    return 2;
  }
  return sra::cli::run_selected(app);
}
