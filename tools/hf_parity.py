#!/usr/bin/env python3
"""Logit parity between SRA and Hugging Face transformers on small random models (docs/hf.md).

Runs on a machine with torch + transformers (no downloads): for each model kind it builds a random model
with transformers, saves it with save_pretrained(safe_serialization=True) in f32 and in bf16, and checks

  f32      `sra logits --hf DIR` (CPU and CUDA) and `sra convert hf-to-sra` + `sra logits --checkpoint`
           against transformers' f32 logits on the CPU: max abs diff <= 1e-4
  greedy   32 greedy tokens (`sra logits --greedy 32`, f32, our KV-cache generation) equal transformers' generate() token for token
  bf16     the bf16 directory: ours in f32 against transformers in f32 on the same bf16 weights (<= 1e-4);
           ours with --precision bf16 on CUDA within twice transformers' own bf16 error (transformers in
           bf16 against its f32 run), or 1% of the largest |logit|, whichever is larger
  export   `sra convert sra-to-hf` of the converted checkpoint loads in transformers as the same class and
           gives the same logits (<= 1e-5)

Kinds: llama-gqa-llama3 (GQA 8/2, rope_theta 500000, rope_scaling llama3 with all three frequency bands,
untied), llama-tied (tied embeddings), mistral (GQA, no sliding window), qwen2 (q/k/v biases, GQA).
Prints one JSON line per check ({"kind", "check", "max_abs_diff", "tol", "ok", ...}) and a summary line;
exits 1 when any check fails. Usage:
  python3 tools/hf_parity.py --sra build-gpu/sra --work /tmp/hf [--no-cuda] [--kinds llama-tied,qwen2]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import torch
import transformers
from transformers import (AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM, MistralConfig,
                          MistralForCausalLM, Qwen2Config, Qwen2ForCausalLM)

IDS = [1, 17, 300, 42, 7, 7, 100, 3, 250, 511, 0, 64, 33, 2, 11, 90, 8, 120, 44, 45, 46, 280, 12, 13]
GREEDY = 32
FAILED = []


def emit(**kw):
    if not kw.get("ok", True):
        FAILED.append(kw)
    print(json.dumps(kw), flush=True)


def common(**extra):
    d = dict(vocab_size=512, hidden_size=128, intermediate_size=256, num_hidden_layers=3,
             num_attention_heads=8, num_key_value_heads=2, max_position_embeddings=256, rms_norm_eps=1e-5,
             initializer_range=0.1, hidden_act="silu", bos_token_id=1, eos_token_id=None)
    d.update(extra)
    return d


def build(kind):
    llama3 = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
              "original_max_position_embeddings": 64}  # head dim 16: wavelengths 6.3 (kept), 32 (blended), 167+ (/8)
    if kind == "llama-gqa-llama3":
        return LlamaForCausalLM(LlamaConfig(**common(rope_theta=500000.0, rope_scaling=llama3,
                                                     tie_word_embeddings=False)))
    if kind == "llama-tied":
        return LlamaForCausalLM(LlamaConfig(**common(rope_theta=10000.0, tie_word_embeddings=True)))
    if kind == "mistral":
        return MistralForCausalLM(MistralConfig(**common(rope_theta=1e6, sliding_window=None,
                                                         tie_word_embeddings=False)))
    if kind == "qwen2":
        return Qwen2ForCausalLM(Qwen2Config(**common(rope_theta=1e6, use_sliding_window=False,
                                                     tie_word_embeddings=False)))
    raise SystemExit(f"unknown kind {kind}")


def randomise(model, seed):
    """Norm weights and biases away from their 1 / 0 initialisation, so a wrong mapping shows."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1:
                base = 1.0 if name.endswith("norm.weight") else 0.0
                p.copy_(base + 0.2 * torch.randn(p.shape, generator=g))


def load(path, dtype, device="cpu"):
    kw = {"attn_implementation": "eager"}
    try:
        m = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, **kw)
    except TypeError:
        m = AutoModelForCausalLM.from_pretrained(path, torch_dtype=dtype, **kw)
    return m.to(device).eval()


def hf_logits(model, device="cpu"):
    with torch.no_grad():
        x = torch.tensor([IDS], device=device)
        return model(x).logits[0].float().cpu().numpy()


def hf_greedy(model):
    with torch.no_grad():
        x = torch.tensor([IDS])
        # an explicit all-ones mask: without it generate() masks out every id equal to pad_token_id (IDS
        # holds a 0), which is not the function our logits compute
        out = model.generate(x, attention_mask=torch.ones_like(x), max_new_tokens=GREEDY,
                             min_new_tokens=GREEDY, do_sample=False, eos_token_id=None, pad_token_id=0)
        return out[0, len(IDS):].tolist()


def sra(args, *cmd):
    r = subprocess.run([args.sra, *cmd], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"sra {' '.join(cmd)} exited {r.returncode}: {r.stderr.strip()}")
    return r.stdout


