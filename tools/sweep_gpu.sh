#!/usr/bin/env bash
# Issue 19's "vary what matters" in one call on one GPU: several models of the GPU table's task, each
# trained the same number of steps, then one `sra eval --compare` per task group over its models on the same
# held-out test problems (accuracy, selected ratio, FLOPs, attention FLOPs, latency, McNemar for every pair).
#   0. cmake --build BUILD --target sra   (as tools/demo_gpu.sh; SRA_DEMO_SKIP_BUILD=1 skips it)
#   1. sra tokenizer train                a SRA_SWEEP_VOCAB-piece sentencepiece model on the task
#   2. one `sra train` (or `sra rl`) per variant, in order
#   3. sra eval --compare                 per group: its variants trained, SRA_SWEEP_EVAL test problems of the
#                                         group's task (its first variant's)
# Variants (SRA_SWEEP_VARIANTS, one per line, fields split by '|'): LABEL|KIND|OVERRIDES[|GROUP] (LABEL
# without commas; GROUP letters, digits, '.', '_', '-', default "main")
#   KIND dense      configs/longsyn-dense.yaml (chain-of-thought answers)
#        dense-std  configs/longsyn-dense.yaml with data.synthetic.form=direct ("#### N" answers)
#        sra        configs/longsyn-sra.yaml
#        rl         `sra rl --config configs/rl-longsyn.yaml` from the first sra variant's checkpoint of its group,
#                   SRA_SWEEP_RL_S seconds (e.g. router-only against router + LM: rl.train_lm=true rl.sample_answers=true)
#   OVERRIDES: space-separated k=v for --set (after SRA_SWEEP_SET, which every variant and the tokenizer get)
# The default list varies the SRA model on one task: the target ratio ρ (0.04 / 0.08 / 0.16) and dense
# layers or none, beside Dense CoT. A task dimension (context length, hops) is a group per task: the same
# task overrides on each of its variants (e.g. data.synthetic.max_hops=6) and a group name; each group is
# compared on its own task's test problems (a group left with one trained variant is not compared: noted).
# Seeds (SRA_SWEEP_SEEDS, e.g. "1 2 3"): every training variant runs once per seed, labelled "LABEL sN", with
# model.seed and train.seed = N (the initialisation and the router noise; data.seed, hence the data and the
# test problems, stay); an rl variant tunes its group's first seed's model. table.md then also gets, per
# group, each variant's accuracy over its seeds (mean, min, max): one training trajectory's jump can move
# by thousands of steps with the seed or a numeric change (docs/results.md, sixth session).
# Every training variant runs SRA_SWEEP_STEPS steps (the cosine over the steps: the same data for each). A
# variant whose training would end past SRA_SWEEP_DEADLINE_S minus SRA_SWEEP_EVAL_RESERVE_S (judged by the
# previous variant's seconds) is skipped and named in the log and the table's notes: never a run cut by
# the device's 10-minute limit.
# Files under $OUT (default out/sweep_gpu): sweep.log, table.md (a comparison per group), summary.json (the
# stages' seconds, then each group's eval summary with "group" added), curves.png (loss, validation accuracy, selected ratio, RL reward; when
# matplotlib is there), metrics.tar.gz (every run's config and metrics, the eval's summaries
# and verdicts; no checkpoints). Checkpoints stay in SRA_SWEEP_DIR (default runs/sweep_gpu; wiped first).
# Environment: SRA_DEMO_DEVICE (cuda | cpu), SRA_BUILD_DIR, SRA_DEMO_SKIP_BUILD=1, SRA_SWEEP_STEPS (3000),
# SRA_SWEEP_EVAL (test problems, 2000), SRA_SWEEP_BATCH (eval batch, 128), SRA_SWEEP_VOCAB (256),
# SRA_SWEEP_RL_S (90), SRA_SWEEP_DEADLINE_S (560), SRA_SWEEP_EVAL_RESERVE_S (70), SRA_SWEEP_TINY=1 (a tiny
# model and task: the CPU ctest sweep_gpu_cpu runs the script that way, with an rl variant).
set -euo pipefail
cd "$(dirname "$0")/.."
t_start=$SECONDS
device="${SRA_DEMO_DEVICE:-cuda}"
out="${OUT:-out/sweep_gpu}"
work="${SRA_SWEEP_DIR:-runs/sweep_gpu}"
steps="${SRA_SWEEP_STEPS:-3000}"
n_eval="${SRA_SWEEP_EVAL:-2000}"
batch="${SRA_SWEEP_BATCH:-128}"
rl_s="${SRA_SWEEP_RL_S:-90}"
deadline="${SRA_SWEEP_DEADLINE_S:-560}"
reserve="${SRA_SWEEP_EVAL_RESERVE_S:-70}"
vocab="${SRA_SWEEP_VOCAB:-256}"
source tools/demo_gpu_lib.sh
demo_setup "$out" "$work" sweep.log
stages="$work/stages.jsonl"
: >"$stages"
notes="$work/notes.txt"
: >"$notes"

