#!/usr/bin/env python3
"""Byte-level BPE parity: `sra tokenizer encode` against the Hugging Face tokenizers library.

Trains small byte-level BPE tokenizers with the tokenizers library on a corpus (tinyshakespeare, GSM8K
questions and answers from the data directory, plus a unicode stress list), saves each as tokenizer.json,
and encodes the same texts with tokenizers and with `sra tokenizer encode --jsonl ... --json`:
  gpt2          ByteLevel pre-tokenizer (GPT-2's regex), merges saved as "a b" strings, <|endoftext|>
  gpt2-prefix   the same with add_prefix_space
  llama3        Split(Llama 3's regex) + ByteLevel(use_regex=False), ignore_merges, <|begin_of_text|>
                and 250 reserved special tokens, a TemplateProcessing post-processor adding BOS
                (also compared with add_special_tokens=True / --add-special)
  qwen2         Split(Qwen2's regex: single digits) + ByteLevel(use_regex=False), normalizer NFC,
                <|endoftext|>, <|im_start|>, <|im_end|>
Texts: every corpus line alone, chunks of 8 lines (newlines inside), the stress strings, and a sweep of
code points across the Unicode planes. Decoding is compared too, on a sample, with `sra tokenizer decode`.
Prints each tokenizer's count of mismatching texts and the first one (text, both id lists, where they
part); exits 1 on any mismatch, 2 when it cannot run (no tokenizers library, no sra binary).

Code points that the library's regex engine (Oniguruma, whose Unicode version follows the tokenizers
release) classes differently from data/unicode_classes.cpp (\\p{L}, \\p{N}, \\s) are left out of the
sweep, and counted: they depend on the Unicode version, not on the matcher. tokenizers 0.23.2 (Unicode
16.0) differs from our Unicode 15.0 table on 4924 letters and 80 numbers, all assigned in Unicode 16.
Likewise the library's NFC (the unicode-normalization-alignments crate, whose tables are Unicode 9.0)
knows nothing of the combining marks and decompositions assigned since: the code points whose NFC the
library gives differently from Python's unicodedata (the reference of data/unicode_nfc.cpp) are found by
asking the library, and the texts holding one are left out of the qwen2 comparison, and counted.

Usage (repo root, on a machine with the tokenizers library; no downloads needed):
  python3 tools/bpe_parity.py --sra build-gpu/sra --work /tmp/bpe
"""
import argparse
import json
import os
import random
import re
import subprocess
import sys
import unicodedata

LLAMA3 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
          r"\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
         r"\s*[\r\n]+|\s+(?!\S)|\s+")

