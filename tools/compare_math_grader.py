#!/usr/bin/env python3
"""Compares `sra eval score`'s MATH equivalence with openai/prm800k's grader (a development tool).

Generates answer variants of the MATH-500 gold answers (the gold itself, spacing, \\dfrac, decimals,
"x =" / "x \\in" prefixes, wrong left-hand sides, units, signs, off-by-one, another problem's answer,
...), scores every (variant, gold) pair with prm800k's grade_answer and with `build/sra eval score`
(through a temporary data dir whose math500_test.jsonl holds one row per variant), and prints the
agreement and the disagreements by variant category, with examples and the sra reason.

Usage:
  tools/compare_math_grader.py PATH/TO/prm800k/grading/grader.py [--sra build/sra]
      [--data-dir ../shared/data] [--examples 4] [--jsonl OUT.jsonl]
The grader needs sympy and pylatexenc (Debian: python3-sympy python3-pylatexenc, so run it with
/usr/bin/python3 where another python3 comes first on PATH); grader.py is
imported as `grading.grader` from the folder above its own, so math_normalize.py must sit beside it.
It is not part of the repository (github.com/openai/prm800k, prm800k/grading/). A grader call that
takes more than 5 s counts as "incorrect" (as a hang would in practice) and is reported.
"""
import argparse
import collections
import importlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
from fractions import Fraction


# ---- variants --------------------------------------------------------------------------------------


def as_fraction(gold):
    """The gold as an exact rational when it is a plain integer, decimal or \\frac{a}{b}."""
    g = gold.replace("\\dfrac", "\\frac").replace(" ", "")
    m = re.fullmatch(r"(-?)\\frac\{(\d+)\}\{(\d+)\}", g)
    if m:
        if int(m.group(3)) == 0:
            return None
        v = Fraction(int(m.group(2)), int(m.group(3)))
        return -v if m.group(1) else v
    if re.fullmatch(r"-?\d+(\.\d+)?", g):
        return Fraction(g)
    return None


def decimal_text(v):
    """Terminating decimal of v (at most 6 places), else None."""
    d = v.denominator
    for p in (2, 5):
        while d % p == 0:
            d //= p
    if d != 1:
        return None
    s = f"{float(v):.6f}".rstrip("0").rstrip(".")
    return s if Fraction(s) == v else None


def relation_of(gold):
    """(lhs, op, rhs) when the gold is "lhs = rhs" or "lhs \\in rhs", else None."""
    m = re.fullmatch(r"\s*(.+?)\s*(=|\\in(?![a-zA-Z]))\s*(.+?)\s*", gold)
    if not m or gold.count("=") > 1:
        return None
    return m.group(1), m.group(2), m.group(3)


def relation_variants(gold, lhs, op, rhs):
    """Wrong and right left-hand sides for a gold "lhs op rhs" (the issue 21 family)."""
    out = []
    tight = op if op == "=" else op + " "
    for sep_l, sep_r, spacing in ((" ", " ", "spaced"), ("", "", "tight")):
        joined = lambda l, r: f"{l}{sep_l}{op if sep_l else tight}{sep_r}{r}"
        out.append(("lhs_sign_" + spacing, joined("-" + lhs, rhs)))
        out.append(("lhs_coefficient_" + spacing, joined("2" + lhs, rhs)))
        other = "z" if lhs != "z" else "w"
        out.append(("lhs_other_variable_" + spacing, joined(other, rhs)))
        out.append(("lhs_same_" + spacing, joined(lhs, rhs)))
    out.append(("lhs_dropped", rhs))
    if op == "=":
        out.append(("sides_swapped", f"{rhs} = {lhs}"))
        out.append(("equation_rearranged", f"{lhs} - ({rhs}) = 0"))
        out.append(("equation_scaled", f"2{lhs} = 2({rhs})"))
    return out


