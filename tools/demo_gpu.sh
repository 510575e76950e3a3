#!/usr/bin/env bash
# The GPU table (issue 19, docs/results.md "The GPU table") in one call on one GPU: Standard vs chain of
# thought vs SRA vs SRA + RL vs the threshold shift at RL's selected ratio, on long synthetic multi-hop
# problems (configs/longsyn-*.yaml: 2-6 hops scattered through ~1250 tokens of distractors).
#   0. cmake --build BUILD --target sra       (build-gpu with SRA_CUDA=ON; a no-op when already built)
#   1. sra tokenizer train                     a 384-piece sentencepiece model on the task's problems
#   2. sra train  Dense Standard               longsyn-dense.yaml, data.synthetic.form=direct ("#### N")
#   3. sra train  Dense CoT                    longsyn-dense.yaml (step-by-step answers)
#   4. sra train  SRA CoT                      longsyn-sra.yaml
#   5. sra rl     SRA CoT + RL                 rl-longsyn.yaml from 4 (routers only)
#   6. sra eval --compare  the five rows on SRA_DEMO_EVAL held-out test problems (test split, disjoint by
#      seed from train and val), the fifth row = SRA CoT with its threshold shifted so that its selected
#      ratio equals RL's on SRA_DEMO_CALIB val problems (--match-ratio); McNemar for every pair
#   7. sra generate --show-selection --html    the audit trail of a test problem SRA CoT + RL solved
#   8. tools/demo_gpu_report.py                table.md, summary.json, curves.png, metrics.tar.gz
# Dense Standard and Dense CoT are two models with the same architecture, data and time (one per answer
# form): a zero-shot synthetic prompt does not say which form to answer in.
# Budget: SRA_DEMO_BUDGET_S (default 510) seconds for stages 1-8, less when the build took long (the
# whole call stays under SRA_DEMO_DEADLINE_S, default 570, of the device's 600); the training stages get
# fixed shares of it as train.time_limit_s / rl.time_limit_s (their steps are caps), the rest is for
# data preparation, evaluation and the report. Every stage's seconds go to the log and summary.json.
# Files under $OUT (at most 8; default out/demo_gpu): demo_gpu.log, table.md, summary.json (JSON lines),
# curves.png (when python3 has matplotlib), audit.html, metrics.tar.gz (metrics.jsonl, configs, eval
# summaries and per-problem verdicts of every run; no checkpoints). Checkpoints stay in SRA_DEMO_DIR
# (default runs/demo_gpu; wiped first).
# Environment: SRA_DEMO_DEVICE (cuda | cpu, default cuda), SRA_BUILD_DIR (default build-gpu on cuda,
# build on cpu), SRA_DEMO_SKIP_BUILD=1, SRA_DEMO_VOCAB (tokenizer pieces, default 384), SRA_DEMO_EVAL
# (test problems, default 2000), SRA_DEMO_CALIB (default 200), SRA_DEMO_BATCH (eval batch, default 128),
# SRA_DEMO_SHARES (below), SRA_DEMO_TINY=1 (a tiny model and task through --set: the CPU ctest
# demo_gpu_cpu runs the whole script that way in about a minute), SRA_DEMO_STEPS (N: every model trains N
# steps, the cosine over the steps, instead of its time share: an equal-data comparison; the budget then
# bounds only RL and the rest), SRA_DEMO_SET (extra --set k=v overrides for the models, below).
set -euo pipefail
cd "$(dirname "$0")/.."
t_start=$SECONDS
device="${SRA_DEMO_DEVICE:-cuda}"
out="${OUT:-out/demo_gpu}"
work="${SRA_DEMO_DIR:-runs/demo_gpu}"
n_eval="${SRA_DEMO_EVAL:-2000}"
n_calib="${SRA_DEMO_CALIB:-200}"
batch="${SRA_DEMO_BATCH:-128}"
budget="${SRA_DEMO_BUDGET_S:-510}"
deadline="${SRA_DEMO_DEADLINE_S:-570}"
source tools/demo_gpu_lib.sh
demo_setup "$out" "$work" demo_gpu.log
stages="$work/stages.jsonl"
stage_t0=$SECONDS
stage() {  # stage NAME: closes the previous stage's timing, prints the header
  if [[ -n "${stage_name:-}" ]]; then
    echo "{\"stage\": \"$stage_name\", \"seconds\": $((SECONDS - stage_t0))}" >> "$stages"
    echo "-- $stage_name: $((SECONDS - stage_t0)) s (total $((SECONDS - t_start)) s)"
  fi
  stage_name="$1"
  stage_t0=$SECONDS
  [[ -n "$1" ]] && echo "== $1 =="
  return 0
}

stage build
demo_build "$build" "$device" "$work/build.log"
sra="$build/sra"
[[ "$device" == cuda ]] && (nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true)
build_s=$((SECONDS - t_start))
left=$((deadline - build_s))
((left < budget)) && budget=$left
((budget < 30)) && { echo "error: only $budget s left after the build ($build_s s)" >&2; exit 1; }
# shares of the budget (SRA_DEMO_SHARES: Dense Standard, Dense CoT, SRA CoT, RL): 12%, 17%, 17%, 9% of the
# step time; the other 45% (~230 s of 510) for data preparation (~10 s a run), the evaluation (5 x
# SRA_DEMO_EVAL problems + the calibration), the audit trail and the report
read -r f_std f_cot f_sra f_rl <<< "${SRA_DEMO_SHARES:-0.12 0.17 0.17 0.09}"
share() { awk -v b="$budget" -v f="$1" 'BEGIN { printf "%d", b * f }'; }
t_std=$(share "$f_std") t_cot=$(share "$f_cot") t_sra=$(share "$f_sra") t_rl=$(share "$f_rl")
echo "budget $budget s after a $build_s s build: train $t_std / $t_cot / $t_sra s, rl $t_rl s"

