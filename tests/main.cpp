// sra_tests: the one doctest binary. Op cases (tests/op_cases.cpp) drive the gradchecks; the other
// files test views, broadcasting, tape semantics, errors and small end-to-end models.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
