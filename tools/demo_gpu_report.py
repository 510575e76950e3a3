#!/usr/bin/python3
"""Assembles tools/demo_gpu.sh's results (the GPU table of issue 19) from its work directory; standard
library only (matplotlib, when importable, for curves.png).

usage:
  tools/demo_gpu_report.py solved EVAL_DIR
      prints the prompt of the first test problem that "SRA CoT + RL" answered correctly (its
      samples.jsonl; the first problem when none was), for `sra generate --show-selection --html`
  tools/demo_gpu_report.py report WORK_DIR OUT_DIR [--device D] [--budget S] [--build-seconds S]
                                  [--overrides "k=v k=v"]
      reads WORK_DIR/{dense-std,dense-cot,sra-cot,rl}/metrics.jsonl and config.yaml, WORK_DIR/eval/ (sra
      eval --compare --out) and WORK_DIR/stages.jsonl; the task line of the table (hops, distractors,
      context length, mean prompt tokens) comes from the config of the first checkpoint compared (whose
      test problems every row answers) and the eval summary, with --overrides (demo_gpu.sh's SRA_DEMO_SET)
      listed; writes OUT_DIR/table.md (the table, the goals of issue 19 measured,
      McNemar for every pair, the training runs, the stage times), OUT_DIR/summary.json (JSON lines, each
      with a "type": meta, row, paired, goal, run, stage), OUT_DIR/curves.png (training loss, validation
      accuracy, selected ratio, RL reward; skipped with a note when matplotlib is missing) and
      OUT_DIR/metrics.tar.gz (every run's metrics.jsonl and config.yaml, the eval summaries and each row's
      per-problem verdicts without the prompts; no checkpoints)
  tools/demo_gpu_report.py check OUT_DIR
      fails (exit 1) unless OUT_DIR holds at most 8 files, among them demo_gpu.log, table.md, summary.json,
      audit.html and metrics.tar.gz, summary.json's lines parse, the table has its five rows and every
      goal has a status "met", "not met" or "not measurable" (the same in table.md and summary.json)

Goals (issue 19): SRA CoT keeps >= 95% of Dense CoT's accuracy gain over Dense Standard at <= 35% of Dense
CoT's attention FLOPs and a lower latency; SRA CoT + RL beats the threshold shift at the same selected
ratio by >= 2 points with McNemar p < 0.05. Each goal gets a status: "met", "not met", or "not measurable"
when what it is measured against is not there: the 95% retention needs a positive Dense CoT gain over Dense
Standard with McNemar p < 0.05 (a ratio of a gain that is noise means nothing), the RL goal needs the
threshold shift's selected ratio within 10% of RL's (--match-ratio calibrates on val problems).
"""
import argparse
import io
import json
import math
import os
import sys
import tarfile
import time

ROWS = ["Dense Standard", "Dense CoT", "SRA CoT", "SRA CoT + RL", "Threshold shift"]
RUNS = [("dense-std", "Dense Standard"), ("dense-cot", "Dense CoT"), ("sra-cot", "SRA CoT"),
        ("rl", "SRA CoT + RL (router RL)")]


def safe_name(label):  # eval/evaluate.cpp safe_name
    s = "".join(c if (c.isalnum() and c.isascii()) or c in "._-" else "_" for c in label)
    return s or "model"


def read_jsonl(path):
    out = []
    if not os.path.exists(path):
        return out
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                out.append(json.loads(line))
    return out


def cmd_solved(eval_dir):
    samples = read_jsonl(os.path.join(eval_dir, safe_name("SRA CoT + RL"), "samples.jsonl"))
    if not samples:
        print(f"error: no samples under {eval_dir}", file=sys.stderr)
        return 1
    pick = next((s for s in samples if s.get("correct")), samples[0])
    print(f"audit trail: test problem {pick['index']} ({'solved' if pick.get('correct') else 'none solved: unsolved'} "
          f"by SRA CoT + RL, gold {pick['gold']})", file=sys.stderr)
    sys.stdout.write(pick["prompt"])
    return 0


def accuracy(row):
    return row["strict"]["accuracy"] if "strict" in row else row["accuracy"]


def correct_count(row):
    return row["strict"]["correct"] if "strict" in row else row["correct"]


def fmt(v, f="{:.3g}"):
    return "—" if v is None else f.format(v)


