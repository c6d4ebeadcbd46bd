"""Repository snapshots → source files → functions with their tests, as Beam composites.

Stages (each balances read = written + filtered + dead-lettered):

- ``list_files`` (``ReadRepositoryFiles``): read = entries of the snapshots (files, and vendored
  or gitignored directories counted once); filtered by ``repos.list_files``'s reasons plus
  ``not_utf8`` / ``bad_encoding``; dead-lettered: a snapshot that cannot be walked
  (``unreadable_snapshot``); written = ``(SourceFile, text)`` pairs.
- ``parse_files``: read = files; filtered ``syntax_error`` / ``python2`` / ``recursion``;
  dead-lettered: an unexpected failure on one file (``extract_error``); written = files parsed.
- ``extract``: read = definitions seen (top-level functions, methods of top-level classes) in
  parsed files; filtered by the def-level reasons of ``python_extract`` and ``no_tests`` (no
  doctest and no test function in the repository calls it); written = functions with tests.
  Test functions are joined to functions repository-wide by ``(uri, commit, module, symbol)``
  (never by the snapshot's local root, which differs between the launcher and each worker).
- ``dedup``: read = functions with tests; filtered ``near_duplicate``; written = the rest.

``extract_repository`` does the same work in a plain loop and gives the same functions.

A staged snapshot (``archive`` set, for workers that cannot see the launcher's disk) is fetched
into the worker's cache by ``repos.ensure_local`` before its files are read, once per DoFn
instance; ``cache_dir`` None means this machine's default, resolved on the worker.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam

from pipelines.io.counters import StageCounters, empty_stage
from pipelines.io.dead_letter import DeadLetter
from pipelines.io.dedup import Deduplicate, dedup_functions, function_id
from pipelines.io.python_extract import MAX_LINES, Extraction, SourceDecodeError, decode_source, extract_functions
from pipelines.io.read import DEAD
from pipelines.io.repos import DEFAULT_MAX_FILE_BYTES, LocalSnapshots, iter_files
from schemas.code import CodeFunction, RepoSnapshot, SourceFile, TestRef

Key = tuple[str, str, str, str]  # (snapshot uri, commit or "", module, symbol): not where its files lie
LINKS = "links"


def read_snapshot(snapshot: RepoSnapshot, max_file_bytes: int) -> Iterator[tuple[SourceFile, str | None, str | None]]:
    """``(file, text, None)`` per kept file, ``(entry, None, reason)`` per filtered entry."""
    for file, raw, reason in iter_files(snapshot, max_file_bytes):
        if reason is not None:
            yield file, None, reason
            continue
        try:
            yield file, decode_source(raw), None
        except SourceDecodeError as exc:
            yield file, None, exc.reason


def with_tests(fn: CodeFunction, links: Iterable[TestRef]) -> CodeFunction:
    refs = sorted(set(fn.tests) | set(links), key=lambda t: (t.kind != "doctest", t.path, t.name))
    return dataclasses.replace(fn, tests=tuple(refs))


def repo_key(repo: RepoSnapshot) -> tuple[str, str]:
    """A snapshot's identity, the same on the launcher and on every worker."""
    return (repo.uri, repo.commit or "")


def fn_key(fn: CodeFunction) -> Key:
    return (*repo_key(fn.repo), fn.module, fn.symbol)


def local_file(file: SourceFile, snapshots: LocalSnapshots) -> SourceFile:
    """``file`` with its snapshot's files on this machine (a staged snapshot fetched once)."""
    if file.repo.archive is None:
        return file
    repo = snapshots.get(file.repo)
    return file if repo == file.repo else dataclasses.replace(file, repo=repo)


def local_function(fn: CodeFunction, snapshots: LocalSnapshots) -> CodeFunction:
    """``fn`` with its snapshot's files on this machine, for the sandbox to mount."""
    if fn.repo.archive is None:
        return fn
    repo = snapshots.get(fn.repo)
    return fn if repo == fn.repo else dataclasses.replace(fn, repo=repo)


# --- Beam -----------------------------------------------------------------------------------------

