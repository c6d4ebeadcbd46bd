"""Test discovery from syntax (suite.py, parametrize.py) against pytest's own collection."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

from pipelines.sources.code.parametrize import ascii_escaped, unique
from pipelines.sources.code.suite import discover, links_from_tests
from schemas.code import node_name

CASES = textwrap.dedent('''\
    import unittest
    from unittest import TestCase

    import pytest
    from pytest import mark
    from os.path import join, basename as base

    CONST = [1, 2]
    PAIRS = [("a", 1), ("b", 2.5)]
    ALIAS = PAIRS
    MADE = list(range(2))


    def helper():
        pass


    @pytest.mark.parametrize("function", [join, base, helper])
    def test_objects(function):
        pass


    @pytest.mark.parametrize(("s", "n"), ALIAS)
    def test_named_values(s, n):
        pass


    @pytest.mark.parametrize("v", [CONST, (CONST, 1), {"k": CONST}])
    def test_containers(v):
        pass


    @pytest.mark.parametrize("v", MADE)
    def test_made(v):
        pass


    @pytest.mark.parametrize("x", [0, 1])
    @pytest.mark.parametrize("y", [2, 3])
    def test_stacked(x, y):
        pass


    @pytest.mark.parametrize("a, b", [("abc", [1, 2]), (None, 1.5), (True, b"\\xff"), ("\\u00e9\\n", -1),
                                      (1 + 2j, {"k": 1}), (1, 1), (1, 1), ("1", "1"), ("", "yyy"),
                                      ("LONG", 0)])
    def test_literals(a, b):
        pass


    @pytest.mark.parametrize(("a", "b"), [pytest.param(1, 2, id="one two"), (3, 4), pytest.param(5, 6, marks=pytest.mark.xfail)],
                             ids=["first", None, "third"])
    def test_given_ids(a, b):
        pass


    @mark.parametrize("t", [(1, 2), "a", -0.5, 1000], ids=["x", "x", None, None])
    def test_duplicates(t, flag=True):
        pass


    @pytest.mark.parametrize("n", [1, 2], indirect=True)
    def test_indirect(n):
        pass


    @pytest.mark.parametrize("n", list(range(3)))
    def test_not_literal(n):
        pass


    def test_fixture(tmp_path):
        pass


    @pytest.mark.skip(reason="no")
    def test_skipped():
        pass


    def test_plain():
        pass


    def test_off():
        pass


    test_off.__test__ = False


    @pytest.mark.parametrize("n", [1, 2])
    class TestClassMarks:
        @pytest.mark.parametrize("m", ["a"])
        def test_both(self, m, n):
            pass

        def test_class_only(self, n):
            pass


    class TestWithInit:
        def __init__(self):
            pass

        def test_never(self):
            pass


    class ChunkedTests(TestCase):
        def test_a(self):
            pass

        def test_args(self, x):
            pass

        @unittest.skip("later")
        def test_skip(self):
            pass

        def helper(self):
            pass


    class Base(unittest.TestCase):
        def test_inherited(self):
            pass


    class Derived(Base):
        def test_own(self):
            pass


    class Mixin:
        def test_from_mixin(self):
            pass


    class Mixed(Mixin, TestCase):
        pass


    class NotCollected:
        def test_nothing(self):
            pass


    class TestOff:
        __test__ = False

        def test_off(self):
            pass
''').replace("LONG", "z" * 101)


def collected(tmp_path: Path, text: str) -> set[str]:
    (tmp_path / "test_cases.py").write_text(text, encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "test_cases.py"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    return {line.split("::", 1)[1] for line in out.stdout.splitlines() if line.startswith("test_cases.py::")}


def test_node_ids_are_pytests(tmp_path: Path) -> None:
    found = discover(ast.parse(CASES))
    ours = {node_name(t.name) for t in found.tests}
    theirs = collected(tmp_path, CASES)
    assert ours <= theirs, sorted(ours - theirs)
    # what pytest collects that is not linked here: fixtures, marks, what cannot be read statically
    assert theirs - ours == {
        "test_given_ids[third]", "test_indirect[1]", "test_indirect[2]", "test_not_literal[0]", "test_not_literal[1]",
        "test_not_literal[2]", "test_fixture", "test_skipped", "ChunkedTests::test_args",
        "test_made[0]", "test_made[1]"}  # unittest.skip: decided at run time
    assert found.unlinked == {"marked": 2, "parametrize_indirect": 1, "parametrize_not_literal": 2, "needs_fixture": 1,
                              "needs_arguments": 1}
    assert "test_literals[a9-0]" in ours  # a string over 100 characters: argnameN
    names = {t.name: t.args for t in found.tests}
    assert names["test_stacked[2-0]"] == "{'y': 2, 'x': 0}"
    assert {"test_objects[join]", "test_objects[basename]", "test_objects[helper]", "test_named_values[a-1]",
            "test_named_values[b-2.5]", "test_containers[v0]", "test_containers[v1]", "test_containers[v2]"} <= set(names)
    assert names["test_objects[basename]"] == "{'function': base}"  # evaluated in the test module by the harness
    assert names["test_named_values[b-2.5]"] == "{'s': 'b', 'n': 2.5}"
    assert names["TestClassMarks.test_both[a-1]"] == "{'m': 'a', 'n': 1}"
    assert {"Derived.test_inherited", "Base.test_inherited", "Mixed.test_from_mixin"} <= set(names)


def test_long_strings_and_escapes() -> None:
    assert ascii_escaped("é\n\x01") == "\\xe9\\n\\x01" and ascii_escaped(b"\xff") == "\\xff"
    assert unique(["1-1", "1-1", "x", "x", "x0"]) == ["1-1_0", "1-1_1", "x1", "x2", "x0"]
    long = "a" * 101
    found = discover(ast.parse(f"import pytest\n\n@pytest.mark.parametrize('s', [{long!r}, 'b'])\ndef test_s(s):\n    pass\n"))
    assert [t.name for t in found.tests] == ["test_s[s0]", "test_s[b]"]


def test_module_marks_and_autouse_fixtures_block_linking() -> None:
    skipped = discover(ast.parse("import pytest\npytestmark = [pytest.mark.skipif(True, reason='x')]\n\n"
                                 "def test_a():\n    pass\n"))
    assert skipped.tests == [] and skipped.unlinked == {"marked": 1}
    autouse = discover(ast.parse("import pytest\n\n@pytest.fixture(autouse=True)\ndef env():\n    yield\n\n"
                                 "def test_a():\n    pass\n\nclass TestB:\n    def test_b(self):\n        pass\n"))
    assert autouse.tests == [] and autouse.unlinked == {"autouse_fixture": 2}


def test_links_of_cases_and_testcase_methods() -> None:
    code = textwrap.dedent('''\
        from unittest import TestCase
        import pytest
        import mypkg as mi
        from mypkg import pairwise


        class ChunkedTests(TestCase):
            def test_even(self):
                self.assertEqual(mi.chunked([1, 2], 1), [[1], [2]])


        @pytest.mark.parametrize("s", ["ab", "abc"])
        def test_pairwise(s):
            assert pairwise(s)
    ''')
    links, found = links_from_tests(ast.parse(code), "tests/test_x.py", "tests.test_x")
    got = {(m, s, t.name, t.args) for m, s, t in links}
    assert got == {("mypkg", "chunked", "ChunkedTests.test_even", ""),
                   ("mypkg", "pairwise", "test_pairwise[ab]", "{'s': 'ab'}"),
                   ("mypkg", "pairwise", "test_pairwise[abc]", "{'s': 'abc'}")}
    assert {t.label for _m, _s, t in links} == {"tests/test_x.py::ChunkedTests::test_even",
                                                "tests/test_x.py::test_pairwise[ab]", "tests/test_x.py::test_pairwise[abc]"}
    assert links_from_tests(ast.parse(code), "tests/conftest.py", "tests.conftest")[0] == []  # pytest collects no tests there


def test_a_case_whose_argument_is_an_imported_function_links_it() -> None:
    code = textwrap.dedent('''\
        import pytest
        from maths.factorial import factorial, factorial_recursive


        @pytest.mark.parametrize("function", [factorial, factorial_recursive])
        def test_zero(function):
            assert function(0) == 1


        @pytest.mark.parametrize("function", [factorial])
        def test_not_called(function):
            assert function
    ''')
    links, _found = links_from_tests(ast.parse(code), "maths/test_factorial.py", "maths.test_factorial")
    assert {(m, s, t.name) for m, s, t in links} == {("maths.factorial", "factorial", "test_zero[factorial]"),
                                                     ("maths.factorial", "factorial_recursive", "test_zero[factorial_recursive]")}
