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
  tools/demo_gpu_report.py sweep-curves WORK_DIR OUT_PNG --labels "A,B,..."
      tools/sweep_gpu.sh's curves: WORK_DIR/run1, run2, ... (one per label, in order; a variant the sweep
      skipped has no run directory and no label) — training loss, validation accuracy and selected ratio of
      the training runs, reward / accuracy / selected ratio of the RL runs
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


ALPHA = 0.05           # McNemar significance for the goals' gains
RATIO_TOLERANCE = 0.1  # the threshold shift's selected ratio within 10% of RL's counts as "equal ratio"
STATUSES = ("met", "not met", "not measurable")


def find_pair(paired, a, b):
    return next((p for p in paired if {p["a"], p["b"]} == {a, b}), None)


def fmt_p(p):
    return "—" if p is None else f"{p:.3g}"


def goal(name, value, status, detail, p_value=None, gain_p_value=None):
    # "met" stays in the record for older readers: true / false, null when not measurable. p_value: the
    # McNemar p of the goal's own comparison; gain_p_value: that of the gain a ratio goal is relative to.
    g = {"goal": name, "value": value, "status": status,
         "met": None if status == "not measurable" else status == "met", "detail": detail}
    if p_value is not None:
        g["p_value"] = p_value
    if gain_p_value is not None:
        g["gain_p_value"] = gain_p_value
    return g


def goals(rows, paired):
    by = {r["label"]: r for r in rows}
    g = []
    std, cot, sra, rl, shift = (by.get(k) for k in ROWS)
    if std and cot and sra:
        name = "SRA CoT keeps >= 95% of Dense CoT's gain over Dense Standard"
        gain = accuracy(cot) - accuracy(std)
        sra_gain = accuracy(sra) - accuracy(std)
        pair = find_pair(paired, std["label"], cot["label"])
        p = pair["p_value"] if pair else None
        sra_pair = find_pair(paired, std["label"], sra["label"])
        sra_p = sra_pair["p_value"] if sra_pair else None
        sra_detail = f"SRA CoT {100 * sra_gain:+.1f} points over Dense Standard (p = {fmt_p(sra_p)})"
        if gain > 0 and p is not None and p < ALPHA:
            kept = sra_gain / gain
            g.append(goal(name, kept, "met" if kept >= 0.95 else "not met",
                          f"Dense CoT's gain {100 * gain:+.1f} points (p = {fmt_p(p)}); {sra_detail}",
                          gain_p_value=p))
        else:
            why = "not positive" if gain <= 0 else ("not significant" if p is not None else "without a McNemar test")
            g.append(goal(name, None, "not measurable",
                          f"Dense CoT's gain over Dense Standard is {100 * gain:+.1f} points (p = {fmt_p(p)}; "
                          f"{why}, so there is no gain to keep); {sra_detail}", gain_p_value=p))
        att = sra["attention_flops_per_query"] / cot["attention_flops_per_query"] \
            if cot["attention_flops_per_query"] > 0 else None
        g.append(goal("SRA CoT attention FLOPs <= 35% of Dense CoT's", att,
                      "not measurable" if att is None else ("met" if att <= 0.35 else "not met"), ""))
        lat = sra["latency_ms"]["mean"] / cot["latency_ms"]["mean"] if cot["latency_ms"]["mean"] > 0 else None
        g.append(goal("SRA CoT latency below Dense CoT's", lat,
                      "not measurable" if lat is None else ("met" if lat < 1.0 else "not met"),
                      f"mean latency ratio, {sra['latency_ms']['mean']:.1f} vs {cot['latency_ms']['mean']:.1f} ms"))
    if rl and shift:
        name = "SRA CoT + RL >= 2 points over the threshold shift at equal ratio, McNemar p < 0.05"
        pair = find_pair(paired, rl["label"], shift["label"])
        delta = 100 * (accuracy(rl) - accuracy(shift))
        p = pair["p_value"] if pair else None
        r_rl, r_shift = rl["selected_ratio"], shift["selected_ratio"]
        detail = (f"selected ratio {r_rl:.4f} (RL) vs {r_shift:.4f} "
                  f"(shift, offset {shift.get('threshold_offset', 0):+.3f})")
        equal = abs(r_shift - r_rl) <= RATIO_TOLERANCE * max(abs(r_rl), 1e-12) or r_rl == r_shift
        if not equal:
            g.append(goal(name, delta, "not measurable",
                          f"the ratios are not equal (beyond {100 * RATIO_TOLERANCE:.0f}%): {detail}; "
                          f"RL {delta:+.1f} points over the shift (p = {fmt_p(p)})", p))
        elif p is None:
            g.append(goal(name, delta, "not measurable", f"no McNemar test for the pair; {detail}"))
        else:
            g.append(goal(name, delta, "met" if delta >= 2 and p < ALPHA else "not met", detail, p))
    return g


