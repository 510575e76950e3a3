// The `sra` command line: parses with CLI11, then calls into the library. Subcommands register in
// tools/cli/commands.cpp. Exit codes: 0 success, 2 usage or config error, 1 runtime failure.
// At start: stdout is line-buffered (a log file or pipe shows progress as it happens) and
// sentencepiece's LOG(INFO) lines are silenced (warnings and errors still print). An unknown command
// word ("sra trian") is named, with the closest command when one is near. Out of memory anywhere is
// "error: out of memory in 'sra CMD' while ACTIVITY" (run/activity.h; caught in run_selected, which
// knows the command), exit 1.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <new>
#include <optional>

#include "run/activity.h"
#include "run/config.h"
#include "tools/cli/commands.h"

// Exported by libsentencepiece (src/common.h) but not declared in its installed headers.
namespace sentencepiece::logging {
void SetMinLogLevel(int v);
}

namespace {

// The word right after a command that has subcommands (and no positional arguments) must name one of
// them (CLI11 says only "A subcommand is required", or "argument was not expected"): the message for the
// first word that does not, or for a missing required one.
std::optional<std::string> command_word_error(CLI::App& root, int argc, char** argv) {
  CLI::App* app = &root;
  std::string path = "sra";
  for (int i = 1;; ++i) {
    std::vector<std::string> names;
    for (CLI::App* s : app->get_subcommands([](CLI::App*) { return true; })) names.push_back(s->get_name());
    if (names.empty() || !app->get_options([](const CLI::Option* o) { return o->get_positional(); }).empty())
      return std::nullopt;
    std::string list;
    for (const std::string& n : names) list += (list.empty() ? "" : ", ") + n;
    const bool required = app->get_require_subcommand_min() > 0;
    if (i >= argc)
      return required ? std::optional<std::string>("'" + path + "' needs a command: " + list) : std::nullopt;
    const std::string word = argv[i];
    if (!word.empty() && word[0] == '-') return std::nullopt;  // --help, or an option: CLI11's message
    CLI::App* next = nullptr;
    for (CLI::App* s : app->get_subcommands([](CLI::App*) { return true; }))
      if (s->check_name(word)) next = s;
    if (next == nullptr) {
      std::string best;  // the closest name within 2 edits, else one the word starts
      size_t best_d = 3;
      for (const std::string& n : names) {
        size_t d = sra::levenshtein(word, n);
        if (d < best_d) best = n, best_d = d;
      }
      for (const std::string& n : names)
        if (best.empty() && word.size() >= 2 && n.rfind(word, 0) == 0) best = n;
      return "unknown command '" + word + "' for '" + path + "'" +
             (best.empty() ? "" : "; did you mean '" + best + "'?") + " (commands: " + list + ")";
    }
    app = next;
    path += " " + word;
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  sentencepiece::logging::SetMinLogLevel(1);
  CLI::App app{"SRA — Sparse Reasoning Attention training framework"};
  app.require_subcommand(1);
  sra::cli::register_commands(app);
  if (auto err = command_word_error(app, argc, argv)) {
    std::cerr << "error: " << *err << "\nRun with --help for more information.\n";
    return 2;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "error: " << e.what() << "\nRun with --help for more information.\n";
    return 2;
  } catch (const std::bad_alloc&) {
    std::cerr << "error: out of memory while parsing the command line\n";
    return 1;
  }
  return sra::cli::run_selected(app);
}
