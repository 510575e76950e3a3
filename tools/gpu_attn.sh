#!/usr/bin/env bash
# Issue 15/16's attention measurement on the GPU machine, one call (after `tools/gpu_check.sh build`):
# `sra bench attention --json` in bf16 (tensor cores) at the issue's shape (B 1, H 16, D 128, ratio 0.1,
# window 256, 4 sinks) at SRA_ATTN_SEQS (default 4096,16384,32768), in f32 at 4096,16384, at the 135M
# step's shape (B 16, H 12, D 64, T 1024),
# `sra bench train` (135M, bf16), each attention kernel's time at 16k under ncu (dense timed run, SRA
# warm-up and timed run), then torch_reference.py attn (longest first) merged by tools/bench_merge.py into
# $OUT/attn.jsonl.
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-out/gpu_attn}"
mkdir -p "$out"
sra="${SRA_BUILD_DIR:-build-gpu}/sra"
seqs="${SRA_ATTN_SEQS:-4096,16384,32768}"
shape=(--heads 16 --head-dim 128 --window 256 --sinks 4)
log="$out/bench_attn.log"
timeout 200 "$sra" bench attention --json --device cuda --seqs "$seqs" --ratio 0.1 --reps 5 "${shape[@]}" | tee "$log"
timeout 100 "$sra" bench attention --json --device cuda --seqs 4096,16384 --ratio 0.1 --reps 3 --precision f32 \
  "${shape[@]}" | tee "$out/bench_attn_f32.log"
timeout 60 "$sra" bench attention --json --device cuda --batch 16 --heads 12 --head-dim 64 --seqs 1024 \
  --reps 5 | tee "$out/bench_attn_135m.log"
timeout 120 "$sra" bench train --device cuda --precision bf16 --d-model 768 --layers 12 --heads 12 --d-ff 2048 \
  --seq-len 1024 --batch 16 --vocab 32768 --warmup 3 --steps 10 | tee "$out/bench_train.log"
if command -v ncu >/dev/null; then
  timeout 120 ncu --clock-control none -k 'regex:forward_kernel|dq_kernel|dkv_kernel' --launch-skip 3 \
    --launch-count 11 --metrics gpu__time_duration.sum,sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active \
    "$sra" bench attention --json --device cuda --seqs 16384 --reps 1 --ratio 0.1 "${shape[@]}" >"$out/ncu.txt" 2>&1
  grep -E "kernel<|duration|hmma" "$out/ncu.txt" | sed 's/  */ /g' | cut -c1-120
fi
ref=.gpu/bench/torch_reference.py
if [[ -f $ref ]]; then
  for t in $(tr , "\n" <<<"$seqs" | sort -rn); do timeout 90 python3 "$ref" attn --seq "$t" --ratio 0.1 "${shape[@]}" | tee -a "$log"; done
  python3 -c 'import sys; sys.path.insert(0, "tools"); import bench_merge; bench_merge.merge_attn(*sys.argv[1:])' \
    "$log" "$out/attn.jsonl"
fi
