#!/usr/bin/env bash
# Issue 18 in one device call on a machine with several GPUs (docs/distributed.md "Several GPUs"): data
# parallel's equivalence, scaling beside PyTorch DDP + torch.compile, `sra eval` and `sra rl` over 2 ranks
# against 1, and a killed rank; each step's output in $OUT/<step>.log, one JSON line per result in
# $OUT/multi.jsonl, the summary printed at the end (and in $OUT/summary.txt).
#
#   tools/gpu_prep.sh                          # here: .gpu/{data,bench} (the datasets, torch_reference.py)
#   device run: tools/gpu_multi.sh [steps]     with carry [".gpu"], after `tools/gpu_check.sh build`
#               (or with the step `build` first: tools/gpu_multi.sh build,all)
#   SRA_MULTI_DEVICE=cpu tools/gpu_multi.sh    # the CPU dry run (ctest multi_gpu_cpu, about a minute)
#
# steps: a comma list of build,equiv,evalrl,kill,scaling, run in the order given (default and `all`:
# equiv,evalrl,kill,scaling: the checks first, then the benchmarks in what is left of the call).
#   build    SRA_CUDA=ON tools/build.sh into $SRA_BUILD_DIR (as tools/gpu_check.sh build)
#   equiv    a small dense byte-level model (d 256, 4 layers, seq 256, text) trained 20 steps in bf16 on
#            1 rank x batch 16 and on 2 ranks x 8 (and 4 x 4 with >= 4 GPUs; --nproc-per-node, backend
#            nccl), plus a control: 1 rank with another data seed. The final checkpoints are exported with
#            `sra convert sra-to-hf --dtype f32` and compared tensor by tensor (no h5py/numpy needed):
#            max_rel = the largest max|a-b| / max|a| of a tensor, l2_ratio = ||one - multi|| / ||one -
#            control|| (what the ranks changed, as a fraction of what other data changes). Passes when
#            l2_ratio <= SRA_MULTI_EQ_RATIO and max_rel <= SRA_MULTI_EQ_TOL. {"bench": "dp_equivalence"}
#   scaling  `sra bench train` with tools/gpu_check.sh bench's 135M model (d 768, 12 layers, seq 1024,
#            batch 16 per GPU, bf16) plainly on 1 GPU and with --nproc-per-node N --backend nccl; then
#            .gpu/bench/torch_reference.py train --compile on 1 GPU and under `torch.distributed.run
#            --standalone --nproc_per_node N ... --ddp`. One {"bench": "dp_scaling"} line per N: tokens/s
#            per GPU (rank 0's step), total, efficiency vs 1 GPU, ours and DDP's; goal >= 95% at 4 GPUs
#            and more total tokens/s than DDP. Ours run first, then torch (each compile takes a minute or
#            more), each in the order 1, the largest N, then the others, so a cut keeps the 4-GPU numbers.
#   evalrl   `sra eval --dataset synthetic` of the equiv step's 1-rank checkpoint and of a tiny SRA model on
#            1 and 2 ranks: the same samples.jsonl lines and summary.json but the timings ({"bench":
#            "dp_eval"}); `sra rl` (routers, f32) of the SRA model on 1 and 2 ranks: the step-0 held-out
#            evaluation is the same, and the 2-rank run's last evaluation (split over the ranks) equals a
#            1-rank `sra eval` of its last checkpoint ({"bench": "dp_rl"}). The rollouts' random keys are
#            mixed with the rank (docs/distributed.md "RL"), so the RL updates themselves differ from one
#            process's by design: their rewards are reported, not compared.
#   kill     2-rank training (equiv's model, distributed.timeout_s = SRA_MULTI_KILL_TIMEOUT_S), rank 1's
#            worker (the pid the launcher prints, `launch: rank 1 pid P`) SIGKILLed after the first
#            checkpoint: the job must exit non-zero within 20 s naming rank 1; then SIGSTOPped: the job
#            must exit non-zero within timeout_s + 25 s with a timeout message; the newest checkpoint must
#            load (`sra logits`). {"bench": "dp_kill"}
# Every command runs under `timeout`, capped by the call's deadline; a step that does not fit is skipped.
# Files under $OUT (default out/gpu_multi; at most 8): <step>.log, multi.jsonl, summary.txt, runs.tar.gz
# (configs, metrics, eval summaries; no checkpoints). Work files in SRA_MULTI_DIR (default
# runs/gpu_multi; wiped first). Exit status 0 when every step ran and passed (an efficiency below the
# goal is a result, not a failure).
# Environment: SRA_MULTI_DEVICE (cuda | cpu | cuda:0; default cuda. cpu: CPU ranks over tcp, f32, tiny
# models, no torch: the dry run. cuda:0: every rank on GPU 0 over tcp, no torch: plumbing on a one-GPU
# machine, its scaling numbers mean nothing), SRA_MULTI_GPUS (default: nvidia-smi -L's count on cuda, 2
# otherwise), SRA_MULTI_COUNTS (scaling's rank counts, default 1,2 and 4 with >= 4 GPUs), SRA_BENCH_STEPS
# (timed steps of ours and torch's, default 20; cpu 3), SRA_MULTI_DEADLINE_S (the whole call, default
# 540: leave room for the build when the step build runs in the same call), SRA_MULTI_KILL_TIMEOUT_S
# (default 20; cpu 3), SRA_MULTI_EQ_RATIO / SRA_MULTI_EQ_TOL (default 0.05 /
# 0.05 in bf16, 1e-4 / 3e-4 in f32 as tests/test_dist_cli.cpp), SRA_BUILD_DIR (default build-gpu; cpu:
# build), SRA_DATA_DIR (default .gpu/data when it exists). NCCL_NVLS_ENABLE=0 is exported.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
self="$PWD/tools/gpu_multi.sh"

