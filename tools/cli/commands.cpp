#include "tools/cli/commands.h"

#include <functional>
#include <iostream>
#include <vector>

#include "core/check.h"

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
}  // namespace

void register_commands(CLI::App& app) {
  (void)app;
}

int run_selected(CLI::App& app) {
  for (Command& c : commands()) {
    if (!c.app->parsed()) continue;
    try {
      return c.run();
    } catch (const sra::Error& e) {
      std::cerr << "error: " << e.what() << "\n";
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
