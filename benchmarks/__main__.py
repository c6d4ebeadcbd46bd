"""Run the benchmarks: ``python -m benchmarks [NAME ...]`` (``make bench`` runs them all)."""

from __future__ import annotations

import os
import sys
from importlib import import_module

from benchmarks.report import Report

#: in the order ``make bench`` runs them; the cheap, model-free ones first
BENCHES = ("sandbox", "extraction", "resume_graph", "cluster_overhead", "rollout_economy", "tagging_accuracy", "tagging",
           "trees_overhead", "decontamination_overhead", "value_model_economy",
           "training_data", "studio", "pipeline_overhead", "expand_search", "lean_cot", "gpu_model_efficiency",
           "generation_efficiency", "engine_memory")
#: run only when named (``make bench-gpu``): they need hardware CI and these machines lack
ON_REQUEST = ("gpu",)


def main(argv: list[str] | None = None) -> int:
    names = list(argv if argv is not None else sys.argv[1:]) or list(BENCHES)
    unknown = [n for n in names if n not in BENCHES + ON_REQUEST]
    if unknown:
        print(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHES + ON_REQUEST)}", file=sys.stderr)
        return 2
    os.environ.setdefault("REVERSE_O1_NO_PROGRESS", "1")
    report = Report()
    for name in names:
        import_module(f"benchmarks.{name}").run(report)
    report.write()
    return 0 if all(f["ok"] for f in report.figures.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
