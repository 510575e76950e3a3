#!/usr/bin/env python3
"""Merges the training-step benchmark lines of one GPU call (tools/gpu_check.sh, step "bench").

Reads the JSON line of `sra bench train` and those of ../shared/bench/torch_reference.py train
(--compile and eager) from their logs (the last line of each log that parses as a JSON object with the
expected fields; the logs also hold stderr), checks that they ran the same model, and writes one line
to --out (bench.jsonl): ours, augmented with

  torch_compile_tokens_per_s, ratio (ours / torch.compile), torch_eager_tokens_per_s,
  torch_compile_mfu, torch_compile_peak_mem_gib (the reference's fields, same call, same GPU).

With --attn (the log of `sra bench attention --json` and torch_reference.py attn, one line per length
each), one more line per length: ours (bench "attn") with dense_ms (PyTorch's causal SDPA, bf16),
torch_sra_ms (the PyTorch user's SRA), speedup_vs_dense = dense_ms / sra_ms, our_speedup =
our_dense_ms / sra_ms and ideal_speedup = 1 / pair_fraction; and a second table.

Prints the tables. Exit status 1 when a line is missing or the models differ (what exists is still
written and printed).

  python3 tools/bench_merge.py --sra bench_sra.log --torch-compile bench_torch_compile.log \\
      --torch-eager bench_torch_eager.log --out bench.jsonl
"""
import argparse
import json
import sys


def last_json(path, key, value):
    """The last JSON object in the file at `path` whose `key` equals `value`, or None."""
    found = all_json(path, key, value)
    return found[-1] if found else None


def torch_config(t):
    return f"d{t['d']}-L{t['layers']}-T{t['seq']}-B{t['batch']}-V{t['vocab']}"


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sra", required=True, help="log holding `sra bench train`'s JSON line")
    p.add_argument("--torch-compile", required=True, help="log of torch_reference.py train --compile")
    p.add_argument("--torch-eager", required=True, help="log of torch_reference.py train")
    p.add_argument("--attn", help="log of sra bench attention --json and torch_reference.py attn")
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
        print(f"ratio sra / torch.compile: {merged['ratio']:.3f}")
    if a.attn:
        ok = merge_attn(a.attn, a.out) and ok
    return 0 if ok else 1


def all_json(path, key, value):
    """Every JSON object in the file at `path` whose `key` equals `value`."""
    found = []
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                line = line.strip()
                if line.startswith("{"):
                    try:
                        obj = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(obj, dict) and obj.get(key) == value:
                        found.append(obj)
    except OSError as e:
        print(f"bench_merge: {path}: {e.strerror}", file=sys.stderr)
    return found


def merge_attn(path, out_path):
    """Appends one merged line per length of ours to out_path and prints the table; False if any is missing."""
    ours = all_json(path, "bench", "attn")
    torch = {t["seq"]: t for t in all_json(path, "mode", "attn")}
    ok = bool(ours)
    if not ours:
        print(f"bench_merge: no `sra bench attention` line in {path}", file=sys.stderr)
    print(f"\nattention core forward+backward (B=1), ours {ours[0]['dtype'] if ours else '?'}, PyTorch bf16")
    print(f"{'seq':>6}{'pairs':>8}{'ideal':>7}{'sra ms':>9}{'our dense':>10}{'SDPA ms':>9}{'torch sra':>10}"
          f"{'vs SDPA':>9}{'vs ours':>9}")
    with open(out_path, "a", encoding="utf-8") as f:
        for o in ours:
            t = torch.get(o["seq"])
            if t is None:
                print(f"bench_merge: no torch_reference.py attn line for seq {o['seq']}", file=sys.stderr)
                ok = False
            m = dict(o)
            m["dense_ms"] = t["dense_ms"] if t else None
            m["torch_sra_ms"] = t["torch_sra_ms"] if t else None
            m["speedup_vs_dense"] = round(t["dense_ms"] / o["sra_ms"], 3) if t else None
            m["our_speedup"] = round(o["our_dense_ms"] / o["sra_ms"], 3)
            m["ideal_speedup"] = round(1 / o["pair_fraction"], 2)
            f.write(json.dumps(m, separators=(",", ":")) + "\n")
            print(f"{o['seq']:>6}{o['pair_fraction']:>8.3f}{m['ideal_speedup']:>7.2f}{o['sra_ms']:>9.2f}"
                  f"{o['our_dense_ms']:>10.2f}{fmt(m['dense_ms'], '.2f'):>9}{fmt(m['torch_sra_ms'], '.2f'):>10}"
                  f"{fmt(m['speedup_vs_dense'], '.3f'):>9}{m['our_speedup']:>9.2f}")
    return ok


if __name__ == "__main__":
    sys.exit(main())