# ---- configuration (side-effect free: the steps re-run this script as `gpu_multi.sh __step NAME`)
device="${SRA_MULTI_DEVICE:-cuda}"
case "$device" in
  cuda) backend=nccl precision=bf16 torch=1 ;;
  cuda:*) backend=tcp precision=bf16 torch=0 ;;
  cpu) backend=tcp precision=f32 torch=0 ;;
  *) echo "error: SRA_MULTI_DEVICE must be cuda, cuda:N or cpu, got '$device'" >&2; exit 2 ;;
esac
if [[ $device == cpu ]]; then build="${SRA_BUILD_DIR:-build}"; else build="${SRA_BUILD_DIR:-build-gpu}"; fi
sra="$build/sra"
out="${OUT:-out/gpu_multi}"
work="${SRA_MULTI_DIR:-runs/gpu_multi}"
ref=.gpu/bench/torch_reference.py
if [[ -z "${SRA_DATA_DIR:-}" && -d .gpu/data ]]; then export SRA_DATA_DIR="$PWD/.gpu/data"; fi
export NCCL_NVLS_ENABLE=0
unset MASTER_ADDR MASTER_PORT RANK WORLD_SIZE LOCAL_RANK  # our launcher picks a free port
if [[ $device == cuda ]]; then
  gpus="${SRA_MULTI_GPUS:-$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')}"
else
  gpus="${SRA_MULTI_GPUS:-2}"
fi
if [[ $device == cpu ]]; then
  # tiny: a d-32 model on tinyshakespeare bytes (tests/test_dist_cli.cpp's), a d-64 bench step
  eq_model=(32 2 2 64) eq_seq=32 eq_batch=4 eq_steps=6 eq_lr=1.0e-2 eq_warmup=2
  bench_steps="${SRA_BENCH_STEPS:-3}"
  bench=(--device cpu --precision f32 --d-model 64 --layers 2 --heads 2 --d-ff 128 --seq-len 64 --batch 4
    --vocab 256 --warmup 1 --steps "$bench_steps")
  kill_timeout="${SRA_MULTI_KILL_TIMEOUT_S:-3}" kill_ckpt_every=2
  eq_ratio="${SRA_MULTI_EQ_RATIO:-1e-4}" eq_tol="${SRA_MULTI_EQ_TOL:-3e-4}"
  eval_limit=8 eval_batch=2 eval_tokens=8
else
  eq_model=(256 4 4 688) eq_seq=256 eq_batch=16 eq_steps=20 eq_lr=3.0e-3 eq_warmup=5
  bench_steps="${SRA_BENCH_STEPS:-20}"
  bench=(--device "$device" --precision bf16 --d-model 768 --layers 12 --heads 12 --d-ff 2048 --seq-len 1024
    --batch 16 --vocab 32768 --warmup 3 --steps "$bench_steps")
  kill_timeout="${SRA_MULTI_KILL_TIMEOUT_S:-20}" kill_ckpt_every=20
  eq_ratio="${SRA_MULTI_EQ_RATIO:-0.05}" eq_tol="${SRA_MULTI_EQ_TOL:-0.05}"
  eval_limit=32 eval_batch=8 eval_tokens=48
fi
if [[ -n "${SRA_MULTI_COUNTS:-}" ]]; then
  counts="${SRA_MULTI_COUNTS//,/ }"
elif ((gpus >= 4)); then
  counts="1 2 4"
else
  counts="1 2"
fi
# scaling's order: 1 first, then the largest count (the goal's), then the others downwards
order="$(for n in $counts; do echo "$n"; done | sort -n | awk 'NR == 1 && $1 == 1 { printf "1 "; next } { l = $1 " " l } END { printf "%s", l }')"
eq_ranks=2
((gpus >= 4)) && ((eq_batch % 4 == 0)) && eq_ranks="2 4"
dev_set=(--set "device=$device" --set "precision=$precision")