default_variants='Dense CoT|dense|
SRA CoT rho 0.08|sra|
SRA CoT rho 0.04|sra|router.target_ratio=0.04
SRA CoT rho 0.16|sra|router.target_ratio=0.16
SRA CoT no dense layer|sra|model.dense_layers=[]'
variants="${SRA_SWEEP_VARIANTS:-$default_variants}"
seeds="${SRA_SWEEP_SEEDS:-}"
if [[ -n "$seeds" ]]; then  # one training variant per seed (rl variants as they are)
  for sd in $seeds; do
    [[ "$sd" =~ ^[0-9]+$ ]] || { echo "error: SRA_SWEEP_SEEDS: '$sd' is not a non-negative integer" >&2; exit 2; }
  done
  expanded=""
  while IFS='|' read -r label kind overrides group; do
    [[ -z "$label" ]] && continue
    if [[ "$kind" == rl ]]; then
      expanded+="$label|$kind|$overrides|$group"$'\n'
      continue
    fi
    for sd in $seeds; do expanded+="$label s$sd|$kind|model.seed=$sd train.seed=$sd $overrides|$group"$'\n'; done
  done <<<"$variants"
  variants="$expanded"
fi
# the values-<= 20 task on which the GPU table's models learn (docs/results.md, third and fourth runs)
base_set="${SRA_SWEEP_SET-data.synthetic.form=trace data.synthetic.max_value=20 data.synthetic.min_hops=1 \
data.synthetic.max_hops=3 data.synthetic.context_chars=600 data.synthetic.min_distractors=2 \
data.synthetic.max_distractors=6 data.seq_len=1024 model.max_seq_len=1024 model.vocab_size=256 train.batch_size=32}"

echo "== build =="
demo_build "$build" "$device" "$work/build.log"
sra="$build/sra"
[[ "$device" == cuda ]] && (nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true)

tok="$work/tokenizer/syn"
common=(--set "data.tokenizer=$tok.model" --set "device=$device")
[[ "$device" == cuda ]] || common+=(--set precision=f32)
tok_problems=400 eval_extra=() rl_extra=()
if [[ "${SRA_SWEEP_TINY:-0}" == 1 ]]; then  # the CPU ctest: a tiny model and task, a few steps
  base_set="data.synthetic.max_value=20 data.synthetic.max_hops=2 data.synthetic.min_distractors=2
    data.synthetic.max_distractors=4 data.synthetic.unused_variables=2 data.synthetic.context_chars=300
    data.synthetic.train_problems=256 model.d_model=32 model.n_layers=3 model.n_heads=2 model.n_kv_heads=2
    model.d_ff=64 model.vocab_size=320 model.max_seq_len=512 data.seq_len=512 model.window=8
    train.batch_size=2 train.eval_every=3 train.eval_problems=2 train.eval_batches=1
    schedule.warmup_steps=2 logging.log_every=2"
  vocab=300 tok_problems=100 eval_extra=(--max-new-tokens 24)
  rl_extra=(--set rl.steps=2 --set rl.prompts_per_step=2 --set rl.group_size=2 --set rl.max_new_tokens=24
    --set logging.log_every=1)
