// Runs every case of the op table through the finite-difference gradcheck, and checks the table covers
// every op the framework declares: the list of ops is read from the headers (autograd/ops.h and
// autograd/sparse_attention.h), so a new op without a gradcheck line fails this test.
#include <doctest/doctest.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "tests/gradcheck.h"

using namespace sra;
using namespace sra::test;

namespace {

// The headers whose functions are the differentiable ops (paths from the source root).
const char* kOpHeaders[] = {"autograd/ops.h", "autograd/sparse_attention.h", "autograd/fused_ops.h"};

// Declared functions returning tensors that are not differentiable ops, and why. Nothing else may be
// left out: every other name declared in kOpHeaders needs a line in tests/op_cases.cpp.
const std::set<std::string> kNotDifferentiable = {
    // i64 indices: no gradient (max, which has one, is in the table)
    "argmax",
    // comparisons: u8 results
    "gt",
    "eq",
    // an order statistic for the router's threshold update, read as a value (no gradient recorded)
    "kth_smallest",
    // inference only (the KV cache in generation); its parity with attention is tests/test_decode_attention
    "decode_attention",
    // random factories with no tensor input: nothing to differentiate (gumbel_noise and
    // logistic_noise have lines all the same: the router adds them to its scores)
    "rand_uniform",
    "randn",
};

// Names of the functions a header declares at namespace scope that return Tensor, std::pair<Tensor,
// Tensor> or std::vector<Tensor>: "[inline] TYPE name(" at the start of a line, comments removed.
// Operator overloads (operator+ ...) do not match; they forward to named ops.
std::set<std::string> declared_tensor_functions(const std::string& header_text) {
  static const std::regex comment("//[^\n]*");
  static const std::regex decl(
      R"((?:^|\n)[ \t]*(?:inline[ \t]+)?(?:Tensor|std::pair<Tensor,[ \t]*Tensor>|std::vector<Tensor>)[ \t]+([A-Za-z_]\w*)[ \t]*\()");
  const std::string text = std::regex_replace(header_text, comment, "");
  std::set<std::string> names;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), decl); it != std::sregex_iterator(); ++it)
    names.insert((*it)[1].str());
  return names;
}

std::string read_source(const std::string& path) {
  std::ifstream in(std::string(SRA_SOURCE_DIR) + "/" + path);
  REQUIRE_MESSAGE(in.good(), "cannot read " << path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The declared ops (minus kNotDifferentiable) that have no case in the op table.
std::vector<std::string> ops_without_case(const std::string& header_text) {
  std::set<std::string> have;
  for (const OpCase& c : op_cases()) have.insert(c.name.substr(0, c.name.find('/')));
  std::vector<std::string> missing;
  for (const std::string& op : declared_tensor_functions(header_text))
    if (!kNotDifferentiable.count(op) && !have.count(op)) missing.push_back(op);
  return missing;
}

}  // namespace

TEST_CASE("gradcheck: every op case") {
  for (const OpCase& c : op_cases()) {
    SUBCASE(c.name.c_str()) {
      GradcheckResult r = gradcheck(c);
      INFO(r.message);
      CHECK_MESSAGE(r.ok, c.name);
    }
  }
}

TEST_CASE("gradcheck: the table covers every differentiable op declared in the headers") {
  std::string headers;
  for (const char* h : kOpHeaders) headers += read_source(h) + "\n";
  const std::set<std::string> declared = declared_tensor_functions(headers);
  // the extractor sees the whole API (a sample across both headers and all return types)
  for (const char* op : {"add", "mul", "max", "topk", "matmul", "cross_entropy", "attention", "concat",
                         "straight_through", "gumbel_noise", "sparse_attention", "argmax", "randn"}) {
    INFO("not extracted: " << op);
    CHECK(declared.count(op) == 1);
  }
  CHECK(declared.size() >= 50);
  for (const std::string& skip : kNotDifferentiable) {
    INFO("kNotDifferentiable names an op no header declares: " << skip);
    CHECK(declared.count(skip) == 1);
  }
  for (const std::string& op : ops_without_case(headers)) FAIL_CHECK("op without a gradcheck line: " << op);
}

TEST_CASE("gradcheck: a newly declared op without a table line is caught") {
  std::string headers = read_source("autograd/ops.h");
  CHECK(ops_without_case(headers).empty());
  headers += "\n// ---- a new op ----\nTensor softplus(const Tensor& x, double beta = 1.0);\n";
  headers += "std::pair<Tensor, Tensor> sort(const Tensor& x, int64_t dim);\n";
  headers += "inline Tensor operator%(const Tensor& a, const Tensor& b) { return softplus(a); }\n";
  headers += "// Tensor commented_out(const Tensor& x);\n";
  CHECK(ops_without_case(headers) == std::vector<std::string>{"softplus", "sort"});
}
