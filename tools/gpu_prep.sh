#!/usr/bin/env bash
# Copies what a GPU-machine run needs from ../shared into .gpu/ (git-ignored; name it in the device
# call's carry): the datasets the tests read and PyTorch's reference benchmarks.
set -euo pipefail
cd "$(dirname "$0")/.."
shared="${SRA_SHARED_DIR:-../shared}"
rm -rf .gpu
mkdir -p .gpu
cp -r "$shared/data" .gpu/data
cp -r "$shared/bench" .gpu/bench
du -sh .gpu