# ---- helpers
# seconds left to the running step (its share, SRA_MULTI_STEP_END) and to the call (SRA_MULTI_T_END)
left() {
  local now end
  now=$(date +%s)
  end=${SRA_MULTI_T_END:-$((now + 540))}
  ((${SRA_MULTI_STEP_END:-end} < end)) && end=$SRA_MULTI_STEP_END
  echo $((end - now))
}
# t LIMIT CMD...: CMD under timeout, LIMIT capped by what is left of the step (124 when nothing is), so
# every command ends before the step's own timeout (a backstop)
t() {
  local limit=$1 l
  shift
  l=$(left)
  ((l - 5 < limit)) && limit=$((l - 5))
  if ((limit < 5)); then echo "skipped (out of time): $*"; return 124; fi
  timeout -k 10 "$limit" "$@"
}
last_ckpt() { ls "$1"/ckpt-*.h5 2>/dev/null | sort | tail -n 1; }
ckpt_of() { printf '%s/ckpt-%08d.h5' "$1" "$2"; }
emit() { tee -a "$out/multi.jsonl"; }  # JSON lines from stdin: the log and multi.jsonl

# check MODE ARGS...: the comparisons, in python3 without third-party modules
check() {
  python3 - "$@" <<'PY'
import json, math, os, struct, sys
from array import array

mode, args = sys.argv[1], sys.argv[2:]
TIMING = ("latency_ms", "latency_mean_ms", "latency_p95_ms", "seconds", "prefill_seconds",
          "prefill_tokens_per_s", "tokens_per_s", "items_per_s")

def kv(a):  # key=value arguments; values parsed as JSON when they are JSON
    d = {}
    for s in a:
        k, _, v = s.partition("=")
        try:
            d[k] = json.loads(v)
        except ValueError:
            d[k] = v
    return d

def safetensors(path):  # {name: array('f')} of an F32 model.safetensors
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        head = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, v in head.items():
        if name == "__metadata__":
            continue
        if v["dtype"] != "F32":
            sys.exit(f"{path}: {name} is {v['dtype']}, expected F32 (sra convert sra-to-hf --dtype f32)")
        a = array("f")
        a.frombytes(data[v["data_offsets"][0]:v["data_offsets"][1]])
        if sys.byteorder != "little":
            a.byteswap()
        out[name] = a
    return out

def jsonl(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]

def strip(j):
    return {k: v for k, v in j.items() if k not in TIMING}

def last_json(path, key, value):  # the last JSON line of a log with j[key] == value
    found = None
    if os.path.exists(path):
        for l in open(path, errors="replace"):
            if l.startswith("{"):
                try:
                    j = json.loads(l)
                except ValueError:
                    continue
                if j.get(key) == value:
                    found = j
    return found

def samples_cmp(a, b):  # (lines, equal, first differing index)
    x, y = jsonl(a), jsonl(b)
    diff = next((i for i, (p, q) in enumerate(zip(x, y)) if strip(p) != strip(q)), None)
    if diff is None and len(x) != len(y):
        diff = min(len(x), len(y))
    return len(x), diff is None, diff

if mode == "equiv":
    # one=A multi=B control=C m1=metrics m2=metrics ratio=R tol=T, the rest copied into the line
    o = kv(args)
    a, b, c = (safetensors(o.pop(k)) for k in ("one", "multi", "control"))
    m1, m2 = jsonl(o.pop("m1")), jsonl(o.pop("m2"))
    if set(a) != set(b) or set(a) != set(c):
        sys.exit("the checkpoints hold different tensors")
    worst, worst_name, s_ab, s_ac, n = 0.0, "", 0.0, 0.0, 0
    for name in sorted(a):
        x, y, z = a[name], b[name], c[name]
        m = max(abs(v) for v in x)
        d = max(abs(p - q) for p, q in zip(x, y))
        s_ab += sum((p - q) ** 2 for p, q in zip(x, y))
        s_ac += sum((p - q) ** 2 for p, q in zip(x, z))
        n += len(x)
        r = d / m if m > 0 else d
        if r >= worst:
            worst, worst_name = r, name
    l1 = [r["loss"] for r in m1 if "loss" in r]
    l2 = [r["loss"] for r in m2 if "loss" in r]
    loss_rel = max((abs(p - q) / abs(p) for p, q in zip(l1, l2)), default=None)
    ratio = math.sqrt(s_ab) / math.sqrt(s_ac) if s_ac > 0 else None
    line = {"bench": "dp_equivalence", **o, "tensors": len(a), "parameters": n,
            "max_rel_diff": float(f"{worst:.3g}"), "worst_tensor": worst_name,
            "l2_diff": float(f"{math.sqrt(s_ab):.4g}"), "l2_control": float(f"{math.sqrt(s_ac):.4g}"),
            "l2_ratio": None if ratio is None else float(f"{ratio:.3g}"),
            "loss_steps": min(len(l1), len(l2)),
            "loss_max_rel_diff": None if loss_rel is None else float(f"{loss_rel:.3g}")}
    line["pass"] = (ratio is not None and ratio <= o["ratio"] and worst <= o["tol"]
                    and len(l1) == len(l2) == o["steps"])
    print(json.dumps(line))
    sys.exit(0 if line["pass"] else 1)

elif mode == "eval":  # one=DIR multi=DIR, the rest copied
    o = kv(args)
    d1, d2 = o.pop("one"), o.pop("multi")
    lines, same, diff = samples_cmp(f"{d1}/samples.jsonl", f"{d2}/samples.jsonl")
    s1, s2 = (json.load(open(f"{d}/summary.json")) for d in (d1, d2))
    line = {"bench": "dp_eval", **o, "problems": lines, "samples_equal": same, "first_diff": diff,
            "summary_equal": strip(s1) == strip(s2), "accuracy": s1["strict"]["accuracy"],
            "selected_ratio": s1.get("selected_ratio")}
    line["pass"] = same and line["summary_equal"] and lines == o.get("limit", lines)
    print(json.dumps(line))
    sys.exit(0 if line["pass"] else 1)

elif mode == "rl":  # one=RUN multi=RUN eval=DIR (1-rank sra eval of multi's last checkpoint) step=K
    o = kv(args)
    r1, r2, ev, k = o.pop("one"), o.pop("multi"), o.pop("eval"), o.pop("step")
    e0 = lambda r: f"{r}/eval/step-00000000"
    ek = f"{r2}/eval/step-{k:08d}"
    n0, same0, diff0 = samples_cmp(f"{e0(r1)}/samples.jsonl", f"{e0(r2)}/samples.jsonl")
    s0 = [strip(json.load(open(f"{e0(r)}/summary.json"))) for r in (r1, r2)]
    nk, samek, diffk = samples_cmp(f"{ek}/samples.jsonl", f"{ev}/samples.jsonl")
    m1, m2 = jsonl(f"{r1}/metrics.jsonl"), jsonl(f"{r2}/metrics.jsonl")
    last = lambda m, key: next((r[key] for r in reversed(m) if key in r), None)
    line = {"bench": "dp_rl", **o, "steps": k, "step0_problems": n0, "step0_samples_equal": same0,
            "step0_summary_equal": s0[0] == s0[1], "final_problems": nk,
            "final_eval_equals_sra_eval": samek, "final_first_diff": diffk,
            "metrics_lines": [len(m1), len(m2)],
            "reward_last": [last(m1, "reward"), last(m2, "reward")],
            "eval_accuracy_last": [last(m1, "eval_accuracy"), last(m2, "eval_accuracy")],
            "eval_selected_ratio_last": [last(m1, "eval_selected_ratio"), last(m2, "eval_selected_ratio")],
            "note": "rollout keys are mixed with the rank: the updates differ from 1 rank's by design"}
    line["pass"] = same0 and line["step0_summary_equal"] and samek and nk > 0 and len(m1) == len(m2)
    print(json.dumps(line))
    sys.exit(0 if line["pass"] else 1)

elif mode == "scaling":  # dir=D counts=[1,2,4] goal=0.95, the rest copied
    o = kv(args)
    d, counts, goal = o.pop("dir"), o.pop("counts"), o.pop("goal")
    ours = {n: last_json(f"{d}/sra_{n}.log", "bench", "train") for n in counts}
    torch = {n: last_json(f"{d}/torch_{n}.log", "mode", "train") for n in counts}
    base = ours.get(1)
    tbase = torch.get(1)
    ok = True
    for n in counts:
        s, tr = ours[n], torch[n]
        line = {"bench": "dp_scaling", **o, "gpus": n}
        if s:
            pg = s["tokens_per_s"]
            line.update(config=s.get("config"), device_name=s.get("device"), backend=s.get("backend"),
                        sra_step_ms=s["step_ms"], sra_comm_ms=s.get("comm_ms"),
                        sra_tokens_per_s_per_gpu=pg, sra_tokens_per_s=pg * n,
                        sra_efficiency=round(pg / base["tokens_per_s"], 4) if base else None)
        else:
            ok = False
            line.update(sra_tokens_per_s_per_gpu=None, sra_efficiency=None)
        if tr:
            line.update(torch_impl=tr.get("impl"), torch_ms_per_step=tr.get("ms_per_step"),
                        torch_tokens_per_s_per_gpu=tr["tokens_per_s_per_gpu"], torch_tokens_per_s=tr["tokens_per_s"],
                        torch_efficiency=round(tr["tokens_per_s_per_gpu"] / tbase["tokens_per_s_per_gpu"], 4)
                        if tbase else None)
        if s and tr:
            line["total_vs_torch"] = round(pg * n / tr["tokens_per_s"], 4)
        if n > 1 and s and base and goal is not None:
            line["goal_efficiency"] = goal
            line["efficiency_met"] = line["sra_efficiency"] >= goal
            if tr:
                line["beats_torch"] = pg * n > tr["tokens_per_s"]
        print(json.dumps(line))
    sys.exit(0 if ok else 1)

elif mode == "kill":  # log=F + fields; prints the line, exit 1 unless pass
    o = kv(args)
    log = open(o.pop("log"), errors="replace").read().splitlines()
    sig, limit = o["signal"], o.pop("limit")
    pick = lambda pats: next((l for l in log if any(p in l for p in pats)), None)
    if sig == "KILL":
        msg = pick(["rank 1 was killed", "with rank 1 ("])
    else:
        msg = pick(["no answer before the timeout", "did not complete within", "timed out"])
    o["message"] = msg
    o["launcher"] = pick(["stopping the other ranks"])
    o["pass"] = (o["rc"] not in (0, None) and o["seconds"] is not None and o["seconds"] <= limit
                 and msg is not None and o["checkpoint_loads"] is True)
    o["limit_s"] = limit
    print(json.dumps({"bench": "dp_kill", **o}))
    sys.exit(0 if o["pass"] else 1)

elif mode == "table":  # multi.jsonl -> a readable summary
    for j in jsonl(args[0]):
        b = j.get("bench")
        if b == "dp_equivalence":
            print(f"equivalence {j['ranks']} ranks x {j['batch_per_rank']} vs 1 x {j['global_batch']} "
                  f"({j['precision']}, {j['steps']} steps): max_rel {j['max_rel_diff']} ({j['worst_tensor']}), "
                  f"l2_ratio {j['l2_ratio']} (<= {j['ratio']}), loss rel {j['loss_max_rel_diff']}: "
                  f"{'ok' if j['pass'] else 'FAIL'}")
        elif b == "dp_scaling":
            f = lambda v, p="": "-" if v is None else (f"{100 * v:.1f}%" if p == "%" else f"{v:,}")
            print(f"scaling {j['gpus']} GPU: ours {f(j.get('sra_tokens_per_s_per_gpu'))} tok/s/GPU "
                  f"({f(j.get('sra_efficiency'), '%')}), total {f(j.get('sra_tokens_per_s'))}; "
                  f"torch {f(j.get('torch_tokens_per_s_per_gpu'))} tok/s/GPU ({f(j.get('torch_efficiency'), '%')}), "
                  f"total {f(j.get('torch_tokens_per_s'))}"
                  + (f"; goal {'met' if j['efficiency_met'] else 'NOT met'}" if "efficiency_met" in j else ""))
        elif b == "dp_eval":
            print(f"eval {j['model']} {j['ranks']} ranks vs 1: {j['problems']} problems, samples "
                  f"{'equal' if j['samples_equal'] else 'DIFFER'}, summary "
                  f"{'equal' if j['summary_equal'] else 'DIFFERS'}")
        elif b == "dp_rl":
            print(f"rl {j['ranks']} ranks vs 1: step-0 eval {'equal' if j['step0_samples_equal'] else 'DIFFERS'}, "
                  f"final split eval = sra eval: {j['final_eval_equals_sra_eval']}, rewards {j['reward_last']}")
        elif b == "dp_kill":
            print(f"kill SIG{j['signal']}: rc {j['rc']} after {j['seconds']} s (limit {j['limit_s']}): "
                  f"{'ok' if j['pass'] else 'FAIL'}; {j['message']}")
        elif b == "dp_machine":
            print(f"machine: {j['gpus']} x {j['device_name']} ({j['device']}), {j['date']}, commit {j['commit']}"
                  + (" -- a dry run: plumbing only, no scaling numbers" if j.get("dry_run") else ""))
else:
    sys.exit(f"unknown mode {mode}")
PY
}

