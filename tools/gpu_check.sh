#!/usr/bin/env bash
# The one script for the GPU machine (docs/perf.md, issue "CUDA backend"): builds with SRA_CUDA=ON, runs
# the test suite (CUDA cases included), compute-sanitizer memcheck over the CUDA cases and the training-step
# benchmark beside PyTorch's reference, in one call. Logs and JSON lines go to $OUT (or out/gpu_check).
#
#   tools/gpu_prep.sh                   # here: copies ../shared/{data,bench} into .gpu/ (git-ignored)
#   device run: tools/gpu_check.sh [steps]   with carry [".gpu"]
#
# steps: a comma list of info,build,test,sanitize,e2e,bench,ab,big,long,dp,hf (default: all but e2e, ab, big,
# long, dp, hf). SRA_TEST_FILTER
# narrows the doctest cases of the test step (doctest -tc syntax). e2e: tools/gpu_e2e.sh, the 135M model
# trained in bf16, checkpointed, resumed, evaluated on CPU and GPU, RL-tuned (a few minutes).
# bench: `sra bench train --device cuda --precision bf16` and .gpu/bench/torch_reference.py train with
# --compile and eager, same model (d 768, 12 layers, 12 heads, seq 1024, batch 16, vocab 32768, SwiGLU
# hidden 2048), each logged in $out/bench_*.log; tools/bench_merge.py writes $out/bench.jsonl (our line
# with torch_compile_tokens_per_s, ratio, torch_eager_tokens_per_s) and prints the table. SRA_BENCH_STEPS
# sets the timed steps of all three (default 10; 3 warm-up steps each). torch.compile's warm-up takes a
# minute or two: with the whole suite it may not fit one 10-minute call; then run `build,bench` alone.
# dp: data parallel's cost on one GPU (docs/distributed.md): `sra bench train --device cuda` (the bench
# step's model) plainly, then as one NCCL rank (--nproc-per-node 1 --backend nccl: the trainer's bucketed
# gradient all-reduce in every step); prints {"plain_ms", "nccl_ms", "comm_ms", "overhead_pct"} (goal <= 2)
# into $out/dp.jsonl. SRA_DP_STEPS timed steps (default 20).
# hf: Hugging Face interop against transformers and tokenizers on this machine (docs/hf.md,
# docs/tokenizers.md): tools/hf_parity.py (logits f32/bf16 on CPU and CUDA, greedy 32 tokens, export round
# trip) and tools/bpe_parity.py (byte-level BPE ids); their JSON lines in $out/hf.jsonl.
# big: issue 16's ~1B config, ours beside torch_reference.py train --compile and eager, same model (d 2048,
# 16 layers, 16 heads × 128, seq 2048, batch SRA_BIG_BATCH (default 8), vocab 32768, SwiGLU hidden 5504 =
# the reference's ceil(8d/3 / 64)·64); bench_merge.py's table and $out/bench_big.jsonl.
# ab: the flash kernels' m-tiles per warp at D = 64 (SRA_FLASH_MTILES: queries then keys; "22" all two,
# "21" keys one, "11" all one; the defaults: dense 2 and 2, sparse queries 2 from T = 8192; kernels/common/
# flash_bf16_cuda.cuh) in one call: `sra bench attention` (dense and SRA) at the 135M step's shape (B 16,
# 12 heads × 64, T 1024), at B 4, T 4096 and at B 1, T 16384, and the bench step's 135M training step,
# each with every setting; JSON lines with "mtiles" added
# in $out/ab.jsonl.
# long: `sra bench decode` at SRA_LONG_CONTEXTS (default 16384,65536) and the reference's decode mode, and
# the 16k-token training step (ours dense and SRA, torch.compile dense); JSON lines in bench_long.jsonl.
set -uo pipefail
cd "$(dirname "$0")/.."
steps=",${1:-info,build,test,sanitize,bench},"
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
    # the op-level CUDA cases (the whole-run cases — training steps, eval, rl — run ~50x slower under it)
    step sanitize timeout 420 compute-sanitizer --tool memcheck --error-exitcode 1 "$SRA_BUILD_DIR/sra_tests" \
      -tc='cuda*' -tce='*impossible allocation*,*steps*,*sra train*,*sra eval*,*sra rl*,*generation*,*host read per*,*training step*,*bench train*'
  else
    echo "sanitize   skipped: no compute-sanitizer" | tee -a "$summary"
  fi