fi
for kv in $base_set; do common+=(--set "$kv"); done
echo "task and model overrides: $(echo $base_set)"

elapsed() { echo $((SECONDS - t_start)); }
record() {  # record NAME SECONDS
  echo "{\"stage\": \"$1\", \"seconds\": $2}" >>"$stages"
  echo "-- $1: $2 s (total $(elapsed) s)"
}

echo "== tokenizer ($vocab pieces) =="
t0=$SECONDS
"$sra" tokenizer train --dataset synthetic --config configs/longsyn-sra.yaml "${common[@]}" \
  --set data.tokenizer= --problems "$tok_problems" --vocab-size "$vocab" --no-byte-fallback --out "$tok" \
  2> >(grep -v 'LOG(INFO)' >&2)
record tokenizer $((SECONDS - t0))

ckpts=() labels=() groups=() group_order=() last_train_s=0 i=0
declare -A first_sra=()
n_groups_reserve() {  # the evaluation reserve: one per group named so far
  echo $((reserve * (${#group_order[@]} > 0 ? ${#group_order[@]} : 1)))
}
while IFS='|' read -r label kind overrides group; do
  [[ -z "$label" ]] && continue
  group="${group:-main}"
  if [[ "$label" == *,* ]]; then
    echo "error: variant label '$label' has a comma (labels are comma-separated)" >&2
    exit 2
  fi
  if [[ ! "$group" =~ ^[A-Za-z0-9._-]+$ ]]; then
    echo "error: variant '$label': group '$group' is not letters, digits, '.', '_' or '-'" >&2
    exit 2
  fi
  [[ " ${group_order[*]} " == *" $group "* ]] || group_order+=("$group")
  sets=()
  for kv in $overrides; do sets+=(--set "$kv"); done
  if ((last_train_s > 0 && $(elapsed) + last_train_s > deadline - $(n_groups_reserve))); then
    echo "skipped: $label (about $last_train_s s of training would end past the ${deadline} s deadline)" |
      tee -a "$notes"
    continue
  fi
  i=$((i + 1))  # run1, run2, ...: the trained variants in order (the curves' labels follow them)
  dir="$work/run$i"
  echo "== $label ($kind${overrides:+: $overrides}; group $group) =="
  t0=$SECONDS
  case "$kind" in
    dense | dense-std | sra)
      config=configs/longsyn-dense.yaml form=()
      [[ "$kind" == sra ]] && config=configs/longsyn-sra.yaml
      [[ "$kind" == dense-std ]] && form=(--set data.synthetic.form=direct)
      "$sra" train --config "$config" --out "$dir" "${common[@]}" "${form[@]}" --set "train.steps=$steps" \
        --set train.time_limit_s=0 "${sets[@]}"
      ;;
    rl)
      init="${first_sra[$group]:-}"
      [[ -n "$init" ]] || {
        echo "error: variant '$label' (rl) needs an sra variant before it in group '$group'" >&2
        exit 1
      }
      "$sra" rl --config configs/rl-longsyn.yaml --init "$init" --out "$dir" --set "device=$device" \
        --set "rl.time_limit_s=$rl_s" "${rl_extra[@]}" "${sets[@]}"
      ;;
    *)
      echo "error: variant '$label': kind '$kind' is not dense, dense-std, sra or rl" >&2
      exit 2
      ;;
  esac
  ckpts+=("$(last_ckpt "$dir")")
  [[ "$kind" == sra && -z "${first_sra[$group]:-}" ]] && first_sra[$group]=${ckpts[-1]}
  labels+=("$label")
  groups+=("$group")
  last_train_s=$((SECONDS - t0))
  record "$label" "$last_train_s"
done <<<"$variants"
((${#ckpts[@]} >= 2)) || { echo "error: fewer than 2 variants trained: nothing to compare" >&2; exit 1; }

compared=()
for grp in "${group_order[@]}"; do
  g_ckpts=() g_labels=()
  for k in "${!ckpts[@]}"; do
    [[ "${groups[$k]}" == "$grp" ]] && g_ckpts+=("${ckpts[$k]}") && g_labels+=("${labels[$k]}")
  done
  if ((${#g_ckpts[@]} < 2)); then
    echo "not compared: group $grp (only ${#g_ckpts[@]} of its variants trained)" | tee -a "$notes"
    continue
  fi
  echo "== evaluation, group $grp (${#g_ckpts[@]} rows x $n_eval test problems) =="
  t0=$SECONDS
  joined=$(IFS=,; echo "${g_labels[*]}")
  "$sra" eval --compare "${g_ckpts[@]}" --labels "$joined" --dataset synthetic --limit "$n_eval" \
    --batch "$batch" --device "$device" --out "$work/eval/$grp" "${eval_extra[@]}"
  record "evaluation ($grp)" $((SECONDS - t0))
  compared+=("$grp")
done
((${#compared[@]} >= 1)) || { echo "error: no group has 2 trained variants: nothing compared" >&2; exit 1; }

{
  echo "# Sweep ($(date -u '+%Y-%m-%d %H:%M UTC'), $device) — $steps steps per trained variant"
  echo
  echo "Task and model overrides: \`$(echo $base_set)\`."
  for grp in "${compared[@]}"; do
    echo
    ((${#group_order[@]} > 1)) && echo "## Group $grp" && echo
    cat "$work/eval/$grp/summary.md"
    if [[ -n "$seeds" ]]; then  # each variant over its seeds
      echo
      python3 - "$work/eval/$grp/summary.json" <<'PY'
import json, re, statistics, sys
rows = json.load(open(sys.argv[1]))["rows"]
by = {}
for r in rows:
    m = re.fullmatch(r"(.*) s(\d+)", r["label"])
    by.setdefault(m.group(1) if m else r["label"], []).append(100 * r["strict"]["accuracy"])
print("Accuracy over seeds:\n\n| Variant | seeds | mean | min | max |\n|---|---|---|---|---|")
for label, acc in by.items():
    print(f"| {label} | {len(acc)} | {statistics.mean(acc):.1f}% | {min(acc):.1f}% | {max(acc):.1f}% |")
PY
    fi
  done
  if [[ -s "$notes" ]]; then
    echo
    sed 's/^/- /' "$notes"
  fi
  echo
  echo "Stages (seconds): $(tr '\n' ' ' <"$stages")"
} >"$out/table.md"
{
  cat "$stages"
  for grp in "${compared[@]}"; do  # each eval summary on one line, with its group
    python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); d["group"] = sys.argv[2]; print(json.dumps(d))' \
      "$work/eval/$grp/summary.json" "$grp"
  done
} >"$out/summary.json"
(cd "$work" && tar czf - stages.jsonl notes.txt run*/config.yaml run*/metrics.jsonl eval) >"$out/metrics.tar.gz"
joined=$(IFS=,; echo "${labels[*]}")
python3 tools/demo_gpu_report.py sweep-curves "$work" "$out/curves.png" --labels "$joined"
for k in "${!labels[@]}"; do  # one row per trained variant of a compared group, or the run failed somewhere
  [[ " ${compared[*]} " == *" ${groups[$k]} "* ]] || continue
  grep -qF "| ${labels[$k]} |" "$out/table.md" || { echo "error: no row for '${labels[$k]}' in $out/table.md" >&2; exit 1; }
done
if [[ -n "$seeds" ]] && ! grep -q "^Accuracy over seeds" "$out/table.md"; then
  echo "error: no accuracy over seeds in $out/table.md" >&2
  exit 1
fi
echo
cat "$out/table.md"
echo "total $(elapsed) s; files in $out: $(ls "$out" | tr '\n' ' ')"