def variants(gold, other_gold, index):
    """(category, variant) pairs for one gold answer (wrong left-hand sides on every 8th number)."""
    out = [("same", gold)]
    rel = relation_of(gold)
    if rel:
        out += relation_variants(gold, *rel)
    if " " in gold:
        out.append(("spaces_removed", gold.replace(" ", "")))
    spaced = re.sub(r"\s*([+,=]|(?<![\^{(\[,])-)\s*", r" \1 ", gold).strip()
    if spaced != gold:
        out.append(("spaces_added", spaced))
    if "\\frac" in gold:
        out.append(("dfrac", gold.replace("\\frac", "\\dfrac")))
        slash = re.sub(r"\\frac\{(-?\d+)\}\{(\d+)\}", r"\1/\2", gold)
        if slash != gold:
            out.append(("slash_fraction", slash))
        unreduced = re.sub(r"\\frac\{(\d+)\}\{(\d+)\}", lambda m: f"\\frac{{{2 * int(m.group(1))}}}"
                           f"{{{2 * int(m.group(2))}}}", gold, count=1)
        if unreduced != gold:
            out.append(("unreduced_fraction", unreduced))
        expr_slash = re.sub(r"\\frac\{([^{}]*[^0-9{}][^{}]*)\}\{([^{}]+)\}", r"(\1)/(\2)", gold)
        if expr_slash != gold:
            out.append(("frac_expression_slash", expr_slash))
        m = re.fullmatch(r"(-?)\\frac\{(\d+)\}\{(\d+)\}", gold)
        if m and int(m.group(2)) > int(m.group(3)) > 0:
            q, r = divmod(int(m.group(2)), int(m.group(3)))
            out.append(("mixed_number", f"{m.group(1)}{q}\\frac{{{r}}}{{{m.group(3)}}}"))
        m = re.fullmatch(r"\\frac\{\\sqrt\{(\d+)\}\}\{(\d+)\}", gold)
        if m and m.group(1) == m.group(2):
            out.append(("sqrt_rationalized", f"\\frac{{1}}{{\\sqrt{{{m.group(1)}}}}}"))
    m = re.fullmatch(r"(\d+) ?(\\sqrt\{\d+\}|\\pi)", gold)
    if m:
        out.append(("times_explicit", f"{m.group(1)} \\cdot {m.group(2)}"))
        out.append(("factors_swapped", f"{m.group(2)} \\cdot {m.group(1)}"))
    if "," in gold and not re.fullmatch(r"[\(\[].*[\)\]]|\\left.*", gold) and "\\!" not in gold \
            and "\\{" not in gold and not re.fullmatch(r"[\d,\$\\]+", gold) and not rel:
        parts = [p.strip() for p in gold.split(",")]
        out.append(("list_reversed", ", ".join(reversed(parts))))
        out.append(("list_spaced", ", ".join(parts)))
    if "\\sqrt{" in gold:
        short = re.sub(r"\\sqrt\{(\w)\}", r"\\sqrt\1", gold)
        if short != gold:
            out.append(("sqrt_no_braces", short))
    v = as_fraction(gold)
    if v is not None:
        if v.denominator != 1:
            dec = decimal_text(v)
            if dec:
                out.append(("decimal", dec))
            out.append(("decimal_rounded", f"{float(v):.2f}"))
        else:
            n = int(v)
            out.append(("integer_point_zero", f"{n}.0"))
            if abs(n) >= 1000:
                out.append(("thousands_commas", f"{n:,}"))
            out.append(("off_by_one", str(n + 1)))
        out.append(("x_equals", f"x = {gold}"))
        out.append(("x_equals_tight", f"x={gold}"))
        if index % 8 == 0:
            out.append(("coefficient_lhs", f"2x = {gold}"))
            out.append(("sign_lhs_tight", f"-x={gold}"))
        out.append(("units_text", f"{gold}\\text{{ cm}}"))
        out.append(("degrees", f"{gold}^\\circ"))
        out.append(("negated", f"-{gold}" if not gold.startswith("-") else gold[1:]))
    if re.fullmatch(r"[\(\[].*[\)\]]", gold) and "\\cup" not in gold:
        inner = gold[1:-1]
        if inner.count(",") == 1:  # an interval (or a pair)
            out.append(("x_in", f"x \\in {gold}"))
            out.append(("x_in_tight", f"x\\in{gold}"))
            out.append(("coefficient_in", f"2x \\in {gold}"))
        out.append(("brackets_swapped", ("[" if gold[0] == "(" else "(") + inner + gold[-1]))
        out.append(("left_right", f"\\left{gold[0]}{inner}\\right{gold[-1]}"))
        parts = [p.strip() for p in inner.split(",")]
        if len(parts) > 1 and len(set(parts)) > 1:
            out.append(("reversed_elements", gold[0] + ", ".join(reversed(parts)) + gold[-1]))
    if re.fullmatch(r"\\text\{.*\}", gold) is None and re.search(r"[a-zA-Z]{3,}", gold.replace("\\", "")) \
            and not re.search(r"\\[a-zA-Z]", gold):
        out.append(("text_wrapped", f"\\text{{{gold}}}"))
    m = re.fullmatch(r"\\text\{(.*)\}", gold)
    if m:
        out.append(("text_unwrapped", m.group(1)))
    out.append(("dollars", f"${gold}$"))
    if re.fullmatch(r"[^,]*[a-zA-Z][^,]*\+[^,]*", gold) and "\\frac" not in gold and "(" not in gold \
            and not rel:
        terms = [t.strip() for t in gold.split("+")]
        if len(terms) == 2:
            out.append(("terms_reordered", f"{terms[1]} + {terms[0]}"))
    out.append(("other_gold", other_gold))
    seen, unique = set(), []
    for cat, var in out:
        if var not in seen or cat == "same":
            seen.add(var)
            unique.append((cat, var))
    return unique


