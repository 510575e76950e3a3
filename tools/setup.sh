#!/usr/bin/env bash
# Installs what SRA needs to build, from Debian/Ubuntu packages. As root it runs apt-get; otherwise it
# prints the exact apt-get line and exits 1. Exits 0 when everything is already there.
set -euo pipefail
pkgs=(cmake g++ make pkg-config libyaml-cpp-dev libhdf5-dev libsentencepiece-dev libcli11-dev doctest-dev
      libopenblas-dev clang-format libopenmpi-dev openmpi-bin)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi
line="apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
if [[ $(id -u) -ne 0 ]]; then
  echo "tools/setup.sh: missing packages: ${missing[*]}" >&2
  echo "run as root:  $line" >&2
  exit 1
fi
echo "tools/setup.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
