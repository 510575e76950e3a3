#!/usr/bin/env bash
# The one script for the GPU machine (docs/perf.md, issue "CUDA backend"): builds with SRA_CUDA=ON, runs
# the test suite (CUDA cases included), compute-sanitizer memcheck over the CUDA cases, in one call
# (the benchmarks beside PyTorch's reference join as the CUDA kernels land). Logs and JSON lines go to $OUT (or out/gpu_check) .
#
#   tools/gpu_prep.sh                   # here: copies ../shared/{data,bench} into .gpu/ (git-ignored)
#   device run: tools/gpu_check.sh [steps]   with carry [".gpu"]
#
# steps: a comma list of info,build,test,sanitize (default: all of them). SRA_TEST_FILTER narrows
# the doctest cases of the test step (doctest -tc syntax).
set -uo pipefail
cd "$(dirname "$0")/.."
steps=",${1:-info,build,test,sanitize},"
out="${OUT:-out/gpu_check}"
mkdir -p "$out"
export SRA_DATA_DIR="${SRA_DATA_DIR:-$PWD/.gpu/data}"
export NCCL_NVLS_ENABLE=0
export SRA_BUILD_DIR="${SRA_BUILD_DIR:-build-gpu}"
summary="$out/summary.txt"
: >"$summary"
status=0
step() {  # step NAME CMD...: runs CMD with its output in $out/NAME.log, records pass/fail and seconds
  local name=$1
  shift
  local t0=$SECONDS
  "$@" >"$out/$name.log" 2>&1
  local rc=$?
  ((rc != 0)) && status=1
  printf '%-10s %-4s %4ds  (log: %s.log)\n' "$name" "$([[ $rc == 0 ]] && echo ok || echo FAIL)" \
    $((SECONDS - t0)) "$name" | tee -a "$summary"
  if ((rc != 0)); then tail -n 40 "$out/$name.log"; fi
  return $rc
}
has() { [[ $steps == *",$1,"* ]]; }

if has info; then
  step info bash -c 'nvidia-smi; nvcc --version; uname -a; nproc; free -g;
    compute-sanitizer --version | head -2; python3 -c "import torch; print(torch.__version__, torch.cuda.get_device_name())"'
fi
if has build; then
  step build env SRA_CUDA=ON tools/build.sh || { cat "$summary"; exit 1; }
fi
if has test; then
  step test "$SRA_BUILD_DIR/sra_tests" ${SRA_TEST_FILTER:+-tc="$SRA_TEST_FILTER"}
fi
if has sanitize; then
  if compute-sanitizer --version >/dev/null 2>&1; then
    step sanitize compute-sanitizer --tool memcheck --error-exitcode 1 "$SRA_BUILD_DIR/sra_tests" -tc='cuda*' -tce='*impossible allocation*'
  else
    echo "sanitize   skipped: no compute-sanitizer" | tee -a "$summary"
  fi
fi
echo "== gpu_check summary"
cat "$summary"
exit $status