def read_config(path):
    """The nested mappings of a config.yaml as `sra` writes it (block style, two-space indents, scalars and
    flow lists kept as strings unless numeric); {} when the file is missing."""
    if not os.path.exists(path):
        return {}
    root = {}
    stack = [(-1, root)]
    with open(path) as f:
        for raw in f:
            if not raw.strip() or raw.lstrip().startswith("#"):
                continue
            indent = len(raw) - len(raw.lstrip(" "))
            key, sep, value = raw.strip().partition(":")
            if not sep:
                continue
            while stack[-1][0] >= indent:
                stack.pop()
            parent = stack[-1][1]
            value = value.strip()
            if not value:
                parent[key] = {}
                stack.append((indent, parent[key]))
                continue
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                parent[key] = value[1:-1]
                continue
            for conv in (int, float):
                try:
                    parent[key] = conv(value)
                    break
                except ValueError:
                    pass
            else:
                parent[key] = value
    return root


TASK_KEYS = ("min_hops", "max_hops", "min_distractors", "max_distractors", "context_chars", "unused_variables",
             "max_value")


def span(lo, hi):
    return "—" if lo is None and hi is None else (f"{lo}" if lo == hi or hi is None else f"{lo}-{hi}")


def task_info(work, rows, overrides):
    """The task every row was evaluated on: `sra eval --compare` draws its test problems from the first
    checkpoint's data.synthetic settings (its config.yaml beside the checkpoint; WORK_DIR/dense-std's when
    that path does not resolve), the prompt lengths from the eval rows."""
    cands = []
    if rows and rows[0].get("checkpoint"):
        cands.append(os.path.join(os.path.dirname(rows[0]["checkpoint"]), "config.yaml"))
    cands += [os.path.join(work, name, "config.yaml") for name, _ in RUNS[:3]]
    source = next((c for c in cands if os.path.exists(c)), None)
    cfg = read_config(source) if source else {}
    syn = cfg.get("data", {}).get("synthetic", {}) if isinstance(cfg.get("data"), dict) else {}
    t = {"dataset": cfg.get("data", {}).get("dataset") if cfg else None,
         "config": source, "overrides": overrides or ""}
    for k in TASK_KEYS:
        t[k] = syn.get(k)
    # the other models' tasks (Dense Standard differs in data.synthetic.form only): say when they differ
    differ = []
    for name, label in RUNS[:3]:
        other = read_config(os.path.join(work, name, "config.yaml")).get("data", {})
        osyn = other.get("synthetic", {}) if isinstance(other, dict) else {}
        if osyn and any(osyn.get(k) != syn.get(k) for k in TASK_KEYS):
            differ.append(label)
    t["trained_on_other_task"] = differ
    prompts = [r["prompt_tokens_mean"] for r in rows if r.get("prompt_tokens_mean") is not None]
    t["prompt_tokens_mean"] = prompts[0] if prompts else None
    t["prompt_tokens_mean_range"] = [min(prompts), max(prompts)] if prompts else None
    return t


