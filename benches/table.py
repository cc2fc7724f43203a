#!/usr/bin/env python3
"""Print the circuit-breaker bench results as one markdown table.

Reads criterion's ``<criterion dir>/<group>/<function>/new/estimates.json`` (the median's
point estimate, in ns per call) for every group and contender of
``benches/circuit_breaker.rs`` and prints one row per contender, one column per case, each
cell "median ns (+overhead over bare)". The overhead is the contender's median minus the
median of ``bare`` in the same group of the same run.

Usage (from anywhere):

    cargo bench --bench circuit_breaker
    python3 benches/table.py                 # reads <crate>/target/criterion
    python3 benches/table.py path/to/criterion

Without an argument the directory is ``$CARGO_TARGET_DIR/criterion`` if that variable is
set, else ``target/criterion`` next to this script's crate. Python 3 standard library only.
"""

import json
import os
import sys

# The cases (criterion groups), in the order the columns are printed, with their headers.
GROUPS = [
    ("closed_1_task", "closed, 1 task"),
    ("closed_2_tasks", "closed, 2 tasks"),
    ("closed_64_tasks", "closed, 64 tasks"),
    ("open_rejection", "open (rejection)"),
    ("failures_1pct", "closed, 1% failures"),
]

# The contenders (criterion functions), in the order the rows are printed. Functions found
# on disk but not listed here are printed after these, in name order.
CONTENDERS = [
    "bare",
    "breakwater_consecutive",
    "breakwater_count_window",
    "breakwater_time_window",
    "breakwater_call",
    "breakwater_forced_open",
    "floor",
    "floor_counted",
    "tower_resilience",
    "failsafe",
    "recloser",
]

BASELINE = "bare"


def criterion_dir():
    if len(sys.argv) > 1:
        return sys.argv[1]
    target = os.environ.get("CARGO_TARGET_DIR")
    if target:
        return os.path.join(target, "criterion")
    crate = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.path.join(crate, "target", "criterion")


def median_ns(root, group, function):
    """The median point estimate in ns, or None if that bench has no results."""
    path = os.path.join(root, group, function, "new", "estimates.json")
    try:
        with open(path, encoding="utf-8") as f:
            return float(json.load(f)["median"]["point_estimate"])
    except (OSError, KeyError, ValueError, TypeError):
        return None


def functions_in(root, group):
    """Every function directory of a group that holds results."""
    path = os.path.join(root, group)
    try:
        names = os.listdir(path)
    except OSError:
        return []
    return [
        n
        for n in names
        if os.path.isfile(os.path.join(path, n, "new", "estimates.json"))
    ]


def fmt_ns(ns):
    return f"{ns:.1f}" if ns < 100 else f"{ns:.0f}"


def fmt_delta(delta):
    sign = "+" if delta >= 0 else "−"
    return sign + fmt_ns(abs(delta))


def cell(value, base, function):
    if value is None:
        return "–"
    if function == BASELINE or base is None:
        return f"{fmt_ns(value)} ns"
    return f"{fmt_ns(value)} ns ({fmt_delta(value - base)})"


def main():
    root = criterion_dir()
    if not os.path.isdir(root):
        sys.exit(f"no criterion results in {root}: run `cargo bench --bench circuit_breaker` first")

    found = set()
    for group, _ in GROUPS:
        found.update(functions_in(root, group))
    if not found:
        sys.exit(f"no results of the circuit_breaker bench groups in {root}")
    rows = [c for c in CONTENDERS if c in found] + sorted(found - set(CONTENDERS))

    medians = {
        (group, function): median_ns(root, group, function)
        for group, _ in GROUPS
        for function in rows
    }

    header = ["contender"] + [title for _, title in GROUPS]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join(["---"] + ["---:"] * len(GROUPS)) + "|")
    for function in rows:
        cells = [f"`{function}`"]
        for group, _ in GROUPS:
            base = medians.get((group, BASELINE))
            cells.append(cell(medians[(group, function)], base, function))
        print("| " + " | ".join(cells) + " |")
    print()
    print(
        "Median ns per call (aggregate over all tasks in the multi-task cases); "
        "in parentheses the overhead over `bare` in the same case and run."
    )


if __name__ == "__main__":
    main()