class ListFilesFn(beam.DoFn):
    def __init__(self, stage: str, max_file_bytes: int, cache_dir: str | None = None):
        self.stage, self.max_file_bytes, self.cache_dir = stage, max_file_bytes, cache_dir
        self.counters = StageCounters(stage)

    def setup(self) -> None:
        self.snapshots = LocalSnapshots(self.cache_dir)

    def process(self, snapshot: RepoSnapshot) -> Iterator[Any]:
        where = f"{snapshot.uri}@{snapshot.commit[:12]}" if snapshot.commit else snapshot.uri
        try:
            snapshot = self.snapshots.get(snapshot)  # a local directory here, else RepoError (staged: fetched once)
            for file, text, reason in read_snapshot(snapshot, self.max_file_bytes):
                self.counters.read()
                if reason is not None:
                    self.counters.filtered(reason)
                else:
                    self.counters.written()
                    yield file, text
        except Exception as exc:  # the rest of the snapshot: one dead letter
            self.counters.read()
            self.counters.dead_lettered()
            yield beam.pvalue.TaggedOutput(DEAD, DeadLetter.of(self.stage, "unreadable_snapshot", where,
                                                               f"{type(exc).__name__}: {exc}"))


class ReadRepositoryFiles(beam.PTransform):
    """Snapshots → ``{"files": (SourceFile, text) pairs (reshuffled), "dead": DeadLetters}``."""

    def __init__(self, snapshots: list[RepoSnapshot], stage: str = "list_files",
                 max_file_bytes: int = DEFAULT_MAX_FILE_BYTES, cache_dir: str | None = None):
        super().__init__()
        self.snapshots, self.stage, self.max_file_bytes = list(snapshots), stage, max_file_bytes
        self.cache_dir = cache_dir

    def expand(self, pbegin: beam.pvalue.PBegin) -> dict[str, beam.PCollection]:
        listed = (
            pbegin
            | "Snapshots" >> beam.Create(self.snapshots)
            | "ListFiles" >> beam.ParDo(ListFilesFn(self.stage, self.max_file_bytes, self.cache_dir)
                                        ).with_outputs(DEAD, main="files")
        )
        return {"files": listed.files | "Spread" >> beam.Reshuffle(), DEAD: listed[DEAD]}


class AnalyseFileFn(beam.DoFn):
    """(file, text) → ``(key, CodeFunction)`` candidates and ``LINKS``: ``(key, TestRef)``."""

    def __init__(self, parse_stage: str, extract_stage: str, max_lines: int, cache_dir: str | None = None):
        self.parse_stage, self.extract_stage, self.max_lines = parse_stage, extract_stage, max_lines
        self.cache_dir = cache_dir
        self.parse = StageCounters(parse_stage)
        self.extract = StageCounters(extract_stage)

    def setup(self) -> None:
        self.snapshots = LocalSnapshots(self.cache_dir)

    def process(self, element: tuple[SourceFile, str]) -> Iterator[Any]:
        file, text = element
        self.parse.read()
        try:
            file = local_file(file, self.snapshots)  # extraction looks for __init__.py files in the snapshot
            got = extract_functions(file, text, self.max_lines)
        except Exception as exc:
            self.parse.dead_lettered()
            yield beam.pvalue.TaggedOutput(DEAD, DeadLetter.of_failure(self.parse_stage, exc, file.ref, text, "extract_error"))
            return
        if got.reason:
            self.parse.filtered(got.reason)
            return
        self.parse.written()
        self.extract.read(got.defs_seen)
        for reason, n in sorted(got.rejected.items()):
            self.extract.filtered(reason, n)
        for fn in got.functions:
            yield fn_key(fn), fn
        for module, symbol, ref in got.links:
            yield beam.pvalue.TaggedOutput(LINKS, ((*repo_key(file.repo), module, symbol), ref))


def _join(element: tuple[Key, dict[str, Iterable[Any]]], counters: StageCounters) -> Iterator[CodeFunction]:
    _key, grouped = element
    links = list(grouped["tests"])
    for fn in sorted(grouped["functions"], key=function_id):
        tested = with_tests(fn, links)
        if tested.tests:
            counters.written()
            yield tested
        else:
            counters.filtered("no_tests")