tok="$work/tokenizer/syn"
common=(--set "data.tokenizer=$tok.model" --set "device=$device")
[[ "$device" == cuda ]] || common+=(--set precision=f32)  # bf16 needs the GPU
vocab="${SRA_DEMO_VOCAB:-384}" tok_problems=400 eval_extra=() rl_extra=() gen_tokens=128
if [[ "${SRA_DEMO_TINY:-0}" == 1 ]]; then  # the CPU ctest: a tiny model, short problems, a few steps
  common+=(--set model.d_model=32 --set model.n_layers=2 --set model.n_heads=2 --set model.n_kv_heads=2
    --set model.d_ff=64 --set model.vocab_size=320 --set model.max_seq_len=512 --set data.seq_len=512
    --set model.window=8 --set data.synthetic.context_chars=300 --set data.synthetic.max_hops=2
    --set data.synthetic.min_distractors=2 --set data.synthetic.max_distractors=4
    --set data.synthetic.unused_variables=2 --set data.synthetic.max_value=20
    --set data.synthetic.train_problems=256 --set train.batch_size=2 --set train.steps=6
    --set train.eval_every=3 --set train.eval_problems=2 --set train.eval_batches=1
    --set schedule.warmup_steps=2 --set logging.log_every=2)
  vocab=300 tok_problems=100
  eval_extra=(--max-new-tokens 24) gen_tokens=24
  rl_extra=(--set rl.steps=2 --set rl.prompts_per_step=2 --set rl.group_size=2 --set rl.max_new_tokens=24
    --set logging.log_every=1)
fi
# SRA_DEMO_SET="k=v k=v ...": more --set overrides for the tokenizer and the three models (e.g. an easier
# task: "data.synthetic.max_hops=3 data.synthetic.context_chars=1200"); the evaluation reads the task from
# the checkpoints, so the table follows them.
for kv in ${SRA_DEMO_SET:-}; do common+=(--set "$kv"); done
[[ -n "${SRA_DEMO_SET:-}" ]] && echo "overrides: $SRA_DEMO_SET"

stage "tokenizer ($vocab pieces)"
"$sra" tokenizer train --dataset synthetic --config configs/longsyn-sra.yaml "${common[@]}" \
  --set data.tokenizer= --problems "$tok_problems" --vocab-size "$vocab" --no-byte-fallback --out "$tok" \
  2> >(grep -v 'LOG(INFO)' >&2)

# a training stage's length: its time share (the cosine follows the elapsed time), or with SRA_DEMO_STEPS=N
# N steps for every model (the same data seen; the cosine over the steps; no time limit)
length() {
  if [[ -n "${SRA_DEMO_STEPS:-}" ]]; then
    len=(--set "train.steps=$SRA_DEMO_STEPS" --set train.time_limit_s=0) len_label="$SRA_DEMO_STEPS steps"
  else
    len=(--set "train.time_limit_s=$1") len_label="$1 s"
  fi
}
length "$t_std"
stage "Dense Standard (direct answers, $len_label)"
"$sra" train --config configs/longsyn-dense.yaml --out "$work/dense-std" "${common[@]}" \
  --set data.synthetic.form=direct "${len[@]}"
length "$t_cot"
stage "Dense CoT ($len_label)"
"$sra" train --config configs/longsyn-dense.yaml --out "$work/dense-cot" "${common[@]}" "${len[@]}"
length "$t_sra"
stage "SRA CoT ($len_label)"
"$sra" train --config configs/longsyn-sra.yaml --out "$work/sra-cot" "${common[@]}" "${len[@]}"
std_ckpt=$(last_ckpt "$work/dense-std") cot_ckpt=$(last_ckpt "$work/dense-cot") sra_ckpt=$(last_ckpt "$work/sra-cot")

stage "RL router tuning (${t_rl} s)"
"$sra" rl --config configs/rl-longsyn.yaml --init "$sra_ckpt" --out "$work/rl" --set "device=$device" \
  --set "rl.time_limit_s=$t_rl" "${rl_extra[@]}"
rl_ckpt=$(last_ckpt "$work/rl")

stage "evaluation ($n_eval test problems x 5 rows, calibration on $n_calib val problems)"
labels="Dense Standard,Dense CoT,SRA CoT,SRA CoT + RL,Threshold shift"
"$sra" eval --compare "$std_ckpt" "$cot_ckpt" "$sra_ckpt" "$rl_ckpt" "$sra_ckpt" --labels "$labels" \
  --match-ratio "SRA CoT + RL:Threshold shift" --calibration-problems "$n_calib" --dataset synthetic \
  --limit "$n_eval" --batch "$batch" --device "$device" --out "$work/eval" "${eval_extra[@]}"

stage "audit trail (sra generate --show-selection --html)"
prompt=$(python3 tools/demo_gpu_report.py solved "$work/eval")
"$sra" generate --checkpoint "$rl_ckpt" --device "$device" --prompt "$prompt" --stop $'\n' \
  --max-new-tokens "$gen_tokens" --show-selection --color never --html "$out/audit.html" | tail -5

stage report
python3 tools/demo_gpu_report.py report "$work" "$out" --device "$device" --budget "$budget" \
  --build-seconds "$build_s" --overrides="${SRA_DEMO_SET:-}"
stage ""
python3 tools/demo_gpu_report.py check "$out"
echo
cat "$out/table.md"
echo "total $((SECONDS - t_start)) s; files in $out: $(ls "$out" | tr '\n' ' ')"
