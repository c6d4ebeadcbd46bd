"""Run every benchmark: ``python -m benchmarks`` (``make bench``)."""

from __future__ import annotations

import os

from benchmarks import expand_search, lean_cot, pipeline_overhead, rollout_economy, tagging
from benchmarks.report import Report


def main() -> int:
    os.environ.setdefault("REVERSE_O1_NO_PROGRESS", "1")
    report = Report()
    pipeline_overhead.run(report)
    rollout_economy.run(report)
    expand_search.run(report)
    tagging.run(report)
    lean_cot.run(report)
    report.write()
    return 0 if all(f["ok"] for f in report.figures.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
