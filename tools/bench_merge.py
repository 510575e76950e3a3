#!/usr/bin/env python3
"""Merges the training-step benchmark lines of one GPU call (tools/gpu_check.sh, step "bench").

Reads the JSON line of `sra bench train` and those of ../shared/bench/torch_reference.py train
(--compile and eager) from their logs (the last line of each log that parses as a JSON object with the
expected fields; the logs also hold stderr), checks that they ran the same model, and writes one line
to --out (bench.jsonl): ours, augmented with

  torch_compile_tokens_per_s, ratio (ours / torch.compile), torch_eager_tokens_per_s,
  torch_compile_mfu, torch_compile_peak_mem_gib (the reference's fields, same call, same GPU).

Prints one table. Exit status 1 when a line is missing or the models differ (what exists is still
written and printed).

  python3 tools/bench_merge.py --sra bench_sra.log --torch-compile bench_torch_compile.log \\
      --torch-eager bench_torch_eager.log --out bench.jsonl
"""
import argparse
import json
import sys


def last_json(path, key, value):
    """The last JSON object in the file at `path` whose `key` equals `value`, or None."""
    found = None
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                line = line.strip()
                if not line.startswith("{"):
                    continue
                try:
                    obj = json.loads(line)
                except ValueError:
                    continue
                if isinstance(obj, dict) and obj.get(key) == value:
                    found = obj
    except OSError as e:
        print(f"bench_merge: {path}: {e.strerror}", file=sys.stderr)
    return found


def torch_config(t):
    return f"d{t['d']}-L{t['layers']}-T{t['seq']}-B{t['batch']}-V{t['vocab']}"


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sra", required=True, help="log holding `sra bench train`'s JSON line")
    p.add_argument("--torch-compile", required=True, help="log of torch_reference.py train --compile")
    p.add_argument("--torch-eager", required=True, help="log of torch_reference.py train")
    p.add_argument("--out", required=True, help="bench.jsonl to write")
    a = p.parse_args()

    ours = last_json(a.sra, "bench", "train")
    tc = last_json(a.torch_compile, "mode", "train")
    te = last_json(a.torch_eager, "mode", "train")
    ok = True
    for name, line in (("sra bench train", ours), ("torch.compile", tc), ("torch eager", te)):
        if line is None:
            print(f"bench_merge: no JSON line from {name}", file=sys.stderr)
            ok = False
    for name, t in (("torch.compile", tc), ("torch eager", te)):
        if ours is not None and t is not None and torch_config(t) != ours["config"]:
            print(f"bench_merge: {name} ran {torch_config(t)}, ours {ours['config']}", file=sys.stderr)
            ok = False

    if ours is not None:
        merged = dict(ours)
        merged["torch_compile_tokens_per_s"] = tc["tokens_per_s"] if tc else None
        merged["ratio"] = round(ours["tokens_per_s"] / tc["tokens_per_s"], 3) if tc else None
        merged["torch_eager_tokens_per_s"] = te["tokens_per_s"] if te else None
        merged["torch_compile_mfu"] = tc["mfu_989"] if tc else None
        merged["torch_compile_peak_mem_gib"] = tc["peak_mem_gib"] if tc else None
        with open(a.out, "w", encoding="utf-8") as f:
            f.write(json.dumps(merged, separators=(",", ":")) + "\n")

    config = ours["config"] if ours else (torch_config(tc) if tc else "?")
    device = (ours or tc or te or {}).get("device", "?")
    print(f"training step {config} on {device}" + (f", {ours['date']}" if ours else ""))
    print(f"{'impl':<15}{'precision':<15}{'tokens/s':>10}{'step ms':>10}{'MFU':>8}{'peak GiB':>10}")
    rows = []
    if ours:
        rows.append(("sra", ours["precision"], ours["tokens_per_s"], ours["step_ms"], ours["mfu"], ours["peak_mem_gib"]))
    for name, t in (("torch.compile", tc), ("torch.eager", te)):
        if t:
            rows.append((name, "bf16 autocast", t["tokens_per_s"], t["ms_per_step"], t["mfu_989"], t["peak_mem_gib"]))
    for impl, prec, tps, ms, mfu, mem in rows:
        print(f"{impl:<15}{prec:<15}{fmt(tps, 'd'):>10}{fmt(ms, '.1f'):>10}{fmt(mfu, '.1%'):>8}{fmt(mem, '.2f'):>10}")
    if ours and tc:
        print(f"ratio sra / torch.compile: {ours['tokens_per_s'] / tc['tokens_per_s']:.3f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
