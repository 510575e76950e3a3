#!/usr/bin/env bash
# The main job: set up, build, then train a small Llama-style model on CPU on tinyshakespeare (bytes)
# for about a minute, printing a falling loss, a held-out loss and a sample.
# Data: --data-dir / $SRA_DATA_DIR, else ../shared/data.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
tools/build.sh
"${SRA_BUILD_DIR:-build}"/sra demo --seconds "${SRA_DEMO_SECONDS:-60}" "$@"