# writes a run config: the equivalence model (dense, byte-level, text), or the tiny SRA model on synthetic
equiv_config() {
  local d=${eq_model[0]} layers=${eq_model[1]} heads=${eq_model[2]} ff=${eq_model[3]}
  cat >"$1" <<EOF
model:
  vocab_size: 256
  d_model: $d
  n_layers: $layers
  n_heads: $heads
  n_kv_heads: $heads
  d_ff: $ff
  max_seq_len: 1024
  attention: dense
data:
  dataset: text
  path: tinyshakespeare/input.txt
  tokenizer: ""
  seq_len: $eq_seq
  seed: 3
optimizer:
  lr: $eq_lr
  grad_clip: 1.0
schedule:
  warmup_steps: $eq_warmup
train:
  batch_size: $eq_batch
  steps: $eq_steps
  eval_every: 0
  checkpoint_every: $eq_steps
  keep_last: 0
logging:
  log_every: 1
  progress: off
distributed:
  backend: $backend
  timeout_s: 120
EOF
}

sra_config() {  # tests/test_dist_cli.cpp's byte-level SRA model on short synthetic problems
  cat >"$1" <<EOF
model:
  vocab_size: 256
  d_model: 32
  n_layers: 2
  n_heads: 2
  n_kv_heads: 2
  d_ff: 64
  max_seq_len: 320
  attention: sra
  dense_layers: [0]
  window: 8
  sinks: 2
router:
  hidden: 16
  init_threshold: 0.0
data:
  dataset: synthetic
  seq_len: 64
  synthetic:
    min_hops: 1
    max_hops: 2
    min_distractors: 0
    max_distractors: 1
    unused_variables: 1
schedule:
  warmup_steps: 0
train:
  batch_size: 2
  steps: 2
  eval_every: 0
  checkpoint_every: 2
  keep_last: 0
logging:
  log_every: 1
  progress: off
EOF
}