STRESS = [
    "", " ", "  ", "\n", "\n\n\n", "\r\n", "\r", "\t", " \t \n ", "a", " a", "a ", "  a  ", "a\n", "\na",
    "Hello world", "Hello  world", "Hello   world   ", "Hello\nworld", "Hello \n world", "Hello\n\n\nworld",
    "x.\n\ny", "x. \n\n y", "end.\r\n\r\nnext", "tab\tseparated\tvalues\t\t", "\t\tindented code\n    four",
    "I'm", "I'M", "you're", "YOU'RE", "we've", "they'll", "THEY'LL", "she'd", "it's", "IT'S", "don't", "DON'T",
    "'s", "'S", "''s", "'hello", "rock'n'roll", "o'clock", "x'ſy", "'ſ", "x'Sy", "’s curly", "l'été",
    "1", "12", "123", "1234", "12345", "1234567890123", "3.14159", "1,000,000", "$1,234.56", "-42", "+7e-10",
    "abc123def", "a1b2c3", "2024-06-01T12:00:00Z", "0x1F600", "v1.2.3-beta+build.7",
    "٣٤٥ ١٢", "①②③", "²³¹", "ⅫⅣ", "½ ¾", "๑๒๓", "१२३४", "𝟘𝟙𝟚",
    "café", "naïve", "Ελληνικά", "Русский текст", "日本語のテキスト", "中文文本，标点。", "한국어 텍스트",
    "العربية نص", "עברית", "हिन्दी पाठ", "ภาษาไทย", "e\u0301", "n\u0303o", "Z\u0351\u036b\u0343alg\u0310o",
    "ǅungla ǈj", "ʰʲʷ", "ß ẞ", "ﬁ ﬂ", "İstanbul ıi",
    "emoji 😀", "😀😀😀", "👍🏽", "👨‍👩‍👧‍👦 family", "🇫🇷🇩🇪", "a😀b", " 😀 ", "❤️", "✓ ✗ ★",
    "nbsp\u00a0here", "\u00a0\u00a0x", "em\u2003space", "thin\u2009space", "ideographic\u3000space",
    "nel\u0085line", "ls\u2028ps\u2029", "vt\x0bff\x0c", "fs\x1cgs\x1drs\x1eus\x1f", "zw\u200bsp", "zwj\u200d",
    "soft\u00adhyphen", "bom\ufeff", "rtl\u200fmark", "\x00nul\x01", "del\x7f", "c1\x80\x9f",
    "<|endoftext|>", "a<|endoftext|>b", "<|endoftext|><|endoftext|>", "<|endoftext", "<|begin_of_text|>x",
    "<|end_of_text|>", "<|im_start|>user\nhi<|im_end|>", "<|reserved_special_token_5|>",
    "def f(x):\n    return x ** 2  # square\n", "if (a && b) { c++; }", "<div class=\"x\">&amp;</div>",
    "$\\frac{1}{2} + \\boxed{8+4i}$", "{[()]} <<48/2=24>> ~`!@#%^&*_|", "....", "!!!???", "---", "___",
    "http://example.com/path?q=1&r=2#frag", "user@example.com", "C:\\Windows\\System32",
    "a" * 300, "ab" * 200, " " * 50 + "x", "\n" * 20 + "x", "9" * 40,
]


def load_corpus(data_dir, max_lines):
    texts, sources = [], []
    shakes = os.path.join(data_dir, "tinyshakespeare", "input.txt")
    if os.path.exists(shakes):
        with open(shakes, encoding="utf-8") as f:
            texts.append(f.read())
        sources.append(shakes)
    for name in ("train.jsonl", "test.jsonl"):
        gsm = os.path.join(data_dir, "gsm8k", name)
        if os.path.exists(gsm):
            rows = []
            with open(gsm, encoding="utf-8") as f:
                for line in f:
                    row = json.loads(line)
                    rows.append(row.get("question", "") + "\n" + row.get("answer", ""))
            texts.append("\n\n".join(rows))
            sources.append(gsm)
            break
    lines = []
    for t in texts:
        lines.extend(t.split("\n"))
    if max_lines and len(lines) > max_lines:
        lines = lines[:max_lines]
    return texts, lines, sources


def table_ranges(path, names=("kLetters", "kNumbers")):
    """A generated table's ranges (data/unicode_classes.cpp: letters and numbers)."""
    with open(path, encoding="utf-8") as f:
        src = f.read()
    out = {}
    for name in names:
        body = src[src.index(f"{name}[] = {{"):]
        body = body[:body.index("};")]
        out[name] = [(int(a, 16), int(b, 16)) for a, b in re.findall(r"\{0x([0-9A-F]+), 0x([0-9A-F]+)\}", body)]
    return out


def table_version(repo):
    with open(os.path.join(repo, "data", "unicode_classes.cpp"), encoding="utf-8") as f:
        m = re.search(r"Unicode ([0-9.]+)", f.read())
    return m.group(1) if m else "?"


def in_ranges(ranges, cp):
    lo, hi = 0, len(ranges)
    while lo < hi:
        mid = (lo + hi) // 2
        if ranges[mid][1] < cp:
            lo = mid + 1
        elif ranges[mid][0] > cp:
            hi = mid
        else:
            return True
    return False


WHITESPACE = set([0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000] + list(range(0x09, 0x0E)) +
                 [0x20] + list(range(0x2000, 0x200B)))  # data/unicode_classes.h


def engine_classes(cps):
    """Which of `cps` the tokenizers library's regex engine matches with \\p{L}, \\p{N} and \\s."""
    from tokenizers import Regex, pre_tokenizers
    text = "".join(map(chr, cps))
    out = {}
    for name, pattern in (("L", r"\p{L}"), ("N", r"\p{N}"), ("S", r"\s")):
        split = pre_tokenizers.Split(Regex(pattern), behavior="removed")
        kept = set("".join(piece for piece, _ in split.pre_tokenize_str(text)))
        out[name] = {c for c in cps if chr(c) not in kept}
    return out


