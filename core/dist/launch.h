// `sra train|rl|eval ... --nproc-per-node N`: this process becomes the launcher of N local workers, each
// the same `sra` command line (read from /proc/self/cmdline) without --nproc-per-node, with torchrun's
// variables set: RANK = LOCAL_RANK = i, WORLD_SIZE = LOCAL_WORLD_SIZE = N, MASTER_ADDR (kept when set,
// else 127.0.0.1) and MASTER_PORT (kept when set, else a free port of this machine). On device cuda each
// worker takes cuda:LOCAL_RANK (core/dist/env.h's local rank; the stages map "cuda" to it).
//
// Workers run in their own process group (a Ctrl-C at the terminal reaches the launcher alone) and die
// with the launcher (PR_SET_PDEATHSIG). The launcher prints "launch: rank i pid P" for each, forwards
// SIGINT / SIGTERM to all of them once (each finishes its step and saves), and waits. The first worker
// that ends with a non-zero status or a signal is reported ("launch: rank 1 was killed by signal 9;
// stopping the other ranks"); the others get SIGTERM, then SIGKILL 10 s later, and the launcher returns
// that worker's status (128 + signal for a signal). All exit 0: returns 0.
#pragma once
#include <ostream>
#include <string>
#include <vector>

namespace sra::dist {

// argv with "--nproc-per-node N" / "--nproc-per-node=N" removed.
std::vector<std::string> strip_nproc_option(const std::vector<std::string>& argv);

int launch_local(int nproc, std::ostream& log);

}  // namespace sra::dist