rl_config() {
  cat >"$1" <<EOF
rl:
  steps: 4
  prompts_per_step: 2
  group_size: 3
  max_new_tokens: 6
  eval_every: 4
  eval_problems: 16
  checkpoint_every: 2
  keep_last: 0
optimizer:
  lr: 0.05
  weight_decay: 0.0
logging:
  log_every: 1
distributed:
  backend: $backend
  timeout_s: 120
EOF
}

# ---- steps (each runs as `gpu_multi.sh __step NAME` under timeout; output in $out/NAME.log)
step_build() {
  if [[ $device == cpu ]]; then SRA_BUILD_DIR="$build" tools/build.sh; else SRA_BUILD_DIR="$build" SRA_CUDA=ON tools/build.sh; fi
}

step_equiv() {
  local d="$work/equiv" rc=0 n
  mkdir -p "$d"
  equiv_config "$d/model.yaml"
  cat "$d/model.yaml"
  echo "== 1 rank x batch $eq_batch ($device, $precision)"
  t 120 "$sra" train --config "$d/model.yaml" --out "$d/one" "${dev_set[@]}" || return 1
  echo "== control: 1 rank, data.seed 4 (what other data changes)"
  t 120 "$sra" train --config "$d/model.yaml" --out "$d/control" "${dev_set[@]}" --set data.seed=4 || return 1
  for r in one control; do
    t 60 "$sra" convert sra-to-hf --in "$(ckpt_of "$d/$r" "$eq_steps")" --out "$d/$r.hf" --dtype f32 || return 1
  done
  for n in $eq_ranks; do
    echo "== $n ranks x batch $((eq_batch / n)) (--nproc-per-node $n, $backend)"
    if ! t 180 "$sra" train --config "$d/model.yaml" --out "$d/r$n" "${dev_set[@]}" --nproc-per-node "$n" ||
      ! t 60 "$sra" convert sra-to-hf --in "$(ckpt_of "$d/r$n" "$eq_steps")" --out "$d/r$n.hf" --dtype f32; then
      rc=1
      continue
    fi
    check equiv one="$d/one.hf/model.safetensors" multi="$d/r$n.hf/model.safetensors" \
      control="$d/control.hf/model.safetensors" m1="$d/one/metrics.jsonl" m2="$d/r$n/metrics.jsonl" \
      device="\"$device\"" precision="\"$precision\"" backend="\"$backend\"" ranks="$n" \
      batch_per_rank=$((eq_batch / n)) global_batch="$eq_batch" steps="$eq_steps" \
      config="\"d${eq_model[0]}-L${eq_model[1]}-T$eq_seq\"" ratio="$eq_ratio" tol="$eq_tol" | emit
    ((PIPESTATUS[0] == 0)) || rc=1
  done
  return $rc
}

