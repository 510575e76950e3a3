// `--nproc-per-node N` on sra train, rl and eval: add_nproc_option registers the flag; launched() runs
// the command's action in this process when the flag is absent, else makes this process the launcher of
// N workers (core/dist/launch.h), each the same command line without the flag.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>
#include <memory>

namespace sra::cli {

std::shared_ptr<int> add_nproc_option(CLI::App* c);
std::function<int()> launched(std::shared_ptr<int> nproc, std::function<int()> run);

}  // namespace sra::cli
