"""The harness runs a repository's suite tests as pytest would, each alone by its node id (real sandbox)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from schemas.code import CodeFunction, RepoSnapshot, TestRef
from tests.verifiers.bwrap_verifier import bwrap_verifier
from verifiers.code import CodeVerifier
from verifiers.sandbox import Limits

LIMITS = Limits(wall_seconds=10, cpu_seconds=10, memory_bytes=512 << 20, max_processes=32)

CALC = '''\
def double(x):
    """Twice x."""
    return 2 * x
'''

TESTS = '''\
import unittest

import pytest

from calc import double

EVENTS = []
ONE = [1]


def setup_module(module):
    EVENTS.append("module")


def setup_function(function):
    EVENTS.append("function:" + function.__name__)


def test_events():
    assert double(1) == 2 and EVENTS == ["module", "function:test_events"], EVENTS


def test_case(n, expected):
    assert double(n) == expected


def test_by_name(function, values):
    assert function(values[0]) == 2


def test_skips():
    double(1)
    pytest.skip("not today")


def test_mutates():
    EVENTS.append("left behind")
    assert double(2) == 4


def test_exits():
    import os
    double(3)
    os._exit(0)


class TestPlain:
    @classmethod
    def setup_class(cls):
        cls.base = 10

    def setup_method(self, method):
        self.name = method.__name__

    def test_state(self, k=0):
        assert double(self.base) == 20 and self.name == "test_state"


class Doubling(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.value = 21

    def test_class_setup_ran(self):
        self.assertEqual(double(self.value), 42)

    def test_broken(self):
        self.assertEqual([double(1)], [3])
'''


@pytest.fixture(scope="module")
def verifier() -> CodeVerifier:
    return bwrap_verifier(LIMITS)


def function(root: Path, *tests: TestRef) -> CodeFunction:
    (root / "calc.py").write_text(CALC)
    (root / "test_calc.py").write_text(TESTS)
    return CodeFunction(RepoSnapshot(str(root), None, str(root)), "calc.py", "calc", "", "double", "def double(x):",
                        "Twice x.", CALC, 1, 3, "", tests)


def test_xunit_set_ups_cases_and_unittest_class_set_ups(verifier, tmp_path):
    fn = function(tmp_path,
                  TestRef("function", "test_calc.py", "test_events"),
                  TestRef("function", "test_calc.py", "test_case[2-4]", "{'n': 2, 'expected': 4}"),
                  TestRef("function", "test_calc.py", "test_case[a.b]", "{'n': 0.5, 'expected': 1.0}"),
                  TestRef("function", "test_calc.py", "TestPlain.test_state"),
                  TestRef("function", "test_calc.py", "test_by_name[double-values0]", "{'function': double, 'values': ONE}"),
                  TestRef("function", "test_calc.py", "Doubling.test_class_setup_ran"))
    verdict = verifier.verify_function(fn)
    assert verdict.passed, verdict.to_dict()
    assert set(verdict.tests) == {"test_calc.py::test_events", "test_calc.py::test_case[2-4]", "test_calc.py::test_case[a.b]",
                                  "test_calc.py::TestPlain::test_state", "test_calc.py::Doubling::test_class_setup_ran",
                                  "test_calc.py::test_by_name[double-values0]"}


def test_failures_are_named_by_node_id(verifier, tmp_path):
    fn = function(tmp_path,
                  TestRef("function", "test_calc.py", "test_case[1-3]", "{'n': 1, 'expected': 3}"),
                  TestRef("function", "test_calc.py", "Doubling.test_broken"),
                  TestRef("function", "test_calc.py", "test_skips"),
                  TestRef("function", "test_calc.py", "test_case[bad]", "{'n': __import__('os')}"))
    verdict = verifier.verify_function(fn)
    assert not verdict.passed
    assert verdict.failing() == ["test_calc.py::test_case[1-3]", "test_calc.py::Doubling::test_broken",
                                 "test_calc.py::test_case[bad]"]  # a skipped test fails nothing
    assert verdict.tests["test_calc.py::test_case[1-3]"].startswith("failed: AssertionError")
    # a multi-line assertEqual message: the exception's line, not the diff's last line
    assert verdict.tests["test_calc.py::Doubling::test_broken"].startswith("failed: AssertionError: Lists differ")
    assert verdict.tests["test_calc.py::test_skips"] == "skipped: not today"
    assert verdict.tests["test_calc.py::test_case[bad]"].startswith("error: NameError")  # literals only: no builtins


def test_files_mode_collects_testcase_classes_whatever_their_name(verifier):
    tests = textwrap.dedent("""
        from unittest import TestCase
        from solution import add

        class AddTests(TestCase):
            def test_small(self):
                self.assertEqual(add(1, 2), 3)
    """)
    verdict = verifier.verify_files("def add(a, b):\n    return a + b\n", tests)
    assert verdict.passed and verdict.tests == {"AddTests.test_small": "ok"}, verdict.to_dict()


def test_a_skipped_test_counts_neither_way(verifier, tmp_path):
    skips = TestRef("function", "test_calc.py", "test_skips")
    alone = verifier.verify_function(function(tmp_path, skips))
    assert not alone.passed and alone.failing() == []  # nothing said the function works
    case = TestRef("function", "test_calc.py", "test_case[2-4]", "{'n': 2, 'expected': 4}")
    verdict = verifier.verify_function(function(tmp_path, skips, case))
    assert verdict.passed and verdict.detail().endswith("(test_calc.py::test_case[2-4]); 1 skipped"), verdict.detail()


def test_each_test_runs_alone_in_a_process_of_its_own(verifier, tmp_path):
    """What one test leaves behind no other test sees; one that ends its process fails itself only."""
    names = ("test_mutates", "test_exits", "test_events")
    fn = function(tmp_path, *(TestRef("function", "test_calc.py", name) for name in names))
    verdict = verifier.verify_function(fn)
    assert verdict.tests["test_calc.py::test_mutates"] == "ok" and verdict.tests["test_calc.py::test_events"] == "ok"
    assert verdict.tests["test_calc.py::test_exits"].startswith("error: the test process ended without reporting")
    assert not verdict.passed and verdict.failing() == ["test_calc.py::test_exits"]
