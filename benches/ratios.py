#!/usr/bin/env python3
"""Print the sync_facade criterion results as a markdown table.

Reads target/criterion/<group>/<fn>/<baseline>/estimates.json (criterion's
median point estimate, ns per iteration) and prints, per group, each
contestant's median time, time per operation, and throughput relative to
raw std (= std_time / contestant_time; 1.00 is parity, > 1 is faster than std).

    python3 benches/ratios.py                       # the latest run ("new")
    python3 benches/ratios.py -b run1 -b run2 -b run3

With several baselines (saved by `cargo bench --bench sync_facade --
--save-baseline runN`), times are the median over runs and the ratio is the
median of the per-run ratios; the min..max of the per-run ratios is shown too.
Standard library only.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

# The groups of benches/sync_facade.rs (other benches are ignored unless --all).
GROUP_ORDER = ["mutex_uncontended", "mutex_contended", "atomic_uncontended", "atomic_contended"]
FN_ORDER = ["heddle", "std", "parking_lot"]
REFERENCE = "std"
TARGET_RATIO = 0.97


def fmt_time(ns: float) -> str:
    if ns >= 1e6:
        return f"{ns / 1e6:.3f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.1f} ns"


def ordered(names, order):
    known = [n for n in order if n in names]
    return known + sorted(n for n in names if n not in order)


def load(root: Path, baselines: list[str], groups: list[str] | None):
    """{group: {fn: {"medians": [ns per run], "elements": int | None}}}"""
    results: dict[str, dict[str, dict]] = {}
    for group_dir in sorted(p for p in root.iterdir() if p.is_dir() and p.name != "report"):
        if groups is not None and group_dir.name not in groups:
            continue
        for fn_dir in sorted(p for p in group_dir.iterdir() if p.is_dir() and p.name != "report"):
            medians = []
            elements = None
            for b in baselines:
                est = fn_dir / b / "estimates.json"
                if not est.is_file():
                    break
                medians.append(json.loads(est.read_text())["median"]["point_estimate"])
                bench = fn_dir / b / "benchmark.json"
                if bench.is_file():
                    tp = json.loads(bench.read_text()).get("throughput") or {}
                    elements = tp.get("Elements", elements)
            if len(medians) == len(baselines):
                results.setdefault(group_dir.name, {})[fn_dir.name] = {
                    "medians": medians,
                    "elements": elements,
                }
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-b", "--baseline", action="append", help="criterion baseline directory name (repeatable; default: new)")
    ap.add_argument("--dir", default=None, help="criterion output directory (default: <repo>/target/criterion)")
    ap.add_argument("--all", action="store_true", help="every criterion group found, not only sync_facade's")
    args = ap.parse_args()
    baselines = args.baseline or ["new"]
    root = Path(args.dir) if args.dir else Path(__file__).resolve().parent.parent / "target" / "criterion"
    if not root.is_dir():
        print(f"no criterion results in {root}: run `cargo bench --bench sync_facade` first", file=sys.stderr)
        return 1

    results = load(root, baselines, None if args.all else GROUP_ORDER)
    if not results:
        print(f"no results for baseline(s) {', '.join(baselines)} in {root}", file=sys.stderr)
        return 1

    runs = len(baselines)
    spread = runs > 1
    header = ["group", "contestant", "median time / iter", "per op", f"throughput vs {REFERENCE}"]
    if spread:
        header.append("per-run ratio min..max")
    print(f"Runs: {runs} ({', '.join(baselines)}); times are criterion medians"
          + (", median over runs" if spread else "") + ".\n")
    print("| " + " | ".join(header) + " |")
    print("| " + " | ".join(["---"] * 2 + ["---:"] * (len(header) - 2)) + " |")
    below = []
    for group in ordered(results, GROUP_ORDER):
        fns = results[group]
        ref = fns.get(REFERENCE)
        for fn in ordered(fns, FN_ORDER):
            r = fns[fn]
            med = statistics.median(r["medians"])
            per_op = fmt_time(med / r["elements"]) if r["elements"] else "–"
            row = [group, fn, fmt_time(med), per_op]
            if ref is None:
                row.append("–")
                if spread:
                    row.append("–")
            else:
                ratios = [s / x for s, x in zip(ref["medians"], r["medians"])]
                ratio = statistics.median(ratios)
                row.append(f"{ratio:.3f}×")
                if spread:
                    row.append(f"{min(ratios):.3f}..{max(ratios):.3f}")
                if fn == "heddle" and ratio < TARGET_RATIO:
                    below.append(f"{group}/{fn}: {ratio:.3f}×")
            print("| " + " | ".join(row) + " |")
    print()
    if below:
        print(f"Below the {TARGET_RATIO}× target: " + "; ".join(below))
    else:
        print(f"Every heddle contestant is at ≥ {TARGET_RATIO}× std.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
