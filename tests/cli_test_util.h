// Running the real `sra` binary (built next to sra_tests, sra_binary()) from a test: run_sra(args) quotes
// each argument for the shell and returns the exit status with stdout and stderr; `shell_prefix` runs before
// it in the same shell (e.g. "ulimit -v 1000000; "). error_line(err) is stderr's "error: ..." line.
#pragma once
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "core/cuda_runtime.h"
#include "data_test_util.h"

namespace sra::testing {

struct Run {
  int rc = -1;
  std::string out, err;
};

inline std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

inline std::string sra_binary() {
  static const std::filesystem::path bin =
      std::filesystem::read_symlink("/proc/self/exe").parent_path() / "sra";
  REQUIRE_MESSAGE(std::filesystem::exists(bin),
                  "the sra binary is not built next to sra_tests: ", bin.string());
  return bin.string();
}

inline Run run_sra(const std::vector<std::string>& args, const std::string& shell_prefix = "") {
  const std::string bin = sra_binary();
  std::filesystem::path dir = temp_dir("cli");
  std::string cmd = shell_prefix + shell_quote(bin);
  for (const std::string& a : args) {
    cmd += ' ';
    cmd += shell_quote(a);
  }
  cmd.append(" >").append(shell_quote((dir / "out").string()));
  cmd.append(" 2>").append(shell_quote((dir / "err").string()));
  int status = std::system(("(" + cmd + ")").c_str());
  Run r;
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = slurp(dir / "out");
  r.err = slurp(dir / "err");
  return r;
}

// "ulimit -v KB; " for run_sra's shell_prefix, or "" in a CUDA build: the CUDA runtime reserves more
// virtual address space than such a limit allows, so there it would fail for the wrong reason.
inline std::string address_space_limit(long kb) {
  return cuda::built_with_cuda() ? std::string() : "ulimit -v " + std::to_string(kb) + "; ";
}

// The line of stderr that starts with "error: " (sentencepiece may log a line of its own before it).
inline std::string error_line(const std::string& err) {
  size_t at = err.rfind("error: ", 0) == 0 ? 0 : err.find("\nerror: ");
  if (at == std::string::npos) return "";
  if (at > 0) ++at;
  return err.substr(at, err.find('\n', at) - at);
}

}  // namespace sra::testing
