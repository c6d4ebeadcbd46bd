"""extraction: functions extracted/s through Beam ÷ a plain loop over the same files (bar >= 0.5).

The repository is a few hundred real Python files: the standard library's top-level modules
and their tests from ``Lib/test`` (copied as text into a temp dir, never imported). Both sides
do the whole work: list, decode, parse, extract, link tests, deduplicate. The Beam side is
``ReadRepositoryFiles`` + ``ExtractFunctions`` on the DirectRunner, start-up included.

Scaling: the same tree copied 2× and 4× (in sibling folders); near-duplicate removal folds the
copies back to the same functions, so the scaling figures are per-file rates (files/s). The
tree was just written, so both sides read it from the page cache.
"""

from __future__ import annotations

import os
import shutil
import sysconfig
import tempfile
import time
from pathlib import Path

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from benchmarks.report import Report
from pipelines.io.code_read import ExtractFunctions, ReadRepositoryFiles, extract_repository
from pipelines.io.counters import stage_counts
from pipelines.io.repos import RepoSnapshot

STDLIB = Path(sysconfig.get_paths()["stdlib"])
MAX_FILE_BYTES = 1_000_000


def build_tree(root: Path, copies: int, limit: int = 400) -> int:
    """``copies`` copies of stdlib modules + their tests under ``root``; the number of .py files."""
    modules = sorted(p for p in STDLIB.glob("*.py") if p.stat().st_size < 300_000)
    tests = [STDLIB / "test" / f"test_{p.stem}.py" for p in modules]
    files = (modules + [t for t in tests if t.is_file()])[:limit]
    for c in range(copies):
        base = root / f"copy{c}"
        (base / "tests").mkdir(parents=True)
        for src in files:
            dest = base / ("tests" if src.parent.name == "test" else "") / src.name
            shutil.copyfile(src, dest)
    return len(files) * copies


def run_beam(snapshot: RepoSnapshot, options: dict) -> tuple[int, float, dict]:
    start = time.perf_counter()
    p = beam.Pipeline(options=PipelineOptions(flags=[], **options))
    files = p | ReadRepositoryFiles([snapshot], max_file_bytes=MAX_FILE_BYTES)
    _ = files["files"] | ExtractFunctions()
    result = p.run()
    result.wait_until_finish()
    seconds = time.perf_counter() - start
    counts = stage_counts(result)
    return counts["dedup"]["written"], seconds, counts


def run_loop(snapshot: RepoSnapshot) -> tuple[int, float]:
    start = time.perf_counter()
    functions = extract_repository(snapshot, max_file_bytes=MAX_FILE_BYTES)
    return len(functions), time.perf_counter() - start


def run(report: Report, options: dict | None = None, scales: tuple[int, ...] = (1, 2, 4)) -> None:
    options = options or {}
    work = Path(tempfile.mkdtemp(prefix="bench-extract-"))
    try:
        per_file: dict[int, tuple[float, float]] = {}
        for scale in scales:
            root = work / f"x{scale}"
            n_files = build_tree(root, scale)
            snapshot = RepoSnapshot(str(root), None, str(root))
            loop_fns, loop_s = run_loop(snapshot)
            beam_fns, beam_s, counts = run_beam(snapshot, options)
            per_file[scale] = (n_files / loop_s, n_files / beam_s)
            print(f"  {scale}x: {n_files} files, {counts['extract']['read']} defs, loop {loop_fns} functions in {loop_s:.2f} s, "
                  f"beam {beam_fns} functions in {beam_s:.2f} s")
            if scale == scales[0]:
                if beam_fns != loop_fns:
                    print(f"  ** Beam gave {beam_fns} functions, the loop {loop_fns} **")
                report.add("extraction", (beam_fns / beam_s) / (loop_fns / loop_s), ">=", 0.5, files=n_files,
                           functions=loop_fns, loop_functions_per_s=round(loop_fns / loop_s, 1),
                           beam_functions_per_s=round(beam_fns / beam_s, 1))
            report.info(f"extraction_files_per_s_{scale}x_loop", per_file[scale][0], files=n_files)
            report.info(f"extraction_files_per_s_{scale}x_beam", per_file[scale][1], files=n_files)
        base = scales[0]
        for scale in scales[1:]:
            # per-file rate at this size ÷ at the base size: 1.0 is linear; Beam's fixed start-up makes it grow
            report.info(f"extraction_scaling_{scale}x_beam", per_file[scale][1] / per_file[base][1])
            report.info(f"extraction_scaling_{scale}x_loop", per_file[scale][0] / per_file[base][0])
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    report = Report(os.environ.get("BENCH_OUT", "out/bench-extraction.json"))
    run(report)