def sweep_texts(repo):
    """Code points across the planes in runs of 24 (letters, digits, marks, symbols mixed with spaces,
    newlines and 's), without those that this tokenizers' regex engine classes differently from our
    tables (another Unicode version): those are counted and named instead."""
    ranges = table_ranges(os.path.join(repo, "data", "unicode_classes.cpp"))
    cps = [c for c in range(0x1, 0x110000) if not 0xD800 <= c <= 0xDFFF]
    engine = engine_classes(cps)
    differ = []
    for cp in cps:
        ours = (in_ranges(ranges["kLetters"], cp), in_ranges(ranges["kNumbers"], cp), cp in WHITESPACE)
        theirs = (cp in engine["L"], cp in engine["N"], cp in engine["S"])
        if ours != theirs:
            differ.append(cp)
    skip = set(differ)
    picked = [c for c in cps if c not in skip and
              ((c < 0x3400 or c % 7 == 0) and c < 0x323B0 or 0xE0000 <= c < 0xE0080)]
    rng = random.Random(7)
    texts = []
    for i in range(0, len(picked), 24):
        out = []
        for c in picked[i:i + 24]:
            out.append(chr(c))
            r = rng.random()
            if r < 0.15:
                out.append(" ")
            elif r < 0.2:
                out.append("'s" if r < 0.17 else "\n")
        texts.append("".join(out))
    return texts, differ


def nfc_table_version(repo):
    with open(os.path.join(repo, "data", "unicode_nfc.cpp"), encoding="utf-8") as f:
        m = re.search(r'unicode_nfc_version\(\) \{\s*return "([0-9.]+)"', f.read())
    return m.group(1) if m else "?"


def nfc_differ():
    """The code points whose NFC the tokenizers library (its own Unicode tables) gives differently from
    Python's unicodedata: each code point with a canonical decomposition or a non-zero combining class
    alone, after "x" and before a class-1 mark, after "x" and a class-240 mark; each 2-part canonical
    decomposition's pair (both halves marked)."""
    from tokenizers import normalizers
    lib = normalizers.NFC()
    differ = set()

    def probe(text, cps):
        if lib.normalize_str(text) != unicodedata.normalize("NFC", text):
            differ.update(cps)

    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        c = chr(cp)
        d = unicodedata.decomposition(c)
        canonical = d and not d.startswith("<")
        if not canonical and not unicodedata.combining(c):
            continue
        for text in (c, "x" + c + "\u0334", "x\u0345" + c):
            probe(text, [cp])
        if canonical and len(d.split()) == 2:
            a, b = (int(x, 16) for x in d.split())
            probe(chr(a) + chr(b), [a, b, cp])
    return differ


