#!/usr/bin/python3
"""Plots a run's metrics.jsonl into PNGs. `sra train`: loss (train and validation), learning rate, selected
ratio and throughput. `sra rl`: reward, accuracy and selected ratio (rollouts and held-out evaluations),
advantage std, KL to the initial router and decision entropy. Uses Debian's python3-matplotlib
(apt-get install python3-matplotlib).

usage: tools/plot.py RUN_DIR [--out DIR]      (reads RUN_DIR/metrics.jsonl, writes DIR/*.png, default RUN_DIR)
"""
import argparse
import json
import os
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dir")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    path = os.path.join(args.run_dir, "metrics.jsonl")
    rows = []
    try:
        with open(path) as f:
            for n, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    print(f"error: {path}:{n}: {e}", file=sys.stderr)
                    return 1
    except OSError as e:
        print(f"error: cannot read {path}: {e.strerror}", file=sys.stderr)
        return 1
    if not rows:
        print(f"error: {path} has no metrics", file=sys.stderr)
        return 1
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("error: matplotlib is missing; run: apt-get install python3-matplotlib", file=sys.stderr)
        return 1
    out = args.out or args.run_dir
    os.makedirs(out, exist_ok=True)
    steps = [r["step"] for r in rows]

    def series(key):
        pts = [(r["step"], r[key]) for r in rows if key in r]
        return [p[0] for p in pts], [p[1] for p in pts]

    if any("reward" in r for r in rows):  # an `sra rl` run
        plots = [
            ("reward.png", "reward", [("reward", "reward (sampled policy)")]),
            ("accuracy.png", "accuracy", [("accuracy", "rollouts (sampled policy)"),
                                          ("eval_accuracy", "held-out test (deterministic)")]),
            ("selected_ratio.png", "selected ratio (SRA layers)",
             [("selected_ratio", "rollouts (sampled policy)"),
              ("eval_selected_ratio", "held-out test (deterministic)")]),
            ("adv_std.png", "advantage std", [("adv_std", "adv_std")]),
            ("kl.png", "KL to the initial router (per decision)", [("kl", "kl")]),
            ("entropy.png", "decision entropy (per decision)", [("entropy", "entropy")]),
        ]
    else:
        plots = [
            ("loss.png", "loss", [("loss", "train"), ("val_loss", "validation")]),
            ("lr.png", "learning rate", [("lr", "lr")]),
            ("selected_ratio.png", "selected ratio (SRA layers)", [("selected_ratio", "selected")]),
            ("throughput.png", "tokens / s", [("tokens_per_s", "tokens/s")]),
        ]
    written = []
    for name, title, keys in plots:
        fig, ax = plt.subplots(figsize=(7, 4))
        for key, label in keys:
            xs, ys = series(key)
            if xs:
                ax.plot(xs, ys, label=label, marker="o" if len(xs) < 30 else None)
        ax.set_xlabel("step")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        if len(keys) > 1:
            ax.legend()
        fig.tight_layout()
        p = os.path.join(out, name)
        fig.savefig(p, dpi=100)
        plt.close(fig)
        written.append(p)
    print(f"{len(steps)} steps -> " + ", ".join(written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
