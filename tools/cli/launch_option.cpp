// --nproc-per-node: see tools/cli/launch_option.h.
#include "tools/cli/launch_option.h"

#include <iostream>

#include "core/dist/launch.h"
#include "tools/cli/validators.h"

namespace sra::cli {

std::shared_ptr<int> add_nproc_option(CLI::App* c) {
  auto n = std::make_shared<int>(0);
  c->add_option("--nproc-per-node", *n,
                "Start N data-parallel workers on this machine (one per GPU on device cuda; "
                "docs/distributed.md)")
      ->check(integer_in(1, 1024));
  return n;
}

std::function<int()> launched(std::shared_ptr<int> nproc, std::function<int()> run) {
  return [nproc, run]() { return *nproc > 0 ? dist::launch_local(*nproc, std::cerr) : run(); };
}

}  // namespace sra::cli
