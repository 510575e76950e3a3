#!/usr/bin/env bash
# Where a training step's GPU time goes, ours beside PyTorch's (issue 16), on the GPU machine after
# `tools/gpu_check.sh build`: ncu times every kernel of `sra bench train` (1 warm-up + 1 timed step of the
# 135M bf16 model; --clock-control none), torch.profiler every kernel of torch_reference.py train --compile
# after its warm-up (tools/torch_profile.py), and tools/kernel_table.py prints both as tables per kernel
# class and per kernel (profile_sra.md, profile_torch.md in $OUT). SRA_PROFILE_ARGS replaces the model
# flags (default: the 135M step of tools/gpu_check.sh bench).
# `tools/gpu_profile.sh decode`: instead, ncu times every kernel of 4 timed steps of `sra bench decode`
# (SRA_PROFILE_CONTEXT, default 65536; dense and SRA, the range bench decode marks with cudaProfilerStart)
# into profile_decode_{dense,sra}.md: the device's busy time per step beside the step's wall time.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-out/gpu_profile}"
mkdir -p "$out"
export NCCL_NVLS_ENABLE=0
sra="${SRA_BUILD_DIR:-build-gpu}/sra"
read -r -a dims <<<"${SRA_PROFILE_ARGS:---d-model 768 --layers 12 --heads 12 --d-ff 2048 --seq-len 1024 --batch 16 --vocab 32768}"
status=0
if [[ ${1:-} == decode ]]; then
  for a in dense sra; do
    timeout 240 ncu --clock-control none --profile-from-start off --csv --metrics gpu__time_duration.sum \
      "$sra" bench decode --device cuda --contexts "${SRA_PROFILE_CONTEXT:-65536}" --attention "$a" --warmup 2 \
      --new 4 >"$out/ncu_decode_$a.csv" 2>"$out/ncu_decode_$a.err" || status=1
    python3 tools/kernel_table.py "$out/ncu_decode_$a.csv" --steps 4 --label "decode $a" |
      tee "$out/profile_decode_$a.md" || status=1
    gzip -f "$out/ncu_decode_$a.csv"
  done
  exit $status
fi
timeout 300 ncu --clock-control none --csv --metrics gpu__time_duration.sum "$sra" bench train --device cuda \
  --precision bf16 "${dims[@]}" --warmup 1 --steps 1 >"$out/ncu_step.csv" 2>"$out/ncu_step.err" || status=1
python3 tools/kernel_table.py "$out/ncu_step.csv" --steps 2 --label sra | tee "$out/profile_sra.md" || status=1
ref=.gpu/bench/torch_reference.py
if [[ -f $ref ]]; then
  timeout 300 python3 tools/torch_profile.py --ref "$ref" --out "$out/torch_kernels.csv" --steps 2 -- train \
    --compile --iters 3 ${SRA_PROFILE_TORCH_ARGS:-} || status=1
  python3 tools/kernel_table.py "$out/torch_kernels.csv" --steps 2 --label torch.compile |
    tee "$out/profile_torch.md" || status=1
fi
gzip -f "$out/ncu_step.csv"  # kept (compressed) for another reading
exit $status