step_scaling() {
  local d="$work/scaling" n rc=0 list
  mkdir -p "$d"
  [[ $device == cuda ]] && { nvidia-smi topo -m; nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv; }
  for n in $order; do
    echo "== sra bench train on $n rank(s)"
    if ((n == 1)); then
      t 240 "$sra" bench train "${bench[@]}" >"$d/sra_$n.log" 2>&1
    else
      t 240 "$sra" bench train "${bench[@]}" --nproc-per-node "$n" --backend "$backend" >"$d/sra_$n.log" 2>&1
    fi
    ((PIPESTATUS[0] == 0)) || rc=1
    cat "$d/sra_$n.log"
  done
  if ((torch)) && [[ -f $ref ]]; then
    local dims=(--d 768 --layers 12 --heads 12 --seq 1024 --batch 16 --vocab 32768 --iters "$bench_steps")
    for n in $order; do
      echo "== torch_reference.py train --compile on $n GPU(s)$( ((n > 1)) && echo ' (DDP)')"
      if ((n == 1)); then
        t 420 python3 "$ref" train "${dims[@]}" --compile >"$d/torch_$n.log" 2>&1
      else
        t 420 python3 -m torch.distributed.run --standalone --nproc_per_node "$n" "$ref" train "${dims[@]}" \
          --compile --ddp >"$d/torch_$n.log" 2>&1
      fi
      ((PIPESTATUS[0] == 0)) || rc=1
      grep -v '^\s*$' "$d/torch_$n.log" | tail -n 20
    done
  else
    echo "torch skipped ($( ((torch)) && echo "no $ref: run tools/gpu_prep.sh and carry .gpu" || echo "device $device"))"
  fi
  list="[${counts// /,}]"
  local goal=0.95
  [[ $device == cuda ]] || goal=null  # ranks sharing a GPU or the CPU's cores: no goal
  check scaling dir="$d" counts="$list" goal="$goal" device="\"$device\"" precision="\"$precision\"" \
    steps="$bench_steps" | emit
  ((PIPESTATUS[0] == 0)) || rc=1
  return $rc
}

