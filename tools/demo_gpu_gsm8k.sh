#!/usr/bin/env bash
# The GSM8K rows of the GPU table (issue 19, docs/results.md): a dense and an SRA model with the
# architecture of configs/longsyn-dense.yaml / longsyn-sra.yaml, trained from scratch on GSM8K train (the
# step-by-step solutions ending in "#### N") for a fixed time each, then one `sra eval --compare` on the
# GSM8K test set (greedy, zero-shot in the training format, strict and flexible accuracy, FLOPs, attention
# FLOPs, selected ratio, KV cache, latency). Honest, however low: models this small trained for minutes
# solve next to none of GSM8K. One device call (under 10 minutes); the data comes from SRA_DATA_DIR
# (.gpu/data on the GPU machine: tools/gpu_prep.sh here, carry [".gpu"] there).
#   0. cmake --build BUILD --target sra        (build-gpu with SRA_CUDA=ON; SRA_DEMO_SKIP_BUILD=1 skips it)
#   1. sra tokenizer train --dataset gsm8k      a 2000-piece sentencepiece model on GSM8K train
#   2. sra train  Dense CoT                     longsyn-dense.yaml with data.dataset=gsm8k
#   3. sra train  SRA CoT                       longsyn-sra.yaml with data.dataset=gsm8k
#   4. sra eval --compare                       SRA_GSM8K_EVAL test problems (default 500)
# Budget: SRA_GSM8K_BUDGET_S (default 420) seconds after the build; each model trains for
# SRA_GSM8K_SHARE (default 0.3) of it (train.time_limit_s), the rest is for the data, the evaluation and
# the tokenizer. Files under $OUT (default out/demo_gpu_gsm8k): gsm8k.log, gsm8k_table.md (the eval's
# summary.md), gsm8k_summary.json (its summary.json). SRA_DEMO_DEVICE (cuda | cpu), SRA_BUILD_DIR,
# SRA_DEMO_SET (extra --set k=v for both models), SRA_DEMO_TINY=1 (a tiny model and a few steps: the CPU
# ctest demo_gpu_gsm8k_cpu runs the whole script that way).
set -euo pipefail
cd "$(dirname "$0")/.."
t_start=$SECONDS
device="${SRA_DEMO_DEVICE:-cuda}"
out="${OUT:-out/demo_gpu_gsm8k}"
work="${SRA_DEMO_DIR:-runs/demo_gpu_gsm8k}"
n_eval="${SRA_GSM8K_EVAL:-500}"
budget="${SRA_GSM8K_BUDGET_S:-420}"
share="${SRA_GSM8K_SHARE:-0.3}"
source tools/demo_gpu_lib.sh
demo_setup "$out" "$work" gsm8k.log
stage() { echo "== $1 ($((SECONDS - t_start)) s) =="; }

stage build
demo_build "$build" "$device" "$work/build.log"
sra="$build/sra"
t_train=$(awk -v b="$budget" -v f="$share" 'BEGIN { printf "%d", b * f }')

tok="$work/tokenizer/gsm8k"
common=(--set data.dataset=gsm8k --set data.path=gsm8k/train.jsonl --set "data.tokenizer=$tok.model" --set "device=$device"
  --set model.vocab_size=2000 --set model.max_seq_len=1024 --set data.seq_len=1024 --set train.batch_size=32
  --set train.eval_every=0 --set train.eval_problems=0 --set "train.time_limit_s=$t_train")
[[ "$device" == cuda ]] || common+=(--set precision=f32)
vocab=2000 eval_extra=(--max-new-tokens 256 --batch 64)
if [[ "${SRA_DEMO_TINY:-0}" == 1 ]]; then
  common+=(--set model.d_model=32 --set model.n_layers=2 --set model.n_heads=2 --set model.n_kv_heads=2
    --set model.d_ff=64 --set model.vocab_size=400 --set model.window=8 --set train.batch_size=2
    --set train.steps=3 --set schedule.warmup_steps=1 --set logging.log_every=1)
  vocab=400 eval_extra=(--max-new-tokens 8 --batch 4)
fi
for kv in ${SRA_DEMO_SET:-}; do common+=(--set "$kv"); done

stage "tokenizer ($vocab pieces)"
"$sra" tokenizer train --dataset gsm8k --vocab-size "$vocab" --out "$tok" 2> >(grep -v 'LOG(INFO)' >&2)
stage "Dense CoT on GSM8K (${t_train} s)"
"$sra" train --config configs/longsyn-dense.yaml --out "$work/dense" "${common[@]}"
stage "SRA CoT on GSM8K (${t_train} s)"
"$sra" train --config configs/longsyn-sra.yaml --out "$work/sra" "${common[@]}"

stage "evaluation ($n_eval GSM8K test problems x 2 rows)"
"$sra" eval --compare "$(last_ckpt "$work/dense")" "$(last_ckpt "$work/sra")" \
  --labels "Dense CoT (GSM8K),SRA CoT (GSM8K)" --dataset gsm8k --limit "$n_eval" --device "$device" \
  --out "$work/eval" "${eval_extra[@]}"
cp "$work/eval/summary.md" "$out/gsm8k_table.md"
cp "$work/eval/summary.json" "$out/gsm8k_summary.json"
stage "done"
echo "files in $out: $(ls "$out" | tr '\n' ' ')"
