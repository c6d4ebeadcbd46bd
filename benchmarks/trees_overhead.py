"""trees_overhead: ``expand`` wall time writing its search trees (``DIR/trees``, the default) ÷ the
same run with ``--no-trees``; bar ≤ 1.1.

Side by side, alternating, the median of ``REPEATS`` runs each, through the real Beam runner on the
same seeds and settings. The backend is the scripted policy (a test double answering at once), so
no model time hides what the trees cost: this is the worst case; with a model the search's
generation dwarfs both sides and the ratio tends to 1. Factor actions make the trees wide (every
factor tried at every expansion), so there are many nodes per row written.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time

from benchmarks.report import Report
from common.local_disk import remove_tree
from pipelines.config import RunConfig
from pipelines.expand import build_expand
from pipelines.runner import run_command

REPEATS = 3
POLICY = json.dumps({"rules": [["BAD", "So it is 7.\nThe answer is 7."], ["Write the", "Add the two numbers."]],
                     "default": "So 40 + 2 = 42.\nThe answer is 42."})


def seeds_file(directory: str, count: int) -> str:
    path = os.path.join(directory, "seeds.jsonl")
    with open(path, "w", encoding="utf-8") as handle:
        for i in range(count):
            steps = ["There are 40 apples.", "A BAD step." if i % 3 == 0 else "Tom buys 2 more.", "40 + 2 = 42."]
            handle.write(json.dumps({"id": f"s{i}", "problem": f"Problem {i}: 40 + 2?", "answer": "42",
                                     "steps": [{"text": t} for t in steps]}) + "\n")
    return path


def one_run(work: str, seeds: str, trees: bool, index: int) -> tuple[float, dict]:
    out = os.path.join(work, f"out-{trees}-{index}")
    config = RunConfig(input=[seeds], out=out, backend="scripted", model=POLICY, simulations=8, branching=4,
                       max_depth=6, factor_actions=True, trees=trees, quiet=True)
    started = time.monotonic()
    summary = run_command("expand", config, build_expand, [])
    elapsed = time.monotonic() - started
    remove_tree(out)
    return elapsed, summary.manifest


def run(report: Report, seeds: int = 40) -> None:
    work = tempfile.mkdtemp(prefix="bench-trees-")
    try:
        path = seeds_file(work, seeds)
        one_run(work, path, True, -1)  # warm-up: imports, the verifier's first load
        with_trees, without, nodes = [], [], 0
        for i in range(REPEATS):
            elapsed, manifest = one_run(work, path, True, i)
            with_trees.append(elapsed)
            nodes = manifest["outputs"].get("trees_rows", 0)
            without.append(one_run(work, path, False, i)[0])
    finally:
        remove_tree(work)
    ratio = statistics.median(with_trees) / statistics.median(without)
    print(f"  {seeds} seeds, {nodes} tree nodes: with trees {statistics.median(with_trees):.2f} s, "
          f"--no-trees {statistics.median(without):.2f} s (medians of {REPEATS})")
    report.add("trees_overhead", ratio, "<=", 1.1, tree_nodes=nodes, with_trees_s=round(statistics.median(with_trees), 2),
               without_s=round(statistics.median(without), 2), backend="scripted (worst case: no model time)")