# Hand-written pairs for the differences the generated variants do not reach (answer_math.h lists
# them): (category, given, gold).
HANDPICKED = [
    ("hand_union_elements", "(-\\infty,0.5)\\cup(3,\\infty)", "(-\\infty,\\frac{1}{2})\\cup(3,\\infty)"),
    ("hand_comma_list_elements", "0.5, 3", "\\frac{1}{2}, 3"),
    ("hand_absolute_value", "|-\\frac{1}{2}|", "\\frac{1}{2}"),
    ("hand_long_exponent", "\\frac{1}{1024}", "\\frac{1}{2^{10}}"),
    ("hand_pi_constant", "r^2\\pi", "\\pi r^2"),
    ("hand_negative_mixed_number", "-3\\frac12", "-\\frac{7}{2}"),
    ("hand_frac_of_sum", "(x+1)/2", "\\frac{x+1}{2}"),
    ("hand_subscript_variable", "x_1 = 4", "4"),
    ("hand_greek_variable", "\\theta = 30^\\circ", "30^\\circ"),
    ("hand_two_letter_lhs", "AB=5", "5"),
    ("hand_wrong_lhs_tight", "-y=2x+3", "y = 2x + 3"),
    ("hand_inequality_tight", "x<=5", "5"),
]

# ---- graders ---------------------------------------------------------------------------------------


class Timeout(Exception):
    pass


def load_grader(path):
    grading_dir = os.path.dirname(os.path.abspath(path))
    sys.path.insert(0, os.path.dirname(grading_dir))
    module = os.path.basename(grading_dir) + "." + os.path.splitext(os.path.basename(path))[0]
    return importlib.import_module(module)


def prm_grade(grader, given, gold):
    def on_alarm(signum, frame):
        raise Timeout()

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(5)
    try:
        return bool(grader.grade_answer(given, gold)), False
    except Timeout:
        return False, True
    finally:
        signal.alarm(0)


