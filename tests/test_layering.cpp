// The include direction between the source folders. The rule table lives in README.md, section
// "Include direction" (a Markdown table: folder | may include); this test reads it from there, so the
// README is its one copy. include_violations(path, text) checks one file: every `#include "folder/…"`
// must name a folder on the including folder's row, and CUDA headers (<cuda*.h>, <cublas*.h>,
// <cudnn*.h>, <curand*.h>, <nccl.h>, "core/cuda_check.h") may appear only in kernels/**/*_cuda.cu(h)
// and core's CUDA files (core/**/*.cu, core/cuda_*.h: the NCCL one is core/dist/nccl_cuda.cu). Files outside
// the table's folders (tests/) are not checked. One case runs it over the whole tree; the other feeds it bad
// includes on purpose.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot read ", p.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> split_words(const std::string& s) {
  std::vector<std::string> out;
  std::regex word("[a-z_]+");
  for (auto it = std::sregex_iterator(s.begin(), s.end(), word); it != std::sregex_iterator(); ++it)
    out.push_back(it->str());
  return out;
}

// folder → the folders it may include, from README.md's "Include direction" table.
using Rules = std::map<std::string, std::vector<std::string>>;

const Rules& rules() {
  static const Rules table = [] {
    std::istringstream in(read_text(fs::path(SRA_SOURCE_DIR) / "README.md"));
    std::regex row(R"(^\| *([a-z_]+) *\| *([a-z_, ]+) *\|\s*$)");
    Rules r;
    bool in_section = false;
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("#", 0) == 0) in_section = line.find("Include direction") != std::string::npos;
      std::smatch m;
      if (in_section && std::regex_match(line, m, row)) {
        r[m[1].str()] = split_words(m[2].str());
      }
    }
    REQUIRE_MESSAGE(r.count("core") == 1, "README.md has no \"Include direction\" table with a core row");
    return r;
  }();
  return table;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// A file that may include CUDA headers: kernels/**/*_cuda.cu(h), core/**/*.cu, core/cuda_*.h.
bool cuda_file(const std::string& path) {
  if (path.rfind("kernels/", 0) == 0) return ends_with(path, "_cuda.cu") || ends_with(path, "_cuda.cuh");
  if (path.rfind("core/", 0) == 0)
    return ends_with(path, ".cu") || (path.rfind("core/cuda_", 0) == 0 && ends_with(path, ".h"));
  return false;
}

bool cuda_header(char delim, const std::string& name) {
  static const std::regex system(R"((cuda\w*|cublas\w*|cudnn\w*|curand\w*|nccl)\.h)");
  return delim == '<' ? std::regex_match(name, system) : name == "core/cuda_check.h";
}

// "path:line: message" for every include of `text` (the file at `path`, relative to the source root)
// that breaks the table or the CUDA rule.
std::vector<std::string> include_violations(const std::string& path, const std::string& text) {
  std::vector<std::string> out;
  const std::string from = path.substr(0, path.find('/'));
  auto row = rules().find(from);
  if (path.find('/') == std::string::npos || row == rules().end()) return out;
  static const std::regex include(R"(^\s*#\s*include\s*([<"])([^>"]+)[>"])");
  std::istringstream in(text);
  int line_no = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    std::smatch m;
    if (!std::regex_search(line, m, include)) continue;
    const char delim = m[1].str()[0];
    const std::string name = m[2].str();
    const std::string where =
        path + ":" + std::to_string(line_no) + ": #include " + line.substr(m.position(1));
    if (cuda_header(delim, name) && !cuda_file(path)) {
      out.push_back(where + ": CUDA headers belong in kernels/**/*_cuda.cu(h) and core/*.cu, core/cuda_*.h");
    }
    if (delim != '"' || name.find('/') == std::string::npos) continue;
    const std::string to = name.substr(0, name.find('/'));
    const std::vector<std::string>& allowed_to = row->second;
    if (rules().count(to) == 1 && std::find(allowed_to.begin(), allowed_to.end(), to) == allowed_to.end()) {
      std::string allowed;
      for (const std::string& f : allowed_to) allowed += (allowed.empty() ? "" : ", ") + f;
      out.push_back(where + ": " + from + "/ may include only " + allowed +
                    " (README.md, Include direction)");
    }
  }
  return out;
}

}  // namespace

