"""engine_memory: one model copy per worker process, whatever ``--inflight`` is.

Peak RSS of ``reverse-o1 expand`` on the embedded model with ``--inflight 64`` ÷ with ``--inflight 1``
(each run in a fresh process; the figure is the largest process of the run, the one holding the
model): bar ≤ 1.5. The programs in flight hold their search trees and prompts, not model copies.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

from benchmarks.generation_efficiency import seeds_file
from benchmarks.report import Report

PROBE = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
         "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def peak_rss_mb(argv: list[str]) -> float:
    """Peak RSS (MB) of the largest process ``argv`` ran (measured in a fresh parent)."""
    out = subprocess.run([sys.executable, "-c", PROBE, *argv], check=True, capture_output=True, text=True)
    return int(out.stdout.strip().splitlines()[-1]) / 1024


def run(report: Report, seeds: int = 16) -> None:
    work = tempfile.mkdtemp(prefix="bench-memory-")
    try:
        path, _ = seeds_file(work, seeds)
        peaks = {}
        for inflight in (1, 64):
            argv = [sys.executable, "-m", "pipelines", "expand", "--seeds", path, "--out", os.path.join(work, f"o{inflight}"),
                    "--cuts", "first", "--simulations", "2", "--branching", "2", "--max-new-tokens", "16",
                    "--inflight", str(inflight), "--quiet"]
            peaks[inflight] = peak_rss_mb(argv)
            print(f"  expand --inflight {inflight}: peak RSS {peaks[inflight]:.0f} MB", flush=True)
        report.add("engine_memory", peaks[64] / peaks[1], "<=", 1.5, rss_mb_inflight_1=round(peaks[1]),
                   rss_mb_inflight_64=round(peaks[64]), seeds=seeds)
    finally:
        shutil.rmtree(work, ignore_errors=True)
