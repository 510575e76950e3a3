#!/usr/bin/env bash
# Set-up, the format check, build, and every test (ctest runs the one doctest binary, build/sra_tests).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
tools/format_check.sh
tools/build.sh
ctest --test-dir "${SRA_BUILD_DIR:-build}" --output-on-failure
