// Helpers shared by the data, tokenizer, trainer and rl tests: temp dirs, file I/O, a run's metrics.jsonl,
// checkpoints' tensors compared bitwise, the error message of a throwing call, and small sentencepiece models
// trained once per process on the first ~200 KB of tinyshakespeare (resolve_data_dir("") +
// "/tinyshakespeare/input.txt").
#pragma once
#include <doctest/doctest.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/check.h"
#include "core/json.h"
#include "data/data_dir.h"
#include "data/tokenizer.h"
#include "run/checkpoint.h"

namespace sra::testing {

// One directory per process, removed at exit; temp_dir(tag) makes a fresh subdirectory of it.
inline const std::filesystem::path& temp_root() {
  struct Root {
    std::filesystem::path path;
    Root() {
      path = std::filesystem::temp_directory_path() /
             ("sra_test_data_" + std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
      std::filesystem::create_directories(path);
    }
    ~Root() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  };
  static const Root root;
  return root.path;
}

inline std::filesystem::path temp_dir(const std::string& tag) {
  static int counter = 0;
  auto dir = temp_root() / (tag + "_" + std::to_string(counter++));
  std::filesystem::create_directories(dir);
  return dir;
}

inline void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

inline std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Every line of DIR/metrics.jsonl (a run's metrics), parsed, in file order.
inline std::vector<Json> read_metrics(const std::filesystem::path& dir) {
  std::vector<Json> out;
  std::ifstream in(dir / "metrics.jsonl");
  std::string line;
  while (std::getline(in, line)) out.push_back(Json::parse(line));
  return out;
}

// Every tensor of two checkpoints is equal, in order: name, dtype, shape and bytes.
inline void check_same_tensors(const Checkpoint& a, const Checkpoint& b) {
  REQUIRE(a.tensors.size() == b.tensors.size());
  for (size_t i = 0; i < a.tensors.size(); ++i) {
    const auto& [na, ta] = a.tensors[i];
    const auto& [nb, tb] = b.tensors[i];
    INFO(na);
    REQUIRE(na == nb);
    REQUIRE(ta.dtype() == tb.dtype());
    REQUIRE(ta.shape() == tb.shape());
    CHECK(std::memcmp(ta.raw(), tb.raw(), size_t(ta.numel()) * dtype_size(ta.dtype())) == 0);
  }
}

template <typename Fn>
std::string error_of(Fn fn) {
  try {
    fn();
  } catch (const sra::Error& e) {
    return e.what();
  }
  return "";
}

// The first ~200 KB of tinyshakespeare (cut after a newline), written once into a temp dir.
inline const std::string& shakespeare_sample_path() {
  static const std::string path = [] {
    std::string text = slurp(resolve_data_dir("") + "/tinyshakespeare/input.txt");
    SRA_CHECK(text.size() > 200000, "[test] tinyshakespeare is too short");
    text.resize(text.rfind('\n', 200000) + 1);
    auto file = temp_dir("shakespeare") / "sample.txt";
    write_text(file, text);
    return file.string();
  }();
  return path;
}

inline TokenizerTrainOptions small_tokenizer_options(const std::string& type, int64_t vocab,
                                                     const std::string& prefix) {
  TokenizerTrainOptions opt;
  opt.inputs = {shakespeare_sample_path()};
  opt.model_prefix = prefix;
  opt.vocab_size = vocab;
  opt.model_type = type;
  opt.character_coverage = 1.0;
  opt.seed = 1234;
  return opt;
}

// Unigram, vocab 500, and BPE, vocab 400, both with byte fallback (lossless); trained once.
inline const std::string& unigram_model_path() {
  static const std::string path =
      train_tokenizer(small_tokenizer_options("unigram", 500, (temp_dir("spm") / "unigram").string()));
  return path;
}
inline const std::string& bpe_model_path() {
  static const std::string path =
      train_tokenizer(small_tokenizer_options("bpe", 400, (temp_dir("spm") / "bpe").string()));
  return path;
}

}  // namespace sra::testing