TEST_CASE("layering: every include of the source folders follows README's include direction") {
  const fs::path root(SRA_SOURCE_DIR);
  int files = 0;
  std::vector<std::string> all;
  for (const auto& [folder, allowed] : rules()) {
    if (!fs::is_directory(root / folder)) continue;
    for (const auto& entry : fs::recursive_directory_iterator(root / folder)) {
      const std::string ext = entry.path().extension().string();
      if (!entry.is_regular_file() || (ext != ".h" && ext != ".cpp" && ext != ".cu" && ext != ".cuh"))
        continue;
      ++files;
      const std::string rel = fs::relative(entry.path(), root).generic_string();
      for (std::string& v : include_violations(rel, read_text(entry.path()))) all.push_back(std::move(v));
    }
  }
  CHECK(files > 100);  // the walk found the tree
  for (const std::string& v : all) FAIL_CHECK(v);
}

TEST_CASE("layering: bad includes are reported with file:line") {
  auto bad = [](const std::string& path, const std::string& text) {
    std::vector<std::string> v = include_violations(path, text);
    if (v.size() == 1) return v[0];
    std::string n = std::to_string(v.size());
    return n.append(" violations");
  };
  const std::string ok = "#include <vector>\n#include \"core/tensor.h\"\n";
  CHECK(bad("core/x.cpp", ok + "#include \"model/transformer.h\"\n").rfind("core/x.cpp:3: ", 0) == 0);
  CHECK(bad("core/x.cpp", ok + "#include \"model/transformer.h\"\n").find("core/ may include only core") !=
        std::string::npos);
  CHECK(bad("train/x.cpp", "\n#include \"eval/evaluate.h\"\n").rfind("train/x.cpp:2: ", 0) == 0);
  CHECK(bad("data/x.cpp", "#include \"autograd/ops.h\"\n").rfind("data/x.cpp:1: ", 0) == 0);
  CHECK(
      bad("kernels/a/a_cpu.cpp", "  #  include \"autograd/tape.h\"\n").rfind("kernels/a/a_cpu.cpp:1: ", 0) ==
      0);
  const std::string cuda = bad("model/x.cpp", ok + ok + "#include <cuda_runtime.h>\n");
  CHECK(cuda.rfind("model/x.cpp:5: ", 0) == 0);
  CHECK(cuda.find("CUDA headers") != std::string::npos);
  CHECK(bad("kernels/a/a_cpu.cpp", "#include \"core/cuda_check.h\"\n").rfind("kernels/a/a_cpu.cpp:1: ", 0) ==
        0);
  CHECK(bad("core/tensor.cpp", "#include <cublasLt.h>\n").rfind("core/tensor.cpp:1: ", 0) == 0);
  CHECK(bad("autograd/x.h", "#include <nccl.h>\n#include <vector>\n").rfind("autograd/x.h:1: ", 0) == 0);
  // allowed: the direction of the table, CUDA headers in CUDA files, anything in tools/ and tests/
  CHECK(include_violations("rl/x.cpp", "#include \"train/optimizer.h\"\n#include \"eval/evaluate.h\"\n")
            .empty());
  CHECK(
      include_violations("model/x.cpp", "#include \"autograd/ops.h\"\n#include \"kernels/a/a.h\"\n").empty());
  CHECK(
      include_violations("kernels/a/a_cuda.cu", "#include <cuda_runtime.h>\n#include \"core/cuda_check.h\"\n")
          .empty());
  CHECK(include_violations("kernels/a/b/a_cuda.cuh", "#include <cublas_v2.h>\n").empty());
  CHECK(include_violations("core/cuda_runtime.cu", "#include \"core/cuda_check.h\"\n").empty());
  CHECK(include_violations("core/cuda_check.h", "#include <cuda_runtime.h>\n").empty());
  CHECK(include_violations("core/dist/nccl_cuda.cu", "#include <nccl.h>\n#include \"core/cuda_check.h\"\n")
            .empty());
  CHECK(include_violations("core/dist/collectives.cpp", "#include <nccl.h>\n").size() == 1);
  CHECK(include_violations("core/dist/x.cpp", "#include \"model/transformer.h\"\n").size() == 1);
  CHECK(include_violations("tools/cli/x.cpp", "#include \"rl/rl_trainer.h\"\n#include \"eval/evaluate.h\"\n")
            .empty());
  CHECK(include_violations("tests/x.cpp", "#include \"tools/cli/commands.h\"\n#include <cuda.h>\n").empty());
  CHECK(include_violations("core/x.cpp", "// #include \"model/transformer.h\"\n").empty());
  // core/cuda_check.h is a core header (allowed in data/) but a CUDA one; every violation is reported
  CHECK(include_violations("data/x.cpp", "#include \"core/cuda_check.h\"\n").size() == 1);
  CHECK(include_violations("eval/x.cpp", "#include \"train/a.h\"\n#include \"rl/b.h\"\n").size() == 2);
}