def task_text(t):
    parts = []
    if t.get("min_hops") is not None or t.get("max_hops") is not None:
        parts.append(f"{span(t.get('min_hops'), t.get('max_hops'))} hops")
    if t.get("min_distractors") is not None or t.get("max_distractors") is not None:
        parts.append(f"{span(t.get('min_distractors'), t.get('max_distractors'))} distractor sentences")
    if t.get("context_chars"):
        parts.append(f"context padded to >= {t['context_chars']} characters")
    rng = t.get("prompt_tokens_mean_range")
    if rng:
        lo, hi = rng
        parts.append(f"mean prompt {lo:.0f} tokens" if round(lo) == round(hi)
                     else f"mean prompt {lo:.0f}-{hi:.0f} tokens across rows")
    if not t.get("config"):
        parts.append("task settings unknown: no config.yaml found")
    return ", ".join(parts)


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
    t = meta.get("task", {})
    out = [f"# The GPU table — {meta['date']}, {meta['device_name']}", "",
           f"{n} held-out synthetic test problems (test split; {task_text(t)}), greedy answers, "
           f"one `sra eval --compare` call; budget {meta['budget_s']} s after a {meta['build_s']} s build."]
    if t.get("overrides"):
        out.append(f"Task and model overrides (SRA_DEMO_SET): `{t['overrides']}`.")
    if t.get("trained_on_other_task"):
        out.append(f"Note: {', '.join(t['trained_on_other_task'])} trained on other synthetic settings than "
                   f"the test problems ({t['config']}).")
    out += ["",
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
        if g["status"] == "not measurable":  # no value to judge: the reason instead
            out.append(f"- {g['goal']}: **not measurable**: {g['detail']}")
            continue
        shown = "—" if v is None else (f"{v:+.1f} points" if "points" in g["goal"] else f"{100 * v:.1f}%")
        p = f", p = {g['p_value']:.3g}" if g.get("p_value") is not None else ""
        out.append(f"- {g['goal']}: {shown}{p} — **{g['status']}**" + (f"; {g['detail']}" if g["detail"] else ""))
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


def pyplot():  # matplotlib's pyplot on the Agg backend, or None when matplotlib is missing
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def finish_grid(fig, ax, titles, path):  # the 2 x 2 grid's titles and legends, the loss axis log, saved
    for i in range(2):
        for j in range(2):
            ax[i][j].set_title(titles[i][j])
            ax[i][j].set_xlabel("step")
            if ax[i][j].lines:
                ax[i][j].legend(fontsize=8)
    ax[0][0].set_yscale("log")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def curves(work, path):
    plt = pyplot()
    if plt is None:
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
    finish_grid(fig, ax, [["training loss (answer tokens)", "validation accuracy (greedy, val split)"],
                          ["SRA selected ratio (training)", "RL (router only): per step"]], path)
    return "drawn"


def cmd_sweep_curves(work, path, labels):
    plt = pyplot()
    if plt is None:
        print("sweep curves: not drawn (matplotlib missing)")
        return 0
    fig, ax = plt.subplots(2, 2, figsize=(12, 8))
    for i, label in enumerate(labels):
        m = read_jsonl(os.path.join(work, f"run{i + 1}", "metrics.jsonl"))
        if not m:
            print(f"error: {work}/run{i + 1}/metrics.jsonl (variant '{label}') is missing or empty",
                  file=sys.stderr)
            return 1
        if any("reward" in r for r in m):  # an RL run
            rl = [r for r in m if "reward" in r]
            ax[1][1].plot([r["step"] for r in rl], [r["reward"] for r in rl], color=f"C{i}",
                          label=f"{label}: reward")
            ax[1][1].plot([r["step"] for r in rl], [r["selected_ratio"] for r in rl], "--", color=f"C{i}",
                          label=f"{label}: selected ratio")
            continue
        t = [r for r in m if "loss" in r]
        ax[0][0].plot([r["step"] for r in t], [r["loss"] for r in t], color=f"C{i}", label=label, lw=0.8)
        v = [r for r in m if r.get("val_accuracy") is not None]
        ax[0][1].plot([r["step"] for r in v], [r["val_accuracy"] for r in v], "o-", ms=3, color=f"C{i}",
                      label=label)
        s = [r for r in t if r.get("selected_ratio")]
        if s:
            ax[1][0].plot([r["step"] for r in s], [r["selected_ratio"] for r in s], color=f"C{i}", label=label,
                          lw=0.8)
    finish_grid(fig, ax, [["training loss (answer tokens)", "validation accuracy (greedy, val split)"],
                          ["selected ratio (training)", "RL runs: reward and selected ratio per step"]], path)
    print(f"sweep curves: {path}")
    return 0


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
            "build_s": args.build_seconds, "task": task_info(args.work, rows, args.overrides)}
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
    gl = []
    if "summary.json" in files:
        lines = [json.loads(line) for line in open(os.path.join(out, "summary.json")) if line.strip()]
        kinds = [line["type"] for line in lines]
        if kinds.count("row") != len(ROWS):
            errors.append(f"summary.json has {kinds.count('row')} rows, expected {len(ROWS)}")
        gl = [line for line in lines if line["type"] == "goal"]
        for g in gl:
            if g.get("status") not in STATUSES:
                errors.append(f"summary.json goal '{g.get('goal')}' has status {g.get('status')!r}, "
                              f"expected one of {STATUSES}")
            elif g.get("met") is not (None if g["status"] == "not measurable" else g["status"] == "met"):
                errors.append(f"summary.json goal '{g['goal']}': met {g.get('met')!r} disagrees with status "
                              f"'{g['status']}'")
    if "table.md" in files:
        text = open(os.path.join(out, "table.md")).read()
        for label in ROWS:
            if f"| {label} | " not in text:
                errors.append(f"table.md has no row '{label}'")
        for g in gl:
            if g.get("status") in STATUSES and f"- {g['goal']}: " not in text:
                errors.append(f"table.md has no goal '{g['goal']}'")
            elif g.get("status") in STATUSES and f"**{g['status']}**" not in \
                    text.split(f"- {g['goal']}: ", 1)[1].split("\n", 1)[0]:
                errors.append(f"table.md's goal '{g['goal']}' does not say **{g['status']}**")
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
    r.add_argument("--overrides", default="", help="the --set overrides of the run (SRA_DEMO_SET), listed")
    w = sub.add_parser("sweep-curves")
    w.add_argument("work")
    w.add_argument("out_png")
    w.add_argument("--labels", required=True, help="the variants' labels, comma-separated, in run order")
    c = sub.add_parser("check")
    c.add_argument("out")
    args = ap.parse_args()
    if args.cmd == "solved":
        return cmd_solved(args.eval_dir)
    if args.cmd == "report":
        return cmd_report(args)
    if args.cmd == "sweep-curves":
        return cmd_sweep_curves(args.work, args.out_png, args.labels.split(","))
    return cmd_check(args.out)


if __name__ == "__main__":
    sys.exit(main())