class ExtractFunctions(beam.PTransform):
    """``(SourceFile, text)`` pairs → ``{"functions": CodeFunctions (with tests, deduplicated), "dead": ...}``.

    Applied to ``ReadRepositoryFiles``' whole output (the dict), it reads its ``"files"`` and its
    dead letters come out with this transform's own.

    Stages ``parse_files``, ``extract``, ``dedup`` (see the module docstring).
    """

    def __init__(self, max_lines: int = MAX_LINES, dedup: bool = True, cache_dir: str | None = None):
        super().__init__()
        self.max_lines, self.dedup, self.cache_dir = max_lines, dedup, cache_dir

    def expand(self, files: beam.PCollection | dict[str, beam.PCollection]) -> dict[str, beam.PCollection]:
        upstream_dead = None
        if isinstance(files, dict):  # ReadRepositoryFiles' whole output: its dead letters are passed on
            files, upstream_dead = files["files"], files.get(DEAD)
        analysed = files | "Analyse" >> beam.ParDo(
            AnalyseFileFn("parse_files", "extract", self.max_lines, self.cache_dir)).with_outputs(DEAD, LINKS, main="functions")
        functions = (
            {"functions": analysed.functions, "tests": analysed[LINKS]}
            | "JoinTests" >> beam.CoGroupByKey()
            | "WithTests" >> beam.FlatMap(_join, StageCounters("extract"))
        )
        if self.dedup:
            functions = functions | "Dedup" >> Deduplicate("dedup")
        dead = analysed[DEAD]
        if upstream_dead is not None:
            dead = (upstream_dead, dead) | "AllDead" >> beam.Flatten()
        return {"functions": functions, DEAD: dead}


# --- the plain loop ------------------------------------------------------------------------------

def extract_repository(snapshot: RepoSnapshot, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES, max_lines: int = MAX_LINES,
                       counts: dict[str, dict[str, Any]] | None = None, dedup: bool = True) -> list[CodeFunction]:
    """The same work as ``ReadRepositoryFiles`` + ``ExtractFunctions`` in one loop; functions sorted
    by ``function_id``. ``counts``, when given, is filled like ``stage_counts`` of the pipeline."""
    counts = counts if counts is not None else {}
    stages = {name: counts.setdefault(name, empty_stage())
              for name in ("list_files", "parse_files", "extract", "dedup")}
    listing, parsing, extracting, deduping = stages.values()
    candidates: dict[Key, list[CodeFunction]] = defaultdict(list)
    links: dict[Key, list[TestRef]] = defaultdict(list)
    for file, text, reason in read_snapshot(snapshot, max_file_bytes):
        listing["read"] += 1
        if reason is not None:
            _bump(listing, reason)
            continue
        listing["written"] += 1
        parsing["read"] += 1
        got: Extraction = extract_functions(file, text, max_lines)
        if got.reason:
            _bump(parsing, got.reason)
            continue
        parsing["written"] += 1
        extracting["read"] += got.defs_seen
        for reason_, n in got.rejected.items():
            _bump(extracting, reason_, n)
        for fn in got.functions:
            candidates[fn_key(fn)].append(fn)
        for module, symbol, ref in got.links:
            links[(*repo_key(file.repo), module, symbol)].append(ref)
    tested: list[CodeFunction] = []
    for key in sorted(candidates):
        for fn in candidates[key]:
            fn = with_tests(fn, links.get(key, ()))
            if fn.tests:
                extracting["written"] += 1
                tested.append(fn)
            else:
                _bump(extracting, "no_tests")
    if not dedup:
        return sorted(tested, key=function_id)
    kept, dropped = dedup_functions(tested)
    deduping["read"] += len(tested)
    deduping["written"] += len(kept)
    if dropped:
        _bump(deduping, "near_duplicate", len(dropped))
    return kept


def _bump(entry: dict[str, Any], reason: str, n: int = 1) -> None:
    entry["filtered"][reason] = entry["filtered"].get(reason, 0) + n
