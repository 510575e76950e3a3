// Runs every case of the op table through the finite-difference gradcheck, and checks the table covers
// every op the framework exposes.
#include <doctest/doctest.h>

#include <set>

#include "tests/gradcheck.h"

using namespace sra;
using namespace sra::test;

TEST_CASE("gradcheck: every op case") {
  for (const OpCase& c : op_cases()) {
    SUBCASE(c.name.c_str()) {
      GradcheckResult r = gradcheck(c);
      INFO(r.message);
      CHECK_MESSAGE(r.ok, c.name);
    }
  }
}

TEST_CASE("gradcheck: the table covers every differentiable op") {
  const char* required[] = {
      "add", "sub", "mul", "div", "add_scalar", "mul_scalar", "neg", "pow", "exp", "log", "sqrt", "rsqrt", "tanh",
      "sigmoid", "silu", "gelu", "relu", "sum", "mean", "max", "softmax", "log_softmax", "cross_entropy", "matmul",
      "linear", "embedding", "rmsnorm", "rope", "attention", "sparse_attention", "dropout", "reshape", "transpose", "permute", "slice",
      "expand", "concat", "stack", "contiguous", "cast", "index_select", "gather", "scatter_add", "masked_fill",
      "where", "topk", "cumsum", "gumbel_noise", "logistic_noise"};
  std::set<std::string> have;
  for (const OpCase& c : op_cases()) have.insert(c.name.substr(0, c.name.find('/')));
  for (const char* op : required) {
    INFO("op without a gradcheck line: " << op);
    CHECK(have.count(op) == 1);
  }
}