def goals(rows, paired):
    by = {r["label"]: r for r in rows}
    g = []
    std, cot, sra, rl, shift = (by.get(k) for k in ROWS)
    if std and cot and sra:
        gain = accuracy(cot) - accuracy(std)
        kept = (accuracy(sra) - accuracy(std)) / gain if gain > 0 else None
        g.append({"goal": "SRA CoT keeps >= 95% of Dense CoT's gain over Dense Standard",
                  "value": kept, "met": kept is not None and kept >= 0.95,
                  "detail": f"gain {100 * gain:+.1f} points; SRA CoT {100 * (accuracy(sra) - accuracy(std)):+.1f}"})
        att = sra["attention_flops_per_query"] / cot["attention_flops_per_query"] \
            if cot["attention_flops_per_query"] > 0 else None
        g.append({"goal": "SRA CoT attention FLOPs <= 35% of Dense CoT's", "value": att,
                  "met": att is not None and att <= 0.35, "detail": ""})
        lat = sra["latency_ms"]["mean"] / cot["latency_ms"]["mean"] if cot["latency_ms"]["mean"] > 0 else None
        g.append({"goal": "SRA CoT latency below Dense CoT's", "value": lat,
                  "met": lat is not None and lat < 1.0, "detail": "mean latency ratio"})
    if rl and shift:
        pair = next((p for p in paired if {p["a"], p["b"]} == {rl["label"], shift["label"]}), None)
        delta = 100 * (accuracy(rl) - accuracy(shift))
        p = pair["p_value"] if pair else None
        g.append({"goal": "SRA CoT + RL >= 2 points over the threshold shift at equal ratio, McNemar p < 0.05",
                  "value": delta, "p_value": p, "met": delta >= 2 and p is not None and p < 0.05,
                  "detail": f"selected ratio {rl['selected_ratio']:.4f} (RL) vs {shift['selected_ratio']:.4f} "
                            f"(shift, offset {shift.get('threshold_offset', 0):+.3f})"})
    return g