step_evalrl() {
  local d="$work/evalrl" rc=0 dense name ck k
  mkdir -p "$d"
  dense=$(ckpt_of "$work/equiv/one" "$eq_steps")
  if [[ ! -f $dense ]]; then  # the equiv step did not run: a short run of its model
    equiv_config "$d/dense.yaml"
    t 120 "$sra" train --config "$d/dense.yaml" --out "$d/dense" "${dev_set[@]}" --set train.steps=2 \
      --set train.checkpoint_every=2 --set schedule.warmup_steps=1 || return 1
    dense=$(ckpt_of "$d/dense" 2)
  fi
  sra_config "$d/sra.yaml"
  echo "== a tiny SRA model (2 steps on synthetic problems, 1 rank)"
  t 120 "$sra" train --config "$d/sra.yaml" --out "$d/sup" --set "device=$device" || return 1
  local sup
  sup=$(ckpt_of "$d/sup" 2)
  for name in dense sra; do
    ck=$dense
    [[ $name == sra ]] && ck=$sup
    local args=(eval --checkpoint "$ck" --dataset synthetic --limit "$eval_limit" --batch "$eval_batch"
      --max-new-tokens "$eval_tokens" --device "$device")
    echo "== sra eval ($name) on 1 rank, then 2"
    t 180 "$sra" "${args[@]}" --out "$d/eval_${name}_1" | tail -n 3 || { rc=1; continue; }
    t 180 "$sra" "${args[@]}" --out "$d/eval_${name}_2" --nproc-per-node 2 | tail -n 3 || { rc=1; continue; }
    check eval one="$d/eval_${name}_1" multi="$d/eval_${name}_2" model="\"$name\"" ranks=2 \
      device="\"$device\"" limit="$eval_limit" | emit
    ((PIPESTATUS[0] == 0)) || rc=1
  done
  rl_config "$d/rl.yaml"
  for n in 1 2; do
    echo "== sra rl on $n rank(s)"
    local extra=()
    ((n > 1)) && extra=(--nproc-per-node "$n")
    t 240 "$sra" rl --config "$d/rl.yaml" --init "$sup" --out "$d/rl$n" --set "device=$device" "${extra[@]}" |
      tail -n 4
    ((PIPESTATUS[0] == 0)) || return 1
  done
  k=$(python3 -c 'import json,sys; print(max(json.loads(l)["step"] for l in open(sys.argv[1]) if l.strip()))' \
    "$d/rl2/metrics.jsonl")
  local s b m l
  s="$d/rl2/eval/$(printf 'step-%08d' "$k")/summary.json"
  read -r b m l < <(python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["batch"], j["max_new_tokens"], j["n"])' "$s")
  echo "== sra eval (1 rank) of the 2-rank RL run's step-$k checkpoint"
  t 180 "$sra" eval --checkpoint "$(ckpt_of "$d/rl2" "$k")" --dataset synthetic --limit "$l" --batch "$b" \
    --max-new-tokens "$m" --device "$device" --out "$d/rl2_eval" | tail -n 3 || return 1
  check rl one="$d/rl1" multi="$d/rl2" eval="$d/rl2_eval" step="$k" ranks=2 device="\"$device\"" | emit
  ((PIPESTATUS[0] == 0)) || rc=1
  return $rc
}

step_kill() {
  local d="$work/kill" rc=0 sig
  mkdir -p "$d"
  equiv_config "$d/model.yaml"
  for sig in KILL STOP; do
    local log="$d/$sig.log" run="$d/run_$sig" job pid pid0 t0 took="null" code="null" limit loads=false newest
    if [[ $sig == KILL ]]; then limit=20; else limit=$((kill_timeout + 25)); fi
    if (($(left) < limit + 60)); then echo "SIG$sig skipped (out of time)"; rc=1; continue; fi  # start + wait
    echo "== 2 ranks, distributed.timeout_s $kill_timeout; SIG$sig to rank 1 after the first checkpoint"
    "$sra" train --config "$d/model.yaml" --out "$run" "${dev_set[@]}" --nproc-per-node 2 \
      --set train.steps=1000000 --set "train.checkpoint_every=$kill_ckpt_every" --set train.keep_last=2 \
      --set "distributed.timeout_s=$kill_timeout" --set logging.log_every=10 >"$log" 2>&1 &
    job=$!
    t0=$(date +%s)
    until grep -q '^saved ' "$log" || ! kill -0 "$job" 2>/dev/null || (($(date +%s) - t0 > 120)) ||
      (($(left) < limit + 45)); do sleep 0.2; done
    pid=$(sed -n 's/^launch: rank 1 pid \([0-9]*\).*/\1/p' "$log" | head -n 1)
    [[ -z $pid ]] && pid=$(pgrep -P "$job" | sed -n 2p)  # the launcher's second child
    if ! grep -q '^saved ' "$log" || [[ -z $pid ]] || ! kill -0 "$job" 2>/dev/null; then
      echo "no checkpoint within 120 s (or the step's time), or no worker pid, or the job ended early:"
      tail -n 20 "$log"
      kill -9 "$job" 2>/dev/null
      [[ -n $pid ]] && kill -9 "$pid" 2>/dev/null
      wait "$job" 2>/dev/null
      rc=1
      continue
    fi
    echo "rank 1 pid $pid: SIG$sig at $(date +%T)"
    kill -"$sig" "$pid"
    t0=$(date +%s.%N)
    while kill -0 "$job" 2>/dev/null; do
      if (($(date +%s) - ${t0%.*} > limit + 30 || $(left) < 5)); then
        echo "the job did not end within $(($(date +%s) - ${t0%.*})) s: killing it (a hang)"
        pid0=$(sed -n 's/^launch: rank 0 pid \([0-9]*\).*/\1/p' "$log" | head -n 1)
        kill -9 "$job" "$pid" ${pid0:+"$pid0"} 2>/dev/null
        break
      fi
      sleep 0.1
    done
    wait "$job"
    code=$?
    took=$(python3 -c "import time; print(round(time.time() - $t0, 1))")
    kill -0 "$pid" 2>/dev/null && { echo "rank 1 still alive after the job ended"; kill -9 "$pid"; }
    newest=$(last_ckpt "$run")
    [[ -n $newest ]] && t 60 "$sra" logits --checkpoint "$newest" --ids 1,2,3 --json >/dev/null && loads=true
    echo "exit status $code after $took s; newest checkpoint $newest loads: $loads"
    grep -E '^launch:|\[dist\]|error' "$log" | head -n 12
    check kill log="$log" signal="\"$sig\"" rc="$code" seconds="$took" limit="$limit" \
      timeout_s="$kill_timeout" checkpoint_loads="$loads" device="\"$device\"" backend="\"$backend\"" | emit
    ((PIPESTATUS[0] == 0)) || rc=1
  done
  return $rc
}

