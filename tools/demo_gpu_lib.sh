# Shell functions shared by tools/demo_gpu.sh, tools/demo_gpu_gsm8k.sh and tools/sweep_gpu.sh (sourced,
# not run).
#   demo_setup OUT WORK LOG  sets $build (SRA_BUILD_DIR, else build-gpu for $device cuda and build for
#                            cpu), creates OUT, logs to OUT/LOG (demo_log) and makes WORK afresh
#   last_ckpt DIR            the path of the run directory's last checkpoint
#   demo_log FILE            everything the script prints also goes to FILE, complete before it exits
#   demo_build BUILD DEVICE LOG
#                            tools/build.sh's configuration (SRA_CUDA=ON for cuda, else AUTO; ccache when
#                            installed), only the sra target, output in LOG; on failure LOG's tail and
#                            exit 1. SRA_DEMO_SKIP_BUILD=1 skips it. Either way BUILD/sra must exist.

demo_setup() {
  if [[ "$device" == cuda ]]; then build="${SRA_BUILD_DIR:-build-gpu}"; else build="${SRA_BUILD_DIR:-build}"; fi
  mkdir -p "$1"
  demo_log "$1/$3"
  rm -rf "$2"
  mkdir -p "$2"
}

last_ckpt() { ls "$1"/ckpt-*.h5 | tail -1; }

demo_log() {
  exec > >(tee "$1") 2>&1
  demo_tee_pid=$!
  trap demo_finish EXIT
}

demo_finish() {  # the log is complete before the call's files are collected
  exec 1>&- 2>&-
  wait "$demo_tee_pid" 2>/dev/null || true
}

demo_build() {
  local build=$1 device=$2 log=$3
  if [[ "${SRA_DEMO_SKIP_BUILD:-0}" != 1 ]]; then
    local cuda=AUTO launcher=()
    [[ "$device" == cuda ]] && cuda=ON
    if command -v ccache >/dev/null; then
      launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
    fi
    if ! { cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DSRA_CUDA="$cuda" "${launcher[@]}" &&
      cmake --build "$build" --target sra -j "$(nproc)"; } >"$log" 2>&1; then
      tail -n 40 "$log"
      echo "error: the build failed ($log)" >&2
      exit 1
    fi
  fi
  [[ -x "$build/sra" ]] || { echo "error: $build/sra was not built" >&2; exit 1; }
}
