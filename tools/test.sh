#!/usr/bin/env bash
# Set-up, build, and every test (ctest runs the one doctest binary, build/sra_tests).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
tools/build.sh
ctest --test-dir "${SRA_BUILD_DIR:-build}" --output-on-failure