fi
if has e2e; then
  step e2e timeout 540 tools/gpu_e2e.sh
fi
if has bench; then
  n="${SRA_BENCH_STEPS:-10}"
  rm -f "$out"/bench_*.log "$out/bench.jsonl"  # never merge a line from an earlier call
  ref=.gpu/bench/torch_reference.py
  # ours, and (where the step's time goes) one layer's attention core at the step's shape
  step bench_sra timeout 300 bash -c '"$0" bench train --device cuda --precision bf16 --d-model 768 \
    --layers 12 --heads 12 --d-ff 2048 --seq-len 1024 --batch 16 --vocab 32768 --warmup 3 --steps "$1" &&
    "$0" bench attention --json --device cuda --batch 16 --heads 12 --head-dim 64 --seqs 1024' \
    "$SRA_BUILD_DIR/sra" "$n"
  if [[ -f $ref ]]; then
    dims=(--d 768 --layers 12 --heads 12 --seq 1024 --batch 16 --vocab 32768 --iters "$n")
    step bench_torch_compile timeout 420 python3 "$ref" train "${dims[@]}" --compile
    step bench_torch_eager timeout 300 python3 "$ref" train "${dims[@]}"
  else
    echo "bench      torch reference skipped: no $ref (run tools/gpu_prep.sh and carry .gpu)" | tee -a "$summary"
  fi
  # the attention core (issue 15's shape): ours and the reference's attn mode, in one log
  seqs="${SRA_BENCH_SEQS:-4096,16384}"
  attn=(--heads 16 --head-dim 128 --window 256 --sinks 4)
  step bench_attn timeout 420 bash -c '"$0" bench attention --json --device cuda --seqs "$1" --ratio 0.1 \
    --reps 5 "${@:3}" && { [[ ! -f $2 ]] || for t in ${1//,/ }; do python3 "$2" attn --seq "$t" \
    --ratio 0.1 "${@:3}" || exit 1; done; }' "$SRA_BUILD_DIR/sra" "$seqs" "$ref" "${attn[@]}"
  step bench_merge python3 tools/bench_merge.py --sra "$out/bench_sra.log" \
    --torch-compile "$out/bench_torch_compile.log" --torch-eager "$out/bench_torch_eager.log" \
    --attn "$out/bench_attn.log" --out "$out/bench.jsonl"
  cat "$out/bench_merge.log" >>"$summary"  # the table, printed with the summary below
fi
if has ab; then
  n="${SRA_BENCH_STEPS:-10}"
  step ab timeout 400 bash -c 'set -o pipefail
    for mt in 22 21 11; do
      export SRA_FLASH_MTILES=$mt
      { "$0" bench attention --json --device cuda --batch 16 --heads 12 --head-dim 64 --seqs 1024 --reps 5 &&
        "$0" bench attention --json --device cuda --batch 4 --heads 12 --head-dim 64 --seqs 4096 --reps 5 &&
        "$0" bench attention --json --device cuda --batch 1 --heads 12 --head-dim 64 --seqs 16384 --reps 5 &&
        "$0" bench train --device cuda --precision bf16 --d-model 768 --layers 12 --heads 12 --d-ff 2048 \
          --seq-len 1024 --batch 16 --vocab 32768 --warmup 3 --steps "$1"; } |
        sed -E "/^[{]/ s/[}]\$/,\"mtiles\":\"$mt\"}/" || exit 1
    done' "$SRA_BUILD_DIR/sra" "$n"
  grep '^{' "$out/ab.log" >"$out/ab.jsonl"