if [[ ${1:-} == __step ]]; then
  "step_$2"
  exit $?
fi

# ---- main
steps="${1:-all}"
steps="${steps//all/equiv,evalrl,kill,scaling}"
for s in ${steps//,/ }; do
  [[ $s =~ ^(build|equiv|scaling|evalrl|kill)$ ]] || { echo "error: unknown step '$s'" >&2; exit 2; }
done
if [[ $device == cuda ]] && ((gpus < 2)); then
  echo "error: $gpus GPU(s): the multi-GPU run needs at least 2 (SRA_MULTI_DEVICE=cuda:0 puts every rank on" \
    "GPU 0 over tcp, a plumbing check; SRA_MULTI_DEVICE=cpu is the CPU dry run)" >&2
  exit 2
fi
export SRA_MULTI_T_END=$(($(date +%s) + ${SRA_MULTI_DEADLINE_S:-540}))
mkdir -p "$out"
rm -f "$out"/{build,equiv,evalrl,kill,scaling}.log "$out/multi.jsonl" "$out/summary.txt" "$out/runs.tar.gz"
rm -rf "$work"
mkdir -p "$work"
summary="$out/summary.txt"
: >"$summary"
status=0
declare -A caps=([build]=420 [equiv]=180 [evalrl]=180 [kill]=180 [scaling]=480)
echo "gpu_multi: device $device ($gpus ranks available), backend $backend, $precision, steps $steps," \
  "scaling counts $counts, deadline ${SRA_MULTI_DEADLINE_S:-540} s" | tee -a "$summary"
if [[ ,$steps, != *,build,* && ! -x $sra ]]; then
  echo "error: $sra is missing (build first: tools/gpu_check.sh build, or the step build)" >&2
  exit 1
fi
name=$( [[ $device == cpu ]] && echo cpu || nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dry=false
[[ $device == cuda ]] || dry=true  # cpu, or every rank on one GPU: plumbing, no scaling numbers
printf '{"bench": "dp_machine", "device": "%s", "device_name": "%s", "gpus": %s, "dry_run": %s, "date": "%s", "commit": "%s"}\n' \
  "$device" "${name:-unknown}" "$gpus" "$dry" "$(date -u +%F)" "$commit" >>"$out/multi.jsonl"
for s in ${steps//,/ }; do
  t0=$SECONDS
  limit=${caps[$s]}
  l=$((SRA_MULTI_T_END - $(date +%s)))
  ((l - 5 < limit)) && limit=$((l - 5))
  if ((limit < 20)); then
    printf '%-8s skip %4ds  (out of time)\n' "$s" 0 | tee -a "$summary"
    status=1
    continue
  fi
  export SRA_MULTI_STEP_END=$(($(date +%s) + limit - 5))  # its commands end first; the timeout is a backstop
  timeout -k 10 "$limit" "$self" __step "$s" >"$out/$s.log" 2>&1
  rc=$?
  ((rc != 0)) && status=1
  res=ok
  ((rc == 124 || rc == 137)) && res=TIME
  ((rc != 0 && rc != 124 && rc != 137)) && res=FAIL
  printf '%-8s %-4s %4ds  (log: %s.log)\n' "$s" "$res" $((SECONDS - t0)) "$s" | tee -a "$summary"
  ((rc != 0)) && tail -n 30 "$out/$s.log"
  [[ $s == build && $rc != 0 ]] && break
done
# the runs' small files (configs, metrics, eval summaries, logs), no checkpoints
out_abs=$(cd "$out" && pwd)
(cd "$work" && find . \( -name '*.yaml' -o -name 'metrics.jsonl' -o -name 'summary.json' -o -name '*.md' \
  -o -name '*.log' -o -name 'samples.jsonl' -o -name '*.txt' \) -print0 | tar -czf "$out_abs/runs.tar.gz" --null -T -)
echo "== gpu_multi summary" | tee -a "$summary"
check table "$out/multi.jsonl" | tee -a "$summary"
echo "JSON lines: $out/multi.jsonl" | tee -a "$summary"
exit $status
