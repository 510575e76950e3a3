#!/usr/bin/env bash
# The main job, on CPU, no flags needed (about 10 minutes on 2 cores after the build):
#   1. sra tokenizer train  a sentencepiece model on synthetic multi-hop problems   runs/demo/tokenizer/
#   2. sra train            a tiny SRA model (configs/demo-sra.yaml)                 runs/demo/sra/
#   3. sra train            the same model with dense attention (demo-dense.yaml)    runs/demo/dense/
#   4. sra rl               a short REINFORCE router-tuning run from the SRA model   runs/demo/rl/
#   5. sra eval --compare   all three on held-out test problems                      runs/demo/eval/
# and prints the table (accuracy, selected ratio, FLOPs and attention FLOPs relative to dense) and where
# the checkpoints and plots went. Plots need Debian's python3-matplotlib (tools/plot.py).
# Environment: SRA_DEMO_DIR (default runs/demo; wiped first), SRA_DEMO_EVAL (test problems, default 100),
# SRA_DEMO_STEPS (supervised steps, default from the configs), SRA_DEMO_RL_STEPS (default 20),
# SRA_BUILD_DIR. Data: --data-dir / $SRA_DATA_DIR, else ../shared/data (the synthetic task needs none).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
tools/build.sh
sra="${SRA_BUILD_DIR:-build}"/sra
out="${SRA_DEMO_DIR:-runs/demo}"
n_eval="${SRA_DEMO_EVAL:-100}"
rl_steps="${SRA_DEMO_RL_STEPS:-20}"
steps=()
[[ -n "${SRA_DEMO_STEPS:-}" ]] && steps=(--set "train.steps=$SRA_DEMO_STEPS")
rm -rf "$out"
mkdir -p "$out"
tok="$out/tokenizer/syn"
common=(--set "data.tokenizer=$tok.model" --set logging.progress=off "${steps[@]}")
t0=$SECONDS

echo "== 1/5 tokenizer (sentencepiece, unigram, 300 pieces) =="
"$sra" tokenizer train --dataset synthetic --config configs/demo-sra.yaml --set data.tokenizer= \
  --vocab-size 300 --no-byte-fallback --out "$tok" 2> >(grep -v 'LOG(INFO)' >&2)

echo "== 2/5 supervised SRA model =="
"$sra" train --config configs/demo-sra.yaml --out "$out/sra" "${common[@]}"
echo "== 3/5 dense baseline =="
"$sra" train --config configs/demo-dense.yaml --out "$out/dense" "${common[@]}"
sra_ckpt=$(ls "$out"/sra/ckpt-*.h5 | tail -1)
dense_ckpt=$(ls "$out"/dense/ckpt-*.h5 | tail -1)

echo "== 4/5 RL router tuning (reward = correct - lambda * selected / N) =="
"$sra" rl --config configs/rl-synthetic.yaml --init "$sra_ckpt" --out "$out/rl" \
  --set "rl.steps=$rl_steps" --set rl.prompts_per_step=4 --set rl.group_size=4 --set "rl.eval_every=$rl_steps" \
  --set rl.eval_problems=50 --set rl.max_new_tokens=64 --set rl.checkpoint_every=0 --set logging.log_every=5
rl_ckpt=$(ls "$out"/rl/ckpt-*.h5 | tail -1)

echo "== 5/5 evaluation on $n_eval held-out synthetic test problems =="
"$sra" eval --compare "$dense_ckpt" "$sra_ckpt" "$rl_ckpt" --labels "Dense (CoT),SRA (CoT),SRA + RL (CoT)" \
  --dataset synthetic --limit "$n_eval" --batch 16 --out "$out/eval" 2>/dev/null >/dev/null

plots="not drawn (apt-get install python3-matplotlib, then tools/plot.py RUN_DIR)"
if /usr/bin/python3 -c 'import matplotlib' 2>/dev/null; then
  for d in sra dense rl; do /usr/bin/python3 tools/plot.py "$out/$d" >/dev/null; done
  plots="$out/{sra,dense,rl}/*.png"
fi

echo
echo "== results ($((SECONDS - t0)) s) =="
# The table's columns: accuracy (strict "#### N"), selected ratio, FLOPs and attention FLOPs vs dense.
awk -F'|' 'NF == 0 { exit } {print "|" $2 "|" $4 "|" $6 "|" $8 "|" $9 "|" $10 "|"}' "$out/eval/summary.md"
echo
echo "checkpoints: $dense_ckpt  $sra_ckpt  $rl_ckpt"
echo "metrics:     $out/{sra,dense,rl}/metrics.jsonl   eval: $out/eval/ (summary.md, per-model samples.jsonl)"
echo "plots:       $plots"
