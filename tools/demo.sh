#!/usr/bin/env bash
# The main job: set up, build, then train a small Llama-style model on CPU on tinyshakespeare (bytes)
# for about a minute, printing a falling loss, a held-out loss and a sample.
# Then a short RL stage (skip it with SRA_DEMO_RL=0): a tiny byte-level SRA model trained briefly on the
# synthetic multi-hop task (sra train), whose routers `sra rl` tunes for a few steps, printing reward,
# selected ratio and the before/after evaluation table (runs/demo/; a few minutes on 2 cores).
# Data: --data-dir / $SRA_DATA_DIR, else ../shared/data.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
tools/build.sh
sra="${SRA_BUILD_DIR:-build}"/sra
"$sra" demo --seconds "${SRA_DEMO_SECONDS:-60}" "$@"

if [[ "${SRA_DEMO_RL:-1}" != 0 ]]; then
  rm -rf runs/demo
  echo "== supervised SRA model on the synthetic task (short) =="
  "$sra" train --config configs/tiny-cpu.yaml --out runs/demo/sup --set data.dataset=synthetic \
    --set model.max_seq_len=1024 --set data.seq_len=256 --set train.batch_size=8 --set train.steps=40 \
    --set train.eval_every=0 --set train.checkpoint_every=0 --set logging.progress=off
  echo "== RL router tuning (sra rl) =="
  "$sra" rl --config configs/rl-synthetic.yaml --init runs/demo/sup/ckpt-00000040.h5 --out runs/demo/rl \
    --set rl.steps=4 --set rl.prompts_per_step=2 --set rl.group_size=4 --set rl.eval_every=4 \
    --set rl.eval_problems=20
fi