def train(kind, corpus, vocab_size, work):
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    specials = {"gpt2": ["<|endoftext|>"], "gpt2-prefix": ["<|endoftext|>"],
                "llama3": ["<|begin_of_text|>", "<|end_of_text|>"] +
                          [f"<|reserved_special_token_{i}|>" for i in range(250)],
                "qwen2": ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]}[kind]
    tok = Tokenizer(models.BPE())
    if kind.startswith("gpt2"):
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=kind == "gpt2-prefix", use_regex=True)
    else:
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(LLAMA3 if kind == "llama3" else QWEN2), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    if kind == "qwen2":
        tok.normalizer = normalizers.NFC()  # as Qwen2's tokenizer.json
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=specials)
    tok.train_from_iterator(corpus, trainer=trainer)
    if kind == "llama3":
        bos = tok.token_to_id("<|begin_of_text|>")
        tok.post_processor = processors.Sequence([
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A $B:1",
                                          special_tokens=[("<|begin_of_text|>", bos)])])
    path = os.path.join(work, kind, "tokenizer.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tok.save(path)
    # Both merge formats: "a b" strings for the gpt2 ones, [a, b] pairs for the others; ignore_merges as
    # Llama 3 sets it. Reload from the edited file so the library encodes exactly what sra reads.
    with open(path, encoding="utf-8") as f:
        j = json.load(f)
    merges = j["model"]["merges"]
    if kind.startswith("gpt2"):
        j["model"]["merges"] = [m if isinstance(m, str) else f"{m[0]} {m[1]}" for m in merges]
    else:
        j["model"]["merges"] = [m.split(" ", 1) if isinstance(m, str) else m for m in merges]
    j["model"]["ignore_merges"] = kind == "llama3"
    with open(path, "w", encoding="utf-8") as f:
        json.dump(j, f, ensure_ascii=False)
    return Tokenizer.from_file(path), path


def sra_encode(sra, path, texts, work, name, add_special):
    jsonl = os.path.join(work, f"{name.replace(' ', '_')}.texts.jsonl")
    with open(jsonl, "w", encoding="utf-8") as f:
        for t in texts:
            f.write(json.dumps(t) + "\n")
    cmd = [sra, "tokenizer", "encode", "--tokenizer", path, "--jsonl", jsonl, "--json"]
    if add_special:
        cmd.append("--add-special")
    r = subprocess.run(cmd, capture_output=True)
    if r.returncode != 0:
        sys.exit(f"bpe_parity: {' '.join(cmd)} failed ({r.returncode}):\n{r.stderr.decode(errors='replace')}")
    lines = r.stdout.decode().splitlines()
    if len(lines) != len(texts):
        sys.exit(f"bpe_parity: sra printed {len(lines)} lines for {len(texts)} texts")
    return [json.loads(x)["ids"] for x in lines]


def first_difference(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def compare(name, tok, path, texts, sra, work, add_special):
    theirs = [e.ids for e in tok.encode_batch(texts, add_special_tokens=add_special)]
    with open(os.path.join(work, f"{name.replace(' ', '_')}.expected.jsonl"), "w") as f:  # kept for offline checks
        for ids in theirs:
            f.write(json.dumps({"ids": ids}) + "\n")
    ours = sra_encode(sra, path, texts, work, name, add_special)
    bad = [i for i in range(len(texts)) if theirs[i] != ours[i]]
    tokens = sum(len(x) for x in theirs)
    status = "OK" if not bad else f"{len(bad)} MISMATCHES"
    print(f"{name:22s} {len(texts):7d} texts {tokens:9d} tokens  {status}")
    print(json.dumps({"bench": "bpe_parity", "tokenizer": name, "texts": len(texts), "tokens": tokens,
                      "mismatches": len(bad), "ok": not bad}))
    if bad:
        i = bad[0]
        k = first_difference(theirs[i], ours[i])
        print(f"  first mismatch: text {i}: {texts[i][:200]!r}")
        print(f"  tokenizers: {theirs[i][max(0, k - 3):k + 8]} (at {k}) {tok.decode(theirs[i][k:k + 3])!r}")
        print(f"  sra:        {ours[i][max(0, k - 3):k + 8]} (at {k})")
    return len(bad)


def compare_decode(name, tok, path, texts, sra, count):
    rng = random.Random(3)
    sample = [t for t in rng.sample(texts, min(count, len(texts))) if t]
    bad = 0
    for t in sample:
        ids = tok.encode(t, add_special_tokens=False).ids
        want = tok.decode(ids, skip_special_tokens=True)
        r = subprocess.run([sra, "tokenizer", "decode", "--tokenizer", path, "--ids", ",".join(map(str, ids)),
                            "--json"], capture_output=True)
        got = json.loads(r.stdout)["text"] if r.returncode == 0 else None
        if got != want:
            if bad == 0:
                print(f"  first decode mismatch: {t[:120]!r}: tokenizers {want[:120]!r}, sra {got!r} "
                      f"{r.stderr.decode(errors='replace')[:200]}")
            bad += 1
    print(f"{name + ' decode':22s} {len(sample):7d} texts  {'OK' if not bad else f'{bad} MISMATCHES'}")
    return bad


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sra", default="build-gpu/sra", help="the sra binary")
    ap.add_argument("--work", default="/tmp/bpe", help="scratch directory (tokenizers, text files)")
    ap.add_argument("--data-dir", default=os.environ.get("SRA_DATA_DIR") or (
        ".gpu/data" if os.path.isdir(".gpu/data") else "../shared/data"))
    ap.add_argument("--vocab-size", type=int, default=4000)
    ap.add_argument("--max-lines", type=int, default=0, help="at most this many corpus lines (0: all)")
    ap.add_argument("--decode-sample", type=int, default=150, help="texts per tokenizer for the decode check")
    ap.add_argument("--kinds", default="gpt2,gpt2-prefix,llama3,qwen2")
    args = ap.parse_args()
    try:
        import tokenizers
    except ImportError:
        print("bpe_parity: the tokenizers library is not installed here (pip install tokenizers); "
              "run this on the GPU machine", file=sys.stderr)
        return 2
    if not os.access(args.sra, os.X_OK):
        print(f"bpe_parity: no sra binary at {args.sra} (build it, or pass --sra)", file=sys.stderr)
        return 2
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    os.makedirs(args.work, exist_ok=True)
    docs, lines, sources = load_corpus(args.data_dir, args.max_lines)
    if not sources:
        print(f"bpe_parity: warning: no corpus under {args.data_dir} (tinyshakespeare/input.txt, gsm8k/); "
              "training and comparing on the stress strings only", file=sys.stderr)
    chunks = ["\n".join(lines[i:i + 8]) + "\n" for i in range(0, len(lines), 8)]
    sweep, differ = sweep_texts(repo)
    texts = lines + chunks + STRESS + sweep
    print(f"tokenizers {tokenizers.__version__}, Python unicodedata {unicodedata.unidata_version}; corpus: "
          f"{', '.join(sources) or 'none'}; {len(lines)} lines, {len(chunks)} chunks, {len(STRESS)} stress strings, "
          f"{len(sweep)} sweep texts")
    if differ:
        print(f"left out of the sweep: {len(differ)} code points that this tokenizers' regex engine classes "
              f"differently (\\p{{L}}, \\p{{N}}, \\s) from data/unicode_classes (Unicode "
              f"{table_version(repo)}), first: {' '.join(hex(c) for c in differ[:12])}")
    train_corpus = (docs or []) + STRESS * 3 + sweep
    # qwen2 (normalizer NFC) compares on every text but those holding a code point whose NFC the library's
    # older Unicode tables give differently (counted and named).
    if unicodedata.unidata_version != nfc_table_version(repo):
        print(f"bpe_parity: warning: Python's unicodedata is {unicodedata.unidata_version}, data/unicode_nfc.cpp "
              f"is {nfc_table_version(repo)}: the NFC exclusions below follow Python's", file=sys.stderr)
    nfc_skip = nfc_differ() if "qwen2" in args.kinds.split(",") else set()
    nfc_texts = [t for t in texts if not any(ord(c) in nfc_skip for c in t)]
    first = " ".join(hex(c) for c in sorted(nfc_skip)[:12])
    print(f"qwen2 (normalizer NFC): {len(nfc_skip)} code points that this tokenizers' NFC gives differently "
          f"from unicodedata {unicodedata.unidata_version} (first: {first}); compared on {len(nfc_texts)} "
          f"texts, the {len(texts) - len(nfc_texts)} holding one left out")
    failures = 0
    for kind in args.kinds.split(","):
        tok, path = train(kind, train_corpus, args.vocab_size, args.work)
        failures += compare(kind, tok, path, nfc_texts if kind == "qwen2" else texts, args.sra, args.work, False)
        if kind == "qwen2" and len(nfc_texts) < len(texts):  # for information, not counted as failures
            left_out = [t for t in texts if any(ord(c) in nfc_skip for c in t)]
            compare(kind + " NFC-version", tok, path, left_out, args.sra, args.work, False)
        if kind == "llama3":
            failures += compare(kind + " +special", tok, path, STRESS + lines[:2000], args.sra, args.work, True)
        failures += compare_decode(kind, tok, path, STRESS + lines, args.sra, args.decode_sample)
    print("parity: OK, every text encodes to the same ids" if not failures else
          f"parity: FAILED ({failures} mismatching texts)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
