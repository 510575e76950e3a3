#!/usr/bin/env bash
# Configures and builds SRA into ${SRA_BUILD_DIR:-build} (Release; SRA_CUDA=AUTO unless set).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${SRA_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DSRA_CUDA="${SRA_CUDA:-AUTO}" >/dev/null
cmake --build "$build" -j"$(nproc)"
