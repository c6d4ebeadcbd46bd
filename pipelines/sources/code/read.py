"""Repository snapshots → source files → functions with their tests, as Beam composites.

Stages (each balances read = written + filtered + dead-lettered):

- ``list_files`` (``ReadRepositoryFiles``): read = entries of the snapshots (files, and vendored
  or gitignored directories counted once; a refused snapshot is one entry); filtered by
  ``repos.list_files``'s reasons plus ``not_utf8`` / ``bad_encoding``, and a refused snapshot's
  reason (``unsafe_archive``, ``snapshot_too_large``); dead-lettered: a snapshot that cannot be walked
  (``unreadable_snapshot``); written = ``(SourceFile, text)`` pairs.
- ``parse_files``: read = files; filtered ``syntax_error`` / ``python2`` / ``recursion``;
  dead-lettered: an unexpected failure on one file (``extract_error``); written = files parsed.
  Its stats: ``suite_tests`` (tests collected from test files, a parametrized case each) and
  ``unlinked_tests:REASON`` (tests pytest would run that are not linked: ``suite.py``).
- ``extract``: read = definitions seen (top-level functions, methods of top-level classes) in
  parsed files; filtered by the def-level reasons of ``python_extract`` and ``no_tests`` (no
  doctest and no test in the repository calls it); written = functions with tests.
  Tests are joined to functions repository-wide by ``(uri, commit, module, symbol)`` (never by
  the snapshot's local root, which differs between the launcher and each worker), after each
  link is moved through the repository's re-exports to the module defining the function
  (``reexports.py``: every module's top-level names, gathered per repository into an alias table).
  Its stats, a report per repository (``REPO`` is ``uri@commit``, 12 hex digits): ``functions``,
  ``with_doctests``, ``with_suite_tests``, ``with_both`` (of the functions that passed the def-level
  filters; without ``no_tests`` they are the written ones), in total and as ``NAME:REPO``.
- ``dedup``: read = functions with tests; filtered ``near_duplicate``; written = the rest.

A staged snapshot (``archive`` set, for workers that cannot see the launcher's disk) is fetched
into the worker's cache by ``staging.ensure_local`` before its files are read, once per DoFn
instance; ``cache_dir`` None means this machine's default, resolved on the worker.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam

from pipelines.io.read import DEAD
from pipelines.sources.code.dedup import Deduplicate, function_id
from pipelines.sources.code.extract import MAX_LINES, Extraction, SourceDecodeError, decode_source, extract_functions
from pipelines.sources.code.reexports import ModuleNames, alias_table, resolve_link
from pipelines.sources.code.repos import DEFAULT_MAX_FILE_BYTES, iter_files
from pipelines.sources.code.safe_tree import UnsafeArchive
from pipelines.sources.code.staging import LocalSnapshots
from pipelines.stage.kernel import Emit, Filtered, Pending, Stage
from schemas.code import CodeFunction, RepoSnapshot, SourceFile, TestRef

Key = tuple[str, str, str, str]  # (snapshot uri, commit or "", module, symbol): not where its files lie
LINKS = "links"
NAMES = "names"
REPORT_STATS = ("functions", "with_doctests", "with_suite_tests", "with_both")


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


def repo_ref(repo: RepoSnapshot) -> str:
    """A snapshot as a stat names it: ``uri@commit`` (12 hex digits), or the uri."""
    return f"{repo.uri}@{repo.commit[:12]}" if repo.commit else repo.uri


def aliases_of_repo(element: tuple[tuple[str, str], Iterable[ModuleNames]]) -> Iterator[tuple[Key, tuple[str, str]]]:
    """A repository's modules' names → ``(key of a re-exported name, (defining module, name))``."""
    repo, names = element
    for (module, name), target in sorted(alias_table(names).items()):
        yield (*repo, module, name), target


def link_by_head(element: tuple[Key, TestRef]) -> tuple[Key, tuple[str, TestRef]]:
    """A test's link keyed by the top-level name it reaches (a method's class), for the alias join."""
    (uri, commit, module, symbol), ref = element
    return (uri, commit, module, symbol.partition(".")[0]), (symbol, ref)


def resolve_links(element: tuple[Key, dict[str, Iterable[Any]]]) -> Iterator[tuple[Key, TestRef]]:
    """Links of one ``(module, name)`` moved to the module defining it, where the alias table has it."""
    (uri, commit, module, head), grouped = element
    targets = sorted(grouped["aliases"])
    aliases = {(module, head): targets[0]} if targets else {}
    for symbol, ref in grouped["links"]:
        yield (uri, commit, *resolve_link(aliases, module, symbol)), ref


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

class ListFilesFn(Stage):
    """A snapshot → its kept ``(SourceFile, text)`` pairs; each entry is one read, and a snapshot that
    cannot be walked is one dead letter (``unreadable_snapshot``) for the rest of it."""

    per_item = True
    failure = "unreadable_snapshot"

    def __init__(self, stage: str, max_file_bytes: int, cache_dir: str | None = None):
        super().__init__(stage)
        self.max_file_bytes, self.cache_dir = max_file_bytes, cache_dir

    def setup(self) -> None:
        self.snapshots = LocalSnapshots(self.cache_dir)

    def ref(self, snapshot: RepoSnapshot) -> str:
        return f"{snapshot.uri}@{snapshot.commit[:12]}" if snapshot.commit else snapshot.uri

    def preview(self, snapshot: RepoSnapshot) -> None:
        return None

    def run(self, snapshot: RepoSnapshot) -> Iterator[Any]:
        if snapshot.refused is not None:  # its archive was refused on the launcher: one entry, filtered
            yield Filtered(snapshot.refused)
            return
        try:
            snapshot = self.snapshots.get(snapshot)  # a local directory here, else RepoError (staged: fetched once)
        except UnsafeArchive as exc:  # a staged archive this worker refuses
            yield Filtered(exc.reason)
            return
        for file, text, reason in read_snapshot(snapshot, self.max_file_bytes):
            yield Filtered(reason) if reason is not None else (file, text)


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


class AnalyseFileFn(Stage):
    """Stage ``parse_files``: (file, text) → its ``Extraction`` (candidates, rejected defs); on
    ``LINKS``, ``(key, TestRef)`` for each function its tests call (as the test module names it);
    on ``NAMES``, ``((uri, commit), ModuleNames)`` of a module that is not a test file."""

    failure = "extract_error"

    def __init__(self, stage: str, max_lines: int, cache_dir: str | None = None):
        super().__init__(stage)
        self.max_lines, self.cache_dir = max_lines, cache_dir

    def setup(self) -> None:
        self.snapshots = LocalSnapshots(self.cache_dir)

    def ref(self, element: tuple[SourceFile, str]) -> str:
        return element[0].ref

    def preview(self, element: tuple[SourceFile, str]) -> str:
        return element[1]

    def run(self, element: tuple[SourceFile, str]) -> Any:
        file = local_file(element[0], self.snapshots)  # extraction looks for __init__.py files in the snapshot
        got = extract_functions(file, element[1], self.max_lines)
        if got.reason:
            return Filtered(got.reason)
        links = [beam.pvalue.TaggedOutput(LINKS, ((*repo_key(file.repo), module, symbol), ref))
                 for module, symbol, ref in got.links]
        if got.suite_tests:
            self.stat("suite_tests", got.suite_tests)
        for reason, n in sorted(got.unlinked.items()):
            self.stat(f"unlinked_tests:{reason}", n)
        names = [beam.pvalue.TaggedOutput(NAMES, (repo_key(file.repo), got.names))] if got.names is not None else []
        return Emit(got, *links, *names)


class SplitDefsFn(Stage):
    """Stage ``extract``, first step: each definition a parsed file holds is one read; a rejected one
    is filtered with its reason, a candidate goes on to be joined with its tests (``JoinTestsFn``)."""

    per_item = True

    def run(self, got: Extraction) -> Iterator[Any]:
        for reason, n in sorted(got.rejected.items()):
            yield from [Filtered(reason)] * n
        for fn in got.functions:
            yield Pending((fn_key(fn), fn))


class JoinTestsFn(Stage):
    """Stage ``extract``, second step: a candidate with the repository's tests that call it is
    written; one with none is filtered ``no_tests``. Each candidate counts in the report of its
    repository (``REPORT_STATS``)."""

    per_item = True
    counts_read = False

    def run(self, element: tuple[Key, dict[str, Iterable[Any]]]) -> Iterator[Any]:
        _key, grouped = element
        links = list(grouped["tests"])
        for fn in sorted(grouped["functions"], key=function_id):
            tested = with_tests(fn, links)
            self.report(tested)
            yield tested if tested.tests else Filtered("no_tests")

    def report(self, fn: CodeFunction) -> None:
        doctests = any(t.kind == "doctest" for t in fn.tests)
        suite = any(t.kind != "doctest" for t in fn.tests)
        where = repo_ref(fn.repo)
        for name, counted in zip(REPORT_STATS, (True, doctests, suite, doctests and suite), strict=True):
            if counted:
                self.stat(name)
                self.stat(f"{name}:{where}")


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
            AnalyseFileFn("parse_files", self.max_lines, self.cache_dir)).with_outputs(DEAD, LINKS, NAMES, main="parsed")
        candidates = analysed.parsed | "Defs" >> beam.ParDo(SplitDefsFn("extract")).with_outputs(DEAD, main="functions")
        aliases = analysed[NAMES] | "NamesByRepo" >> beam.GroupByKey() | "Aliases" >> beam.FlatMap(aliases_of_repo)
        links = (
            {"aliases": aliases, "links": analysed[LINKS] | "ByHead" >> beam.Map(link_by_head)}
            | "JoinAliases" >> beam.CoGroupByKey()
            | "Resolve" >> beam.FlatMap(resolve_links)
        )
        joined = (
            {"functions": candidates.functions, "tests": links}
            | "JoinTests" >> beam.CoGroupByKey()
            | "WithTests" >> beam.ParDo(JoinTestsFn("extract")).with_outputs(DEAD, main="functions")
        )
        functions = joined.functions
        dead = [analysed[DEAD], candidates[DEAD], joined[DEAD]] + ([upstream_dead] if upstream_dead is not None else [])
        if self.dedup:
            unique = functions | "Dedup" >> Deduplicate("dedup")
            functions = unique["functions"]
            dead.append(unique[DEAD])
        dead = dead | "AllDead" >> beam.Flatten()
        return {"functions": functions, DEAD: dead}

