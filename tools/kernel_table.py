#!/usr/bin/env python3
"""Per-kernel time table from `ncu --csv --metrics gpu__time_duration.sum` output or tools/torch_profile.py's
CSV (GPU-machine tool).

Groups the profiled launches by kernel name and by class (attention, GEMM, norm, elementwise, ...), prints
a markdown table of total ms, share and launch count, divided by --steps (the profiled steps), and
a JSON line with the per-class ms per step."""
import argparse, csv, gzip, json, re, sys
from collections import defaultdict

CLASSES = [  # first match wins
    ("triton fused", r"^triton_"),
    ("attention", r"attention|flash|forward_kernel|dq_kernel|dkv_kernel|decode"),
    ("gemm", r"gemm|xmma|cutlass|cublas|sm90_|matmul|nvjet"),
    ("cross_entropy", r"cross_entropy|log_softmax|nll"),
    ("rmsnorm", r"rms"),
    ("rope", r"rope"),
    ("swiglu/silu", r"swiglu|silu"),
    ("adamw", r"adam"),
    ("cast/copy", r"cast|copy|convert|strided|widen|narrow|to_bf16|to_f32|transpose"),
    ("embedding", r"embed"),
    ("reduce", r"reduce|sum|norm|max"),
    ("elementwise", r"elementwise|binary|unary|add|mul|scale|fill|axpy"),
]


def classify(name):
    low = name.lower()
    for cls, pat in CLASSES:
        if re.search(pat, low):
            return cls
    return "other"


def to_ms(value, unit):
    v = float(value.replace(",", ""))
    scale = {"nsecond": 1e-6, "ns": 1e-6, "usecond": 1e-3, "us": 1e-3, "msecond": 1.0, "ms": 1.0, "second": 1e3, "s": 1e3}
    if unit not in scale:
        sys.exit(f"kernel_table: unknown time unit '{unit}'")
    return v * scale[unit]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("csv_file")
    ap.add_argument("--steps", type=float, default=1.0, help="profiled steps (totals are divided by it)")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--label", default="sra")
    a = ap.parse_args()
    opener = gzip.open if a.csv_file.endswith(".gz") else open
    lines = opener(a.csv_file, "rt", errors="replace").read().splitlines()
    by_name, count = defaultdict(float), defaultdict(int)
    if lines and lines[0] == "kernel,ms,launches":  # tools/torch_profile.py
        for row in csv.DictReader(lines):
            name = re.sub(r"\(.*", "", row["kernel"]).strip()[:90]
            by_name[name] += float(row["ms"])
            count[name] += int(row["launches"])
    else:  # ncu --csv
        start = next((i for i, l in enumerate(lines) if l.startswith('"ID"')), None)
        if start is None:
            sys.exit(f"kernel_table: no ncu CSV header in {a.csv_file}")
        for row in csv.DictReader(lines[start:]):
            if row.get("Metric Name") != "gpu__time_duration.sum":
                continue
            name = re.sub(r"\(.*", "", row["Kernel Name"]).strip()[:90]
            by_name[name] += to_ms(row["Metric Value"], row["Metric Unit"])
            count[name] += 1
    total = sum(by_name.values())
    if total <= 0:
        sys.exit("kernel_table: no kernel durations found")
    by_class, class_count = defaultdict(float), defaultdict(int)
    for n, ms in by_name.items():
        by_class[classify(n)] += ms
        class_count[classify(n)] += count[n]
    s = a.steps
    print(f"kernel time per step: {total / s:.2f} ms over {sum(count.values()) / s:.0f} launches\n")
    print("| class | ms/step | share | launches/step |\n|---|---|---|---|")
    for c, ms in sorted(by_class.items(), key=lambda kv: -kv[1]):
        print(f"| {c} | {ms / s:.2f} | {100 * ms / total:.1f}% | {class_count[c] / s:.0f} |")
    print(f"\n| kernel (top {a.top}) | class | ms/step | share | launches/step |\n|---|---|---|---|---|")
    for n, ms in sorted(by_name.items(), key=lambda kv: -kv[1])[: a.top]:
        print(f"| `{n}` | {classify(n)} | {ms / s:.3f} | {100 * ms / total:.1f}% | {count[n] / s:.0f} |")
    print(json.dumps({"bench": "kernel_table", "impl": a.label, "kernel_ms_per_step": round(total / s, 3),
                      "class_ms_per_step": {c: round(v / s, 3) for c, v in by_class.items()}}))


if __name__ == "__main__":
    main()
