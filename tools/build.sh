#!/usr/bin/env bash
# Configures and builds SRA into ${SRA_BUILD_DIR:-build} (Release; SRA_CUDA=AUTO unless set; ccache when
# installed).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${SRA_BUILD_DIR:-build}
launcher=()
if command -v ccache >/dev/null; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache); fi
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DSRA_CUDA="${SRA_CUDA:-AUTO}" "${launcher[@]}" >/dev/null
cmake --build "$build" -j"$(nproc)"
