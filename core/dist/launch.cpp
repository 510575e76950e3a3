// The local launcher: fork/exec N workers, forward signals, stop the job when one fails (core/dist/launch.h).
#include "core/dist/launch.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <thread>

#include "core/check.h"
#include "core/dist/socket.h"

namespace sra::dist {

namespace {

volatile std::sig_atomic_t g_signal = 0;
void on_signal(int s) {
  g_signal = s;
}

std::vector<std::string> own_cmdline() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> argv;
  size_t start = 0;
  for (size_t i = 0; i < all.size(); ++i) {
    if (all[i] == '\0') {
      argv.push_back(all.substr(start, i - start));
      start = i + 1;
    }
  }
  SRA_CHECK(!argv.empty(), "[launch] cannot read /proc/self/cmdline");
  return argv;
}

std::string status_text(int status) {
  if (WIFSIGNALED(status)) return "was killed by signal " + std::to_string(WTERMSIG(status));
  return "exited with status " + std::to_string(WEXITSTATUS(status));
}

int exit_code(int status) {
  return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

}  // namespace

std::vector<std::string> strip_nproc_option(const std::vector<std::string>& argv) {
  std::vector<std::string> out;
  for (size_t i = 0; i < argv.size(); ++i) {
    if (argv[i] == "--nproc-per-node") {
      ++i;  // and its value
      continue;
    }
    if (argv[i].rfind("--nproc-per-node=", 0) == 0) continue;
    out.push_back(argv[i]);
  }
  return out;
}

int launch_local(int nproc, std::ostream& log) {
  SRA_CHECK(nproc >= 1, "[launch] --nproc-per-node must be >= 1, got ", nproc);
  const std::vector<std::string> args = strip_nproc_option(own_cmdline());
  const char* addr_env = std::getenv("MASTER_ADDR");
  const std::string addr = addr_env && *addr_env ? addr_env : "127.0.0.1";
  std::string port = std::getenv("MASTER_PORT") ? std::getenv("MASTER_PORT") : "";
  if (port.empty()) port = std::to_string(Listener(0).port());  // free now; rank 0 binds it soon
  std::vector<pid_t> pids(size_t(nproc), -1);
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  for (int r = 0; r < nproc; ++r) {
    std::vector<std::string> env_set = {"RANK=" + std::to_string(r),
                                        "LOCAL_RANK=" + std::to_string(r),
                                        "WORLD_SIZE=" + std::to_string(nproc),
                                        "LOCAL_WORLD_SIZE=" + std::to_string(nproc),
                                        "MASTER_ADDR=" + addr,
                                        "MASTER_PORT=" + port};
    std::vector<char*> argv;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    const pid_t parent = ::getpid();
    pid_t pid = ::fork();
    SRA_CHECK(pid >= 0, "[launch] fork failed");
    if (pid == 0) {
      ::setpgid(0, 0);
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (::getppid() != parent) ::_exit(1);  // the launcher is already gone
      signal(SIGINT, SIG_DFL);
      signal(SIGTERM, SIG_DFL);
      for (std::string& e : env_set) ::putenv(e.data());
      ::execv("/proc/self/exe", argv.data());
      ::_exit(127);
    }
    pids[size_t(r)] = pid;
    log << "launch: rank " << r << " pid " << pid << "\n" << std::flush;
  }
  int live = nproc, result = 0;
  bool forwarded = false, stopping = false;
  double kill_at = 0;
  while (live > 0) {
    if (g_signal != 0 && !forwarded) {
      forwarded = true;
      for (pid_t p : pids)
        if (p > 0) ::kill(p, g_signal);
    }
    if (stopping && kill_at > 0 && steady_now() > kill_at) {
      for (pid_t p : pids)
        if (p > 0) ::kill(p, SIGKILL);
      kill_at = 0;
    }
    int status = 0;
    pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid <= 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    int rank = -1;
    for (int r = 0; r < nproc; ++r)
      if (pids[size_t(r)] == pid) rank = r;
    if (rank < 0) continue;
    pids[size_t(rank)] = -1;
    --live;
    const bool failed = !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    if (failed && !stopping) {
      result = exit_code(status);
      if (!(forwarded && result == 130)) {
        log << "launch: rank " << rank << " " << status_text(status)
            << (live > 0 ? "; stopping the other ranks" : "") << "\n"
            << std::flush;
      }
      stopping = true;
      kill_at = steady_now() + 10;
      for (pid_t p : pids)
        if (p > 0) ::kill(p, SIGTERM), ::kill(p, SIGCONT);  // a stopped worker too
    }
  }
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  return result;
}

}  // namespace sra::dist
