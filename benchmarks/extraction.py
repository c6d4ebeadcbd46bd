"""extraction: functions extracted/s through Beam ÷ a plain loop over the same files (bar >= 0.5).

The repository is a few hundred real Python files: the standard library's top-level modules
and their tests from ``Lib/test`` (copied as text into a temp dir, never imported). Both sides
do the whole work: list, decode, parse, extract, link tests, deduplicate. The Beam side is
``ReadRepositoryFiles`` + ``ExtractFunctions`` on the DirectRunner, start-up included, collecting
the ids of the functions it gives. The loop (``plain_loop``, here only: the package has one
implementation, the Beam one) calls the same building blocks with no Beam and no counting; both
must give the same functions (by ``function_id``).

Scaling: the same tree copied 2× and 4× (in sibling folders); near-duplicate removal folds the
copies back to the same functions, so the scaling figures are per-file rates (files/s). The
tree was just written, so both sides read it from the page cache.
"""

from __future__ import annotations

import os
import pickle
import shutil
import sysconfig
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from benchmarks.report import Report
from pipelines.sources.code.dedup import FunctionId, dedup_functions, function_id
from pipelines.sources.code.extract import extract_functions
from pipelines.sources.code.read import ExtractFunctions, Key, ReadRepositoryFiles, fn_key, read_snapshot, repo_key, with_tests
from pipelines.sources.code.reexports import alias_table, resolve_link
from pipelines.sources.code.repos import RepoSnapshot
from pipelines.stage.counters import stage_counts
from schemas.code import CodeFunction, SourceFile, TestRef

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


def _save_ids(ids: list[FunctionId], path: str) -> None:
    with open(path, "wb") as handle:
        pickle.dump(sorted(ids), handle)


def run_beam(snapshot: RepoSnapshot, options: dict, ids_file: Path) -> tuple[list[FunctionId], float, dict]:
    start = time.perf_counter()
    p = beam.Pipeline(options=PipelineOptions(flags=[], **options))
    files = p | ReadRepositoryFiles([snapshot], max_file_bytes=MAX_FILE_BYTES)
    extracted = files["files"] | ExtractFunctions()
    _ = (extracted["functions"] | "Id" >> beam.Map(function_id) | "All" >> beam.combiners.ToList()
         | "Keep" >> beam.Map(_save_ids, str(ids_file)))
    result = p.run()
    result.wait_until_finish()
    seconds = time.perf_counter() - start
    return pickle.loads(ids_file.read_bytes()), seconds, stage_counts(result)


def plain_loop(snapshot: RepoSnapshot) -> list[CodeFunction]:
    """The baseline: list and decode, extract, join each candidate to the tests that call it
    (repository-wide, by ``fn_key``), keep those with tests, deduplicate; one loop, nothing counted."""
    candidates: dict[Key, list[CodeFunction]] = defaultdict(list)
    found: list[tuple[SourceFile, str, str, TestRef]] = []
    names = []
    for file, text, reason in read_snapshot(snapshot, MAX_FILE_BYTES):
        if reason is not None:
            continue
        got = extract_functions(file, text)
        if got.reason:
            continue
        for fn in got.functions:
            candidates[fn_key(fn)].append(fn)
        found.extend((file, module, symbol, ref) for module, symbol, ref in got.links)
        if got.names is not None:
            names.append(got.names)
    aliases = alias_table(names)  # re-exports followed to the defining module, as the Beam join does
    links: dict[Key, list[TestRef]] = defaultdict(list)
    for file, module, symbol, ref in found:
        links[(*repo_key(file.repo), *resolve_link(aliases, module, symbol))].append(ref)
    tested = [fn for key, fns in candidates.items() for fn in (with_tests(f, links.get(key, ())) for f in fns) if fn.tests]
    kept, _dropped = dedup_functions(tested)
    return kept


def run_loop(snapshot: RepoSnapshot) -> tuple[list[FunctionId], float]:
    start = time.perf_counter()
    functions = plain_loop(snapshot)
    seconds = time.perf_counter() - start
    return sorted(map(function_id, functions)), seconds


def run(report: Report, options: dict | None = None, scales: tuple[int, ...] = (1, 2, 4)) -> None:
    options = options or {}
    work = Path(tempfile.mkdtemp(prefix="bench-extract-"))
    try:
        per_file: dict[int, tuple[float, float]] = {}
        for scale in scales:
            root = work / f"x{scale}"
            n_files = build_tree(root, scale)
            snapshot = RepoSnapshot(str(root), None, str(root))
            loop_ids, loop_s = run_loop(snapshot)
            beam_ids, beam_s, counts = run_beam(snapshot, options, work / f"ids{scale}.pkl")
            loop_fns, beam_fns = len(loop_ids), len(beam_ids)
            per_file[scale] = (n_files / loop_s, n_files / beam_s)
            print(f"  {scale}x: {n_files} files, {counts['extract']['read']} defs, loop {loop_fns} functions in {loop_s:.2f} s, "
                  f"beam {beam_fns} functions in {beam_s:.2f} s")
            if beam_ids != loop_ids:
                only_beam, only_loop = set(beam_ids) - set(loop_ids), set(loop_ids) - set(beam_ids)
                raise RuntimeError(f"extraction {scale}x: Beam and the plain loop disagree: {len(only_beam)} functions "
                                   f"only from Beam (e.g. {sorted(only_beam)[:3]}), {len(only_loop)} only from the loop "
                                   f"(e.g. {sorted(only_loop)[:3]})")
            if scale == scales[0]:
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
