// Running the `sra` binary built next to sra_tests as a child process the test can signal: spawn it with
// stdout and stderr into a file, wait for a line of its output, send it signals, collect its exit status.
// Used by the Ctrl-C tests (tests/test_trainer.cpp, tests/test_rl.cpp) and the CLI tests. The binary is
// cli_test_util.h's sra_binary(); outputs are read with data_test_util.h's slurp().
#pragma once
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "cli_test_util.h"

namespace sra::testing {

// `sra args...` in directory cwd ("" = this one), stdout and stderr appended to out_file.
inline pid_t spawn_sra(const std::vector<std::string>& args, const std::string& out_file,
                       const std::string& cwd = "") {
  const std::string bin = sra_binary();
  std::vector<std::string> all = {bin};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {  // only async-signal-safe calls until exec
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ::_exit(126);
    int fd = ::open(out_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0 || ::dup2(fd, 1) < 0 || ::dup2(fd, 2) < 0) ::_exit(126);
    ::execv(bin.c_str(), argv.data());
    ::_exit(127);
  }
  return pid;
}

// Waits until out_file contains `text` (true) or the child exits or timeout_s pass (false).
inline bool wait_for_output(pid_t pid, const std::string& out_file, const std::string& text,
                            double timeout_s) {
  auto t0 = std::chrono::steady_clock::now();
  while (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < timeout_s) {
    if (slurp(out_file).find(text) != std::string::npos) return true;
    siginfo_t info{};
    if (::waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid)
      return slurp(out_file).find(text) != std::string::npos;  // exited (not reaped: wait_exit does)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// Starts `sra args...` and requires its output to show `text` within timeout_s (the failure message is
// the output so far); returns the running child.
inline pid_t spawn_sra_until(const std::vector<std::string>& args, const std::string& out_file,
                             const std::string& text, double timeout_s = 120) {
  pid_t pid = spawn_sra(args, out_file);
  REQUIRE_MESSAGE(wait_for_output(pid, out_file, text, timeout_s), slurp(out_file));
  return pid;
}

// `args` followed by "--resume auto --max-steps N": the same run, continued up to step N.
inline std::vector<std::string> resume_args(std::vector<std::string> args, int64_t max_steps) {
  for (const char* a : {"--resume", "auto", "--max-steps"}) args.push_back(a);
  args.push_back(std::to_string(max_steps));
  return args;
}

// The exit code, or 128 + the signal that killed it.
inline int wait_exit(pid_t pid) {
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Runs `sra args...` to completion; returns the exit code, output in *out.
inline int run_sra_child(const std::vector<std::string>& args, const std::string& out_file, std::string* out,
                         const std::string& cwd = "") {
  std::filesystem::remove(out_file);
  int rc = wait_exit(spawn_sra(args, out_file, cwd));
  *out = slurp(out_file);
  return rc;
}

}  // namespace sra::testing
