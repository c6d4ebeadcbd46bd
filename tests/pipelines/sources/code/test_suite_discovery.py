"""Tests found as pytest finds them, on a repository in the style of more-itertools built here.

The package re-exports by star import (``from .more import *``, ``__all__`` honoured), the tests
call ``mi.chunked(...)`` after ``import mypkg as mi`` from ``unittest.TestCase`` classes named
``ChunkedTests`` and the like, and ``pairwise`` through ``from mypkg import pairwise`` in a
parametrized pytest test. Through the Beam composites (real DirectRunner): every function the
tests call is linked to its tests by pytest's node ids (checked against pytest's own collection of
the same repository); in the real bubblewrap sandbox: each test runs alone by its node id, and the
function whose suite test fails is reported with that node id.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pipelines.sources.code.repos import materialise
from pipelines.stage.counters import balanced
from schemas.code import CodeFunction, TestRef
from tests.pipelines.sources.code.test_read import run_pipeline, write
from tests.verifiers.bwrap_verifier import bwrap_verifier
from verifiers.code import CodeVerifier
from verifiers.sandbox import Limits

INIT = '''\
"""A package of iterator tools, re-exported from its modules."""
from .more import *  # noqa: F401,F403
from .recipes import *  # noqa: F401,F403
'''

MORE = '''\
"""Tools."""

__all__ = ["chunked", "first", "last", "Window"]


def chunked(iterable, n):
    """Break ``iterable`` into lists of length ``n``.

    >>> chunked([1, 2, 3], 2)
    [[1, 2], [3]]
    """
    items = list(iterable)
    return [items[i:i + n] for i in range(0, len(items), n)]


def first(iterable, default=None):
    """The first item of ``iterable``, else ``default``."""
    for item in iterable:
        return item
    return default


def last(iterable):
    """The last item of ``iterable`` (wrong: the tests say so)."""
    return list(iterable)[0]


def hidden(iterable):
    """Not in ``__all__``: ``mypkg.hidden`` does not exist."""
    return list(iterable)


class Window:
    """A sliding window."""

    def __init__(self, n):
        self.n = n

    def over(self, items):
        """The windows of ``n`` items over ``items``."""
        return [tuple(items[i:i + self.n]) for i in range(len(items) - self.n + 1)]
'''

RECIPES = '''\
"""Recipes."""
from .more import chunked

__all__ = ["pairwise", "take"]


def pairwise(iterable):
    """Successive overlapping pairs."""
    items = list(iterable)
    return list(zip(items, items[1:]))


def take(n, iterable):
    """The first ``n`` items of ``iterable`` as a list."""
    return [x for chunk in chunked(iterable, max(n, 1)) for x in chunk][:n]
'''

TEST_MORE = '''\
import unittest
from unittest import TestCase

import mypkg as mi


class ChunkedTests(TestCase):
    def test_even(self):
        self.assertEqual(mi.chunked([1, 2, 3, 4], 2), [[1, 2], [3, 4]])

    def test_odd(self):
        self.assertEqual(mi.chunked("abc", 2), [["a", "b"], ["c"]])

    def test_unrelated_failure(self):
        self.fail("calls nothing of mypkg: linked to no function, run for none")


class FirstBase(TestCase):
    @classmethod
    def setUpClass(cls):
        cls.data = [3, 1, 2]

    def test_first(self):
        self.assertEqual(mi.first(self.data), 3)


class FirstTests(FirstBase):
    def test_empty(self):
        self.assertEqual(mi.first([], "none"), "none")


class LastTests(unittest.TestCase):
    def test_last(self):
        self.assertEqual(mi.last([1, 2, 3]), 3)


class WindowTests(TestCase):
    def test_over(self):
        self.assertEqual(mi.Window(2).over([1, 2, 3]), [(1, 2), (2, 3)])


class HiddenTests(TestCase):
    def test_hidden(self):
        mi.hidden([1])
'''

TEST_RECIPES = '''\
import pytest

from mypkg import pairwise, take


@pytest.mark.parametrize("iterable, expected", [("abc", [("a", "b"), ("b", "c")]), ([], [])])
def test_pairwise(iterable, expected):
    assert pairwise(iterable) == expected


class TestTake:
    def setup_method(self, method):
        self.items = list(range(5))

    @pytest.mark.parametrize("n", [0, 2, 7])
    def test_take(self, n):
        assert take(n, self.items) == self.items[:n]


@pytest.mark.parametrize("n", [1, 2])
def test_needs_a_fixture(n, tmp_path):
    assert take(n, [tmp_path])
'''

LIMITS = Limits(wall_seconds=20, cpu_seconds=20, memory_bytes=1 << 30, max_processes=32)


def build(root: Path) -> None:
    write(root, {"mypkg/__init__.py": INIT, "mypkg/more.py": MORE, "mypkg/recipes.py": RECIPES,
                 "tests/__init__.py": "", "tests/test_more.py": TEST_MORE, "tests/test_recipes.py": TEST_RECIPES})


def pytest_node_ids(root: Path) -> set[str]:
    """What pytest itself collects from the repository (run on it, in a subprocess)."""
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                          "-p", "no:randomly", "tests"], cwd=root, capture_output=True, text=True, timeout=120)
    return {line.strip() for line in out.stdout.splitlines() if "::" in line}


@pytest.fixture(scope="module")
def extracted(tmp_path_factory) -> tuple[dict[str, CodeFunction], dict, Path]:
    tmp = tmp_path_factory.mktemp("moreish")
    root = tmp / "repo"
    build(root)
    snap = materialise(str(root), str(tmp / "cache"))
    functions, dead, counts = run_pipeline([snap], tmp / "out", dedup=False)
    assert dead == [] and all(balanced(e) for e in counts.values()), counts
    return {f"{f.module}.{f.symbol}": f for f in functions}, counts, root


def suite(fn: CodeFunction) -> set[str]:
    return {t.label for t in fn.tests if t.kind != "doctest"}


def test_every_called_function_is_linked_to_its_tests_by_pytest_node_id(extracted):
    found, counts, root = extracted
    more, recipes = "tests/test_more.py", "tests/test_recipes.py"
    assert suite(found["mypkg.more.chunked"]) == {f"{more}::ChunkedTests::test_even", f"{more}::ChunkedTests::test_odd"}
    assert found["mypkg.more.chunked"].tests[0] == TestRef("doctest", "mypkg/more.py", "chunked")
    assert suite(found["mypkg.more.first"]) == {f"{more}::FirstBase::test_first", f"{more}::FirstTests::test_first",
                                                f"{more}::FirstTests::test_empty"}  # inherited: run under each class
    assert suite(found["mypkg.more.last"]) == {f"{more}::LastTests::test_last"}
    assert suite(found["mypkg.more.Window.over"]) == {f"{more}::WindowTests::test_over"}
    assert suite(found["mypkg.recipes.pairwise"]) == {f"{recipes}::test_pairwise[abc-expected0]",
                                                      f"{recipes}::test_pairwise[iterable1-expected1]"}
    assert suite(found["mypkg.recipes.take"]) == {f"{recipes}::TestTake::test_take[{n}]" for n in (0, 2, 7)}
    case = next(t for t in found["mypkg.recipes.pairwise"].tests if t.name == "test_pairwise[abc-expected0]")
    assert case.args == "{'iterable': 'abc', 'expected': [('a', 'b'), ('b', 'c')]}"
    assert "mypkg.more.hidden" not in found  # not in __all__: mi.hidden is no re-export of it
    labels = {t.label for f in found.values() for t in f.tests if t.kind != "doctest"}
    assert labels <= pytest_node_ids(root)  # pytest's own ids, as pytest collects them

    parse, extract = counts["parse_files"]["stats"], counts["extract"]["stats"]
    assert parse["suite_tests"] == 9 + 5  # 9 unittest methods (test_first twice); 2 + 3 cases
    assert parse["unlinked_tests:needs_fixture"] == 1  # test_needs_a_fixture (tmp_path)
    repo = materialise(str(root), str(root.parent / "cache")).uri
    assert {k: v for k, v in extract.items() if k.endswith(f":{repo}")} == {
        f"functions:{repo}": 7, f"with_doctests:{repo}": 1, f"with_suite_tests:{repo}": 6, f"with_both:{repo}": 1}
    assert counts["extract"]["filtered"]["no_tests"] == 1  # hidden


@pytest.fixture(scope="module")
def verifier() -> CodeVerifier:
    return bwrap_verifier(LIMITS)


def test_each_test_runs_alone_in_the_sandbox_by_node_id(extracted, verifier):
    found, _counts, _root = extracted
    for ref in ("mypkg.more.chunked", "mypkg.more.first", "mypkg.more.Window.over", "mypkg.recipes.pairwise",
                "mypkg.recipes.take"):
        fn = found[ref]
        verdict = verifier.verify_function(fn)
        assert verdict.passed, (ref, verdict.to_dict())
        # exactly the linked tests ran, each named by its node id (the failing sibling in ChunkedTests never ran)
        assert set(verdict.tests) == {t.label for t in fn.tests} and set(verdict.tests.values()) == {"ok"}, verdict.tests

    chunked = found["mypkg.more.chunked"]
    wrong = "def chunked(iterable, n):\n    return [list(iterable)]\n"
    verdict = verifier.verify_function(chunked, wrong)
    assert not verdict.passed
    assert verdict.tests["tests/test_more.py::ChunkedTests::test_even"].startswith("failed: AssertionError")
    pairwise = found["mypkg.recipes.pairwise"]
    verdict = verifier.verify_function(pairwise, "def pairwise(iterable):\n    return []\n")
    assert verdict.tests == {"tests/test_recipes.py::test_pairwise[abc-expected0]": verdict.tests[
        "tests/test_recipes.py::test_pairwise[abc-expected0]"], "tests/test_recipes.py::test_pairwise[iterable1-expected1]": "ok"}
    assert verdict.tests["tests/test_recipes.py::test_pairwise[abc-expected0]"].startswith("failed")


def test_a_function_whose_suite_test_fails_is_reported_with_the_node_id(extracted, verifier):
    found, _counts, _root = extracted
    verdict = verifier.verify_function(found["mypkg.more.last"])
    assert not verdict.passed and verdict.result.status == "failed"
    assert verdict.failing() == ["tests/test_more.py::LastTests::test_last"]
    assert verdict.detail().endswith("tests/test_more.py::LastTests::test_last: failed: AssertionError"), verdict.detail()


def test_star_import_without_all_and_explicit_reexports(tmp_path):
    """Without ``__all__`` a star import takes the public names (imported ones too); ``from .x import f as g``
    in a package's ``__init__`` and a test's own ``from pkg import *`` are followed as well."""
    root = tmp_path / "repo"
    write(root, {
        "src/pkg/__init__.py": "from .core import *\nfrom .extra import twice as double\n",
        "src/pkg/core.py": "from .base import inc\n\n\ndef square(x):\n    '''Square.'''\n    return x * x\n\n\n"
                           "def _private(x):\n    '''Private.'''\n    return x\n",
        "src/pkg/base.py": "def inc(x):\n    '''Plus one.'''\n    return x + 1\n",
        "src/pkg/extra.py": "def twice(x):\n    '''Twice.'''\n    return 2 * x\n",
        "tests/test_pkg.py": textwrap.dedent("""\
            import pkg as p
            from pkg import *


            def test_square():
                assert p.square(3) == 9 and inc(1) == 2


            def test_double():
                assert p.double(2) == 4


            def test_private():
                assert p._private(1) == 1
        """),
    })
    snap = materialise(str(root), str(tmp_path / "cache"))
    functions, dead, _counts = run_pipeline([snap], tmp_path / "out", dedup=False)
    linked = {f"{f.module}.{f.symbol}": sorted(t.name for t in f.tests) for f in functions}
    assert linked == {"pkg.core.square": ["test_square"], "pkg.base.inc": ["test_square"],
                      "pkg.extra.twice": ["test_double"]}