fi
if has big; then
  n="${SRA_BENCH_STEPS:-10}" bb="${SRA_BIG_BATCH:-8}"
  ref=.gpu/bench/torch_reference.py
  rm -f "$out"/big_*.log "$out/bench_big.jsonl"
  step big_sra timeout 400 "$SRA_BUILD_DIR/sra" bench train --device cuda --precision bf16 --d-model 2048 \
    --layers 16 --heads 16 --d-ff 5504 --seq-len 2048 --batch "$bb" --vocab 32768 --warmup 3 --steps "$n"
  big=(--d 2048 --layers 16 --heads 16 --seq 2048 --batch "$bb" --vocab 32768 --iters "$n")
  step big_torch_compile timeout 480 python3 "$ref" train "${big[@]}" --compile
  step big_torch_eager timeout 300 python3 "$ref" train "${big[@]}"
  step big_merge python3 tools/bench_merge.py --sra "$out/big_sra.log" --torch-compile \
    "$out/big_torch_compile.log" --torch-eager "$out/big_torch_eager.log" --out "$out/bench_big.jsonl"
  cat "$out/big_merge.log" >>"$summary"
fi
if has long; then
  # issue 15's long-context numbers beside the reference's, same call: decoding with a filled 16k / 64k
  # context (ours dense and SRA; torch eager + SDPA over a bf16 dense cache), and the 135M model's training
  # step at T = 16384, batch 1 (ours dense, ours SRA with long-16k.yaml's layout, torch.compile dense).
  ref=.gpu/bench/torch_reference.py
  ctx="${SRA_LONG_CONTEXTS:-16384,65536}"
  n="${SRA_BENCH_STEPS:-10}"
  step long_decode timeout 420 bash -c '"$0" bench decode --device cuda --contexts "$1" &&
    { [[ ! -f $2 ]] || for c in ${1//,/ }; do python3 "$2" decode --context "$c" || exit 1; done; }' \
    "$SRA_BUILD_DIR/sra" "$ctx" "$ref"
  long=(--device cuda --precision bf16 --seq-len 16384 --batch 1 --warmup 3 --steps "$n")
  step long_train timeout 540 bash -c '"$0" bench train "${@:3}" --attention dense &&
    "$0" bench train "${@:3}" --attention sra --ratio 0.1 &&
    { [[ ! -f $1 ]] || python3 "$1" train --seq 16384 --batch 1 --iters "$2" --compile; }' \
    "$SRA_BUILD_DIR/sra" "$ref" "$n" "${long[@]}"
  cat "$out/long_decode.log" "$out/long_train.log" | grep '^{' >"$out/bench_long.jsonl"
fi
if has dp; then
  dp=(bench train --device cuda --precision bf16 --d-model 768 --layers 12 --heads 12 --d-ff 2048 --seq-len 1024
    --batch 16 --vocab 32768 --warmup 5 --steps "${SRA_DP_STEPS:-20}")
  step dp_plain timeout 300 "$SRA_BUILD_DIR/sra" "${dp[@]}"
  step dp_nccl timeout 300 "$SRA_BUILD_DIR/sra" "${dp[@]}" --nproc-per-node 1 --backend nccl
  step dp python3 -c 'import json, sys
last = lambda p: [json.loads(l) for l in open(p) if l.startswith("{")][-1]
a, b = last(sys.argv[1]), last(sys.argv[2])
print(json.dumps({"bench": "dp", "ranks": b.get("ranks"), "backend": b.get("backend"), "plain_ms": a["step_ms"],
                  "nccl_ms": b["step_ms"], "comm_ms": b.get("comm_ms"),
                  "overhead_pct": round(100 * (b["step_ms"] / a["step_ms"] - 1), 2), "goal_pct": 2}))' \
    "$out/dp_plain.log" "$out/dp_nccl.log"
  grep '^{' "$out/dp.log" >"$out/dp.jsonl"
  cat "$out/dp.jsonl"
fi
if has hf; then
  step hf_parity timeout 400 python3 tools/hf_parity.py --sra "$SRA_BUILD_DIR/sra" --work /tmp/sra_hf_parity
  step bpe_parity timeout 300 python3 tools/bpe_parity.py --sra "$SRA_BUILD_DIR/sra" --work /tmp/sra_bpe_parity
  cat "$out/hf_parity.log" "$out/bpe_parity.log" | grep '^{' >"$out/hf.jsonl"
fi
echo "== gpu_check summary"
cat "$summary"
exit $status
