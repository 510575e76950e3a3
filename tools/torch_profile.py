#!/usr/bin/env python3
"""Per-kernel CUDA times of PyTorch's reference step (GPU-machine tool), for tools/kernel_table.py.

Runs `torch_reference.py <mode> ...` unchanged, except that after its own timed loop (so torch.compile has
compiled and warmed up) the step runs --steps more times under torch.profiler; writes
`kernel,ms,launches` rows (totals over those steps) to --out.

  python3 tools/torch_profile.py --ref .gpu/bench/torch_reference.py --out torch_kernels.csv -- train --compile
"""
import argparse, importlib.util, sys

ap = argparse.ArgumentParser()
ap.add_argument("--ref", required=True)
ap.add_argument("--out", required=True)
ap.add_argument("--steps", type=int, default=2)
ap.add_argument("rest", nargs=argparse.REMAINDER)
a = ap.parse_args()
spec = importlib.util.spec_from_file_location("torch_reference", a.ref)
tr = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tr)
import torch
from torch.profiler import profile, ProfilerActivity

original = tr.bench


def bench_then_profile(fn, iters=20, warm=5):
    ms = original(fn, iters=iters, warm=warm)
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(a.steps):
            fn()
        torch.cuda.synchronize()
    with open(a.out, "w") as f:
        f.write("kernel,ms,launches\n")
        for ev in prof.key_averages():
            t = getattr(ev, "device_time_total", None) or getattr(ev, "cuda_time_total", 0)
            if t > 0 and ev.key:
                name = ev.key.replace(",", " ").replace("\n", " ")
                f.write(f"{name},{t / 1e3:.6f},{ev.count}\n")
    return ms


tr.bench = bench_then_profile
rest = [r for r in a.rest if r != "--"]
sys.argv = [a.ref] + rest
tr.main()
