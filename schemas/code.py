"""Records of the code CoT pipeline: a repository at a revision, one of its files, a function.

Plain frozen dataclasses (cheap to pickle between Beam workers). Nothing here reads or runs
repository code: extraction (``pipelines/sources/code/extract.py``) fills them from ``ast``, and
only the sandbox (``verifiers/sandbox``) ever executes what they point at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

TestKind = Literal["doctest", "function"]


@dataclass(frozen=True)
class RepoSnapshot:
    """A repository's files at one revision, materialised in a local directory.

    ``uri`` names the repository (``pipelines.sources.code.repos.repo_uri``: a git URL without credentials, a
    local repository's ``origin`` remote, else an absolute ``file://`` URI); ``commit`` the resolved commit SHA
    (None for a plain directory); ``root`` the local directory holding exactly those files
    (a ``git archive`` of the commit in the cache, or the plain directory itself);
    ``license`` an SPDX id when a licence file was recognised, ``"see FILE"`` when one exists
    but was not recognised, None when there is none. ``archive``, when set, is the URI (any Beam
    filesystem path) of a tar of exactly those files, staged for workers that cannot see ``root``
    (``pipelines.sources.code.staging.stage_snapshot`` / ``ensure_local``). Neither ``root`` nor ``archive``
    is part of any row's identity: a snapshot is ``(uri, commit)`` wherever its files lie.
    ``skip`` lists folders of a plain directory, relative to ``root``, that are not walked: the
    run's own output and caches, when they lie inside it (filtered ``output_or_cache``).
    ``refused``, when set, is why the snapshot's archive was refused (``unsafe_archive``,
    ``snapshot_too_large``): it has no files (``root`` is empty) and counts as one filtered entry.
    """

    uri: str
    commit: str | None
    root: str
    license: str | None = None
    archive: str | None = None
    skip: tuple[str, ...] = ()
    refused: str | None = None


@dataclass(frozen=True)
class SourceFile:
    """One file of a snapshot, by its POSIX path relative to ``repo.root``."""

    repo: RepoSnapshot
    path: str
    size: int = 0

    @property
    def ref(self) -> str:
        at = f"@{self.repo.commit[:12]}" if self.repo.commit else ""
        return f"{self.repo.uri}{at}:{self.path}"


@dataclass(frozen=True)
class TestRef:
    """A test that exercises a function.

    ``doctest``: the examples in the function's own docstring (``path`` is the module's path,
    ``name`` the symbol). ``function``: a test of the repository's suite, as pytest collects it
    (``pipelines/sources/code/suite.py``) in the test file ``path``: ``name`` is a test function
    (``test_f``), a test method (``Class.test_m``, of a ``unittest.TestCase`` subclass whatever its
    name, or of a pytest ``Test*`` class), or one case of a parametrized test with pytest's id
    (``test_f[1-2]``); ``args`` is that case's arguments, the source of a dict of literals and the
    test module's top-level names (``{'n': 3, 'expected': [1, 2]}``, ``{'function': factorial}``),
    which the sandbox's harness evaluates in that module, "" for any other test. ``label`` is the test's pytest node id
    (``tests/test_m.py::ChunkedTests::test_even``, ``tests/test_m.py::test_f[1-2]``), or
    ``doctest SYMBOL``: how the sandbox's verdict names it.
    """

    __test__ = False  # not a pytest test class

    kind: TestKind
    path: str
    name: str
    args: str = ""

    @property
    def label(self) -> str:
        if self.kind == "doctest":
            return f"doctest {self.name}"
        return f"{self.path}::{node_name(self.name)}"


def node_name(name: str) -> str:
    """A test's name in its module as a node id's tail: ``Class.test_m[a.b]`` → ``Class::test_m[a.b]``
    (dots of the case id kept)."""
    head, bracket, case = name.partition("[")
    return head.replace(".", "::") + bracket + case


@dataclass(frozen=True)
class CodeFunction:
    """A function (or method) extracted from a module, with what is needed to test it in place.

    ``module`` is the dotted import name of its file when ``import_root`` (a directory relative
    to the snapshot root, "" for the root itself, "src" for a src layout) is on ``sys.path``.
    ``symbol`` is ``name`` or ``Class.name``. ``code`` is the function's source, dedented, with
    its decorators; it occupies lines ``start_line``..``end_line`` (1-based, inclusive) of the
    module, each line prefixed there by ``indent``. ``signature`` is the ``def`` line(s) up to
    the colon; ``docstring`` the cleaned docstring.
    """

    repo: RepoSnapshot
    path: str
    module: str
    import_root: str
    symbol: str
    signature: str
    docstring: str
    code: str
    start_line: int
    end_line: int
    indent: str
    tests: tuple[TestRef, ...] = ()

    @property
    def name(self) -> str:
        return self.symbol.rsplit(".", 1)[-1]

    @property
    def ref(self) -> str:
        at = f"@{self.repo.commit[:12]}" if self.repo.commit else ""
        return f"{self.repo.uri}{at}:{self.path}::{self.symbol}"


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


def source_lines(text: str, keepends: bool = True) -> list[str]:
    """The lines of Python source as ``ast`` and ``tokenize`` number them: split at ``\\n``,
    ``\\r\\n`` and ``\\r`` only (``str.splitlines`` also splits at form feeds and Unicode line
    separators, which would shift every line number after them)."""
    lines = _LINE.findall(text)
    return lines if keepends else [line.rstrip("\r\n") for line in lines]


@dataclass(frozen=True)
class CheckedFunction:
    """A function whose untouched code passed its tests in the sandbox, on its way to a CoT."""

    fn: CodeFunction
    original: str  # the verdict's detail, kept in the row's verifier_detail
    row_id: str
