#!/usr/bin/env bash
# Fails (naming the files) when a tracked C++/CUDA file is not formatted as .clang-format says. Run by
# tools/test.sh; `clang-format -i FILE` fixes one. The project formats with Debian 12's clang-format 14.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v clang-format >/dev/null; then
  echo "tools/format_check.sh: clang-format is not installed (tools/setup.sh installs it)" >&2
  exit 1
fi
bad=$(git ls-files '*.cpp' '*.h' '*.cu' '*.cuh' | xargs clang-format --dry-run 2>&1 | grep -oE '^[^:]+\.(cpp|h|cu|cuh)' | sort -u || true)
if [[ -n "$bad" ]]; then
  echo "tools/format_check.sh: not clang-formatted (run clang-format -i on them):" >&2
  echo "$bad" >&2
  exit 1
fi
echo "format: every tracked C++/CUDA file is clang-formatted"