def run_summary(work, name, label, stages):
    m = read_jsonl(os.path.join(work, name, "metrics.jsonl"))
    if not m:
        return None
    last = m[-1]
    s = {"run": name, "label": label, "steps": last.get("step")}
    if "loss" in last and "reward" not in last:
        s["final_loss"] = last["loss"]
        vals = [r for r in m if "val_loss" in r]
        if vals:
            s["val_loss"] = vals[-1]["val_loss"]
        accs = [r for r in m if "val_accuracy" in r]
        if accs:
            s["val_accuracy"] = accs[-1]["val_accuracy"]
        tps = [r["tokens_per_s"] for r in m if r.get("tokens_per_s")]
        s["tokens_per_s"] = sorted(tps)[len(tps) // 2] if tps else None
        s["selected_ratio"] = last.get("selected_ratio")
    else:
        steps = [r for r in m if "reward" in r]
        k = max(1, len(steps) // 5)  # first and last fifth
        for key in ("reward", "accuracy", "selected_ratio"):
            if steps:
                s[key + "_first"] = sum(r[key] for r in steps[:k]) / k
                s[key + "_last"] = sum(r[key] for r in steps[-k:]) / k
    s["seconds"] = next((st["seconds"] for st in stages if st["stage"].startswith(label.split(" (")[0] + " (")
                         or (name == "rl" and st["stage"].startswith("RL"))), None)
    return s


def table_md(meta, rows, paired, gl, runs, stages):
    by = {r["label"]: r for r in rows}
    std, cot = by.get("Dense Standard"), by.get("Dense CoT")
    n = rows[0]["n"] if rows else 0
    out = [f"# The GPU table — {meta['date']}, {meta['device_name']}", "",
           f"{n} held-out synthetic test problems (test split; 2-6 hops in ~1250-token prompts), greedy answers, "
           f"one `sra eval --compare` call; budget {meta['budget_s']} s after a {meta['build_s']} s build.", "",
           "| Row | Accuracy | FLOPs / query (× Dense Standard) | Attention FLOPs (× Dense CoT) | Selected ratio | "
           "KV cache (KiB) | Latency mean / p95 (ms) | Prompt / answer tokens | θ offset |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        fl = r["flops_per_query"] / std["flops_per_query"] if std and std["flops_per_query"] > 0 else None
        at = r["attention_flops_per_query"] / cot["attention_flops_per_query"] \
            if cot and cot["attention_flops_per_query"] > 0 else None
        out.append(f"| {r['label']} | {100 * accuracy(r):.1f}% ({correct_count(r)}/{r['n']}) | {fmt(fl, '{:.2f}x')} | "
                   f"{fmt(at, '{:.2f}x')} | {r['selected_ratio']:.4f} | {r.get('kv_cache_bytes', 0) / 1024:.1f} | "
                   f"{r['latency_ms']['mean']:.1f} / {r['latency_ms']['p95']:.1f} | "
                   f"{r['prompt_tokens_mean']:.0f} / {r['answer_tokens_mean']:.1f} | "
                   f"{r.get('threshold_offset', 0):+.3f} |")
    out += ["", "## Goals (issue 19)", ""]
    for g in gl:
        v = g["value"]
        shown = "—" if v is None else (f"{v:+.1f} points" if "points" in g["goal"] else f"{100 * v:.1f}%")
        p = f", p = {g['p_value']:.3g}" if g.get("p_value") is not None else ""
        out.append(f"- {g['goal']}: {shown}{p} — **{'met' if g['met'] else 'not met'}** {g['detail']}")
    out += ["", "## Paired answers (McNemar, two-sided)", "",
            "| A | B | both | only A | only B | neither | Δ (B − A) | p |", "|---|---|---|---|---|---|---|---|"]
    for p in paired:
        d = 100 * (p["only_b"] - p["only_a"]) / max(1, p["n"])
        out.append(f"| {p['a']} | {p['b']} | {p['both']} | {p['only_a']} | {p['only_b']} | {p['neither']} | "
                   f"{d:+.1f} | {p['p_value']:.3g} ({p['method']}) |")
    out += ["", "## Runs", "", "| Run | Steps | Seconds | Tokens/s | Final loss | Val loss | Val accuracy | "
            "Selected ratio / RL reward, first → last fifth |", "|---|---|---|---|---|---|---|---|"]
    for s in runs:
        if "final_loss" in s:
            sel = fmt(s.get("selected_ratio"), "{:.3f}")
            out.append(f"| {s['label']} | {s['steps']} | {fmt(s['seconds'], '{}')} | {fmt(s.get('tokens_per_s'), '{:.0f}')} | "
                       f"{s['final_loss']:.4f} | {fmt(s.get('val_loss'), '{:.4f}')} | "
                       f"{fmt(s.get('val_accuracy'), '{:.3f}')} | {sel} |")
        else:
            out.append(f"| {s['label']} | {s['steps']} | {fmt(s['seconds'], '{}')} | — | — | — | "
                       f"acc {fmt(s.get('accuracy_first'), '{:.3f}')} → {fmt(s.get('accuracy_last'), '{:.3f}')} | "
                       f"sel {fmt(s.get('selected_ratio_first'), '{:.4f}')} → {fmt(s.get('selected_ratio_last'), '{:.4f}')}, "
                       f"reward {fmt(s.get('reward_first'), '{:.3f}')} → {fmt(s.get('reward_last'), '{:.3f}')} |")
    out += ["", "Stages: " + ", ".join(f"{s['stage']} {s['seconds']} s" for s in stages), ""]
    return "\n".join(out)


def curves(work, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "not drawn (matplotlib missing)"
    fig, ax = plt.subplots(2, 2, figsize=(12, 8))
    for name, label in RUNS[:3]:
        m = read_jsonl(os.path.join(work, name, "metrics.jsonl"))
        ax[0][0].plot([r["step"] for r in m], [r["loss"] for r in m], label=label, lw=0.8)
        v = [r for r in m if "val_accuracy" in r]
        ax[0][1].plot([r["step"] for r in v], [r["val_accuracy"] for r in v], "o-", label=label)
        if name == "sra-cot":
            ax[1][0].plot([r["step"] for r in m], [r["selected_ratio"] for r in m], label="SRA CoT (training)")
    rl = [r for r in read_jsonl(os.path.join(work, "rl", "metrics.jsonl")) if "reward" in r]
    if rl:
        ax[1][1].plot([r["step"] for r in rl], [r["reward"] for r in rl], label="reward")
        ax[1][1].plot([r["step"] for r in rl], [r["accuracy"] for r in rl], label="rollout accuracy")
        ax[1][1].plot([r["step"] for r in rl], [r["selected_ratio"] for r in rl], label="selected ratio")
    titles = [["training loss (answer tokens)", "validation accuracy (greedy, val split)"],
              ["SRA selected ratio (training)", "RL (router only): per step"]]
    for i in range(2):
        for j in range(2):
            ax[i][j].set_title(titles[i][j])
            ax[i][j].set_xlabel("step")
            ax[i][j].legend(fontsize=8)
    ax[0][0].set_yscale("log")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return "drawn"


def metrics_tar(work, path):
    with tarfile.open(path, "w:gz") as tar:
        for root, _, files in os.walk(work):
            for f in sorted(files):
                full = os.path.join(root, f)
                rel = os.path.relpath(full, work)
                if f.endswith(".h5") or f.endswith(".model") or f.endswith(".vocab") or "corpus" in f:
                    continue
                if f == "samples.jsonl":  # per-problem verdicts, without the long prompts
                    slim = []
                    for s in read_jsonl(full):
                        s.pop("prompt", None)
                        slim.append(json.dumps(s))
                    data = ("\n".join(slim) + "\n").encode()
                    info = tarfile.TarInfo(rel.replace("samples.jsonl", "verdicts.jsonl"))
                    info.size = len(data)
                    info.mtime = int(time.time())
                    tar.addfile(info, io.BytesIO(data))
                elif f.endswith((".jsonl", ".json", ".yaml", ".md")):
                    tar.add(full, arcname=rel)


def finite(v):  # JSON has no NaN or infinity: null instead
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: finite(x) for k, x in v.items()}
    if isinstance(v, list):
        return [finite(x) for x in v]
    return v


def device_name(device):
    if device != "cuda":
        return "CPU"
    try:
        import subprocess
        return subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                              text=True, timeout=20).stdout.strip().splitlines()[0]
    except Exception:  # noqa: BLE001 - a name is a nicety
        return "GPU"


def cmd_report(args):
    ev = os.path.join(args.work, "eval", "summary.json")
    with open(ev) as f:
        summary = json.load(f)
    rows, paired = summary["rows"], summary.get("paired", [])
    stages = read_jsonl(os.path.join(args.work, "stages.jsonl"))
    runs = [s for s in (run_summary(args.work, n, l, stages) for n, l in RUNS) if s]
    gl = goals(rows, paired)
    meta = {"type": "meta", "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "device": args.device, "device_name": device_name(args.device), "budget_s": args.budget,
            "build_s": args.build_seconds}
    os.makedirs(args.out, exist_ok=True)
    meta["curves"] = curves(args.work, os.path.join(args.out, "curves.png"))
    with open(os.path.join(args.out, "table.md"), "w") as f:
        f.write(table_md(meta, rows, paired, gl, runs, stages))
    lines = [meta] + [dict(type="row", **r) for r in rows] + [dict(type="paired", **p) for p in paired] + \
        [dict(type="goal", **g) for g in gl] + [dict(type="run", **s) for s in runs] + \
        [dict(type="stage", **s) for s in stages]
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        for line in lines:
            f.write(json.dumps(finite(line), allow_nan=False) + "\n")
    metrics_tar(args.work, os.path.join(args.out, "metrics.tar.gz"))
    print(f"report: {args.out}/table.md, summary.json ({len(lines)} lines), metrics.tar.gz, curves.png "
          f"{meta['curves']}")
    return 0


def cmd_check(out):
    files = sorted(os.listdir(out))
    errors = []
    if len(files) > 8:
        errors.append(f"{len(files)} files (at most 8): {files}")
    for need in ("demo_gpu.log", "table.md", "summary.json", "audit.html", "metrics.tar.gz"):
        if need not in files:
            errors.append(f"missing {need}")
    if "summary.json" in files:
        kinds = [json.loads(line)["type"] for line in open(os.path.join(out, "summary.json")) if line.strip()]
        if kinds.count("row") != len(ROWS):
            errors.append(f"summary.json has {kinds.count('row')} rows, expected {len(ROWS)}")
    if "table.md" in files:
        text = open(os.path.join(out, "table.md")).read()
        for label in ROWS:
            if f"| {label} | " not in text:
                errors.append(f"table.md has no row '{label}'")
    for e in errors:
        print(f"error: check {out}: {e}", file=sys.stderr)
    return 1 if errors else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("solved")
    s.add_argument("eval_dir")
    r = sub.add_parser("report")
    r.add_argument("work")
    r.add_argument("out")
    r.add_argument("--device", default="cuda")
    r.add_argument("--budget", type=int, default=0)
    r.add_argument("--build-seconds", type=int, default=0)
    c = sub.add_parser("check")
    c.add_argument("out")
    args = ap.parse_args()
    if args.cmd == "solved":
        return cmd_solved(args.eval_dir)
    if args.cmd == "report":
        return cmd_report(args)
    return cmd_check(args.out)


if __name__ == "__main__":
    sys.exit(main())