def sra_logits(args, work, tag, source, device="cpu", precision="f32", greedy=0):
    out = os.path.join(work, f"{tag}.f32")
    cmd = ["logits", *source, "--ids", ",".join(map(str, IDS)), "--device", device, "--precision", precision,
           "--json", "--out", out]
    if greedy:
        cmd += ["--greedy", str(greedy)]
    line = json.loads(sra(args, *cmd).strip().splitlines()[-1])
    v = np.fromfile(out, dtype="<f4").reshape(line["t"], line["vocab"])
    return v, line


def diff(a, b):
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))


def check_kind(args, kind, seed):
    work = os.path.join(args.work, kind)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    torch.manual_seed(seed)
    model = build(kind).float().eval()
    randomise(model, seed)
    d32, d16 = os.path.join(work, "f32"), os.path.join(work, "bf16")
    model.save_pretrained(d32, safe_serialization=True)
    model.to(torch.bfloat16).save_pretrained(d16, safe_serialization=True)
    ref = hf_logits(load(d32, torch.float32))
    ref64 = hf_logits(load(d32, torch.float64))
    emit(kind=kind, check="hf_f32_vs_f64", max_abs_diff=diff(ref, ref64), ok=True, note="transformers' own f32 error")
    devices = ["cpu"] + ([] if args.no_cuda else ["cuda"])
    for dev in devices:  # f32: ours from the directory
        ours, _ = sra_logits(args, work, f"hf32-{dev}", ["--hf", d32], dev)
        e = diff(ours, ref)
        emit(kind=kind, check=f"f32_{dev}", max_abs_diff=e, vs_f64=diff(ours, ref64), tol=1e-4, ok=e <= 1e-4)
    ckpt = os.path.join(work, "model.h5")
    sra(args, "convert", "hf-to-sra", "--in", d32, "--out", ckpt)
    ours, line = sra_logits(args, work, "ckpt-cpu", ["--checkpoint", ckpt], "cpu", greedy=GREEDY)
    e = diff(ours, ref)
    emit(kind=kind, check="f32_convert_cpu", max_abs_diff=e, tol=1e-4, ok=e <= 1e-4)
    want = hf_greedy(load(d32, torch.float32))
    emit(kind=kind, check="greedy_f32", tokens=GREEDY, ours=line["greedy"], transformers=want,
         ok=line["greedy"] == want)
    # bf16 weights
    ref16_32 = hf_logits(load(d16, torch.float32))
    ours, _ = sra_logits(args, work, "hf16-f32", ["--hf", d16], "cpu")
    e = diff(ours, ref16_32)
    emit(kind=kind, check="bf16_weights_f32_cpu", max_abs_diff=e, tol=1e-4, ok=e <= 1e-4)
    if not args.no_cuda:
        hf16 = hf_logits(load(d16, torch.bfloat16, "cuda"), "cuda")
        hf_err = diff(hf16, ref16_32)
        tol = max(2 * hf_err, 0.01 * float(np.max(np.abs(ref16_32))))
        ours, _ = sra_logits(args, work, "hf16-bf16", ["--hf", d16], "cuda", "bf16")
        e = diff(ours, ref16_32)
        emit(kind=kind, check="bf16_cuda", max_abs_diff=e, transformers_bf16_err=hf_err, tol=tol, ok=e <= tol,
             argmax_agree=float(np.mean(ours.argmax(-1) == ref16_32.argmax(-1))))
    # export round trip
    out = os.path.join(work, "export")
    sra(args, "convert", "sra-to-hf", "--in", ckpt, "--out", out)
    back = load(out, torch.float32)
    same_class = type(back).__name__ == type(model).__name__ or (
        kind == "mistral" and type(back).__name__ == "LlamaForCausalLM")
    e = diff(hf_logits(back), ref)
    emit(kind=kind, check="export_roundtrip", cls=type(back).__name__, max_abs_diff=e, tol=1e-5,
         ok=e <= 1e-5 and same_class)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sra", required=True, help="the sra binary (e.g. build-gpu/sra)")
    ap.add_argument("--work", required=True, help="scratch directory (models, checkpoints, logits)")
    ap.add_argument("--kinds", default="llama-gqa-llama3,llama-tied,mistral,qwen2")
    ap.add_argument("--no-cuda", action="store_true", help="CPU checks only")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if not args.no_cuda and not torch.cuda.is_available():
        raise SystemExit("no CUDA device visible to torch (use --no-cuda for the CPU checks)")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    os.makedirs(args.work, exist_ok=True)
    kinds = args.kinds.split(",")
    for i, kind in enumerate(kinds):
        try:
            check_kind(args, kind, args.seed + i)
        except Exception as exc:  # a crash of one kind is a failure, the others still run
            emit(kind=kind, check="run", ok=False, error=str(exc))
    print(json.dumps({"summary": True, "transformers": transformers.__version__, "torch": torch.__version__,
                      "kinds": kinds, "failed": len(FAILED), "ok": not FAILED}), flush=True)
    sys.exit(1 if FAILED else 0)


if __name__ == "__main__":
    main()