def sra_grade(sra, pairs):
    """Scores (given, gold) pairs with `sra eval score`; returns [(correct, extracted, reason)]."""
    with tempfile.TemporaryDirectory() as tmp:
        os.makedirs(os.path.join(tmp, "data", "math"))
        with open(os.path.join(tmp, "data", "math", "math500_test.jsonl"), "w") as f:
            for _, gold in pairs:
                f.write(json.dumps({"problem": "", "solution": "", "answer": gold}) + "\n")
        with open(os.path.join(tmp, "pred.jsonl"), "w") as f:
            for i, (given, _) in enumerate(pairs):
                f.write(json.dumps({"index": i, "output": f"The answer is $\\boxed{{{given}}}$."}) + "\n")
        subprocess.run([sra, "eval", "score", "--dataset", "math500", "--predictions",
                        os.path.join(tmp, "pred.jsonl"), "--data-dir", os.path.join(tmp, "data"),
                        "--out", os.path.join(tmp, "out")], check=True, stdout=subprocess.DEVNULL)
        rows = [json.loads(line) for line in open(os.path.join(tmp, "out", "samples.jsonl"))]
    rows.sort(key=lambda r: r["index"])
    return [(r["correct"], r["extracted"], r.get("reason", "")) for r in rows]


# ---- main ------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("grader", help="path to prm800k's grading/grader.py")
    ap.add_argument("--sra", default="build/sra")
    ap.add_argument("--data-dir", default="../shared/data")
    ap.add_argument("--examples", type=int, default=4, help="examples printed per category")
    ap.add_argument("--jsonl", help="write every pair with both verdicts here")
    args = ap.parse_args()

    grader = load_grader(args.grader)
    golds = [json.loads(line)["answer"]
             for line in open(os.path.join(args.data_dir, "math", "math500_test.jsonl")) if line.strip()]
    rows = []
    for i, gold in enumerate(golds):
        for cat, var in variants(gold, golds[(i + 1) % len(golds)], i):
            rows.append({"problem": i, "category": cat, "given": var, "gold": gold})
    for cat, given, gold in HANDPICKED:
        rows.append({"problem": -1, "category": cat, "given": given, "gold": gold})
    ours = sra_grade(args.sra, [(r["given"], r["gold"]) for r in rows])
    timeouts = 0
    for r, (correct, extracted, reason) in zip(rows, ours):
        r["sra"], r["sra_reason"] = correct, reason
        r["extracted_ok"] = extracted == r["given"]
        r["prm"], timed_out = prm_grade(grader, r["given"], r["gold"])
        timeouts += timed_out

    generated = [r for r in rows if r["problem"] >= 0]
    agree = sum(r["sra"] == r["prm"] for r in generated)
    print(f"variants: {len(generated)} of {len(golds)} gold answers, plus {len(HANDPICKED)} hand-written pairs; "
          f"prm800k timeouts: {timeouts}; extraction differs from the variant: "
          f"{sum(not r['extracted_ok'] for r in rows)}")
    print(f"agreement on the variants: {agree}/{len(generated)} = {100.0 * agree / len(generated):.2f}%")
    hand = sum(r["sra"] == r["prm"] for r in rows if r["problem"] < 0)
    print(f"agreement on the hand-written pairs (chosen to differ): {hand}/{len(HANDPICKED)}")
    by_cat = collections.defaultdict(list)
    for r in rows:
        by_cat[r["category"]].append(r)
    print("\ncategory                      n   agree  sra-only-correct  prm-only-correct")
    for cat in sorted(by_cat):
        rs = by_cat[cat]
        print(f"{cat:26s} {len(rs):5d} {sum(r['sra'] == r['prm'] for r in rs):7d} "
              f"{sum(r['sra'] and not r['prm'] for r in rs):17d} {sum(r['prm'] and not r['sra'] for r in rs):17d}")
    print("\ndisagreements by category (given | gold | sra verdict: reason):")
    for cat in sorted(by_cat):
        diffs = [r for r in by_cat[cat] if r["sra"] != r["prm"]]
        if not diffs:
            continue
        print(f"\n[{cat}] {len(diffs)}")
        for r in diffs[:args.examples]:
            verdict = "correct" if r["sra"] else "incorrect"
            print(f"  {r['given']!r} | {r['gold']!r} | sra {verdict}: {r['sra_reason']}")
    if args.jsonl:
        with open(args.jsonl, "w") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
