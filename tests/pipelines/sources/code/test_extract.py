"""Function extraction by ast: stdlib modules with doctests, risky names, broken input, test links."""

from __future__ import annotations

import shutil
import sysconfig
import textwrap
from pathlib import Path

import pytest

from pipelines.sources.code.extract import (
    SourceDecodeError,
    decode_source,
    extract_functions,
    is_test_file,
    module_name,
)
from schemas.code import RepoSnapshot, SourceFile, TestRef

STDLIB = Path(sysconfig.get_paths()["stdlib"])
SNAP = RepoSnapshot("repo", None, "/nonexistent")


def extract(code: str, path: str = "m.py", inits: tuple[str, ...] = ()):
    return extract_functions(SourceFile(SNAP, path), textwrap.dedent(code), has_init=lambda d: d in inits)


def symbols(code: str, **kw) -> list[str]:
    return [f.symbol for f in extract(code, **kw).functions]


def test_decode_source() -> None:
    assert decode_source("x = 'é'\n".encode()) == "x = 'é'\n"
    assert decode_source(b"\xef\xbb\xbfx = 1\n") == "x = 1\n"
    latin = "# -*- coding: latin-1 -*-\nname = 'café'\n"
    assert decode_source(latin.encode("latin-1")) == latin
    for raw, reason in ((b"x = '\xe9'\n", "not_utf8"), (b"# coding: klingon\nx = 1\n", "bad_encoding"),
                        (b"# coding: ascii\nx = '\xe9'\n", "bad_encoding")):
        with pytest.raises(SourceDecodeError) as info:
            decode_source(raw)
        assert info.value.reason == reason


@pytest.mark.parametrize(("path", "inits", "expected"), [
    ("tool.py", (), ("tool", "")),
    ("src/pkg/sub/mod.py", ("src/pkg", "src/pkg/sub"), ("pkg.sub.mod", "src")),
    ("src/pkg/__init__.py", ("src/pkg",), ("pkg", "src")),
    ("lib/fractions.py", (), ("fractions", "lib")),
    ("a/b/c.py", ("a/b",), ("b.c", "a")),
])
def test_module_name(path: str, inits: tuple[str, ...], expected: tuple[str, str]) -> None:
    assert module_name(path, lambda d: d in inits) == expected


def test_is_test_file() -> None:
    assert all(map(is_test_file, ["test_x.py", "x_test.py", "tests/helpers.py", "pkg/test/a.py"]))
    assert not any(map(is_test_file, ["testing.py", "contest.py", "pkg/mod.py"]))


def test_fields_of_a_method_with_decorators_and_a_long_signature() -> None:
    code = '''\
    import functools


    class Box:
        """A box."""

        @functools.lru_cache(maxsize=None)
        @staticmethod
        def area(width: int,
                 height: int = 2) -> int:
            """Area.

               >>> Box.area(2, 3)
               6
            """
            return width * height
    '''
    (fn,) = extract(code, path="src/shapes/box.py", inits=("src/shapes",)).functions
    assert (fn.symbol, fn.module, fn.import_root, fn.name) == ("Box.area", "shapes.box", "src", "area")
    assert fn.signature == "def area(width: int,\n         height: int = 2) -> int:"
    assert fn.docstring == "Area.\n\n>>> Box.area(2, 3)\n6"
    assert (fn.start_line, fn.end_line, fn.indent) == (7, 16, "    ")
    assert fn.code.startswith("@functools.lru_cache(maxsize=None)\n@staticmethod\ndef area(width: int,\n")
    assert fn.code.endswith("    return width * height\n")
    source = textwrap.dedent(code).splitlines(keepends=True)[fn.start_line - 1:fn.end_line]
    assert "".join(fn.indent + ln if ln.strip() else ln for ln in fn.code.splitlines(keepends=True)) == "".join(source)
    assert fn.tests == (TestRef("doctest", "src/shapes/box.py", "Box.area"),)


def test_def_level_reasons() -> None:
    code = '''\
    def ok(x):
        """Doc."""
        return x + 1

    def nodoc(x):
        return x

    def noreturn(x):
        """Doc."""
        print(x)

    def bare_return(x):
        """Doc."""
        if x:
            return
        return None

    def nested_only(x):
        """Doc."""
        def inner():
            return 1
        f = lambda: 2
        return

    def gen(x):
        """Doc."""
        yield x
        return 1

    async def coro(x):
        """Doc."""
        return x

    def dup():
        """Doc."""
        return 1

    def dup():
        """Doc again."""
        return 2

    def long(x):
        """Doc."""
    '''
    got = extract(textwrap.dedent(code) + "    x += 1\n" * 150 + "    return x\n")
    assert [f.symbol for f in got.functions] == ["ok", "dup"]
    assert got.functions[1].docstring == "Doc again."
    assert dict(got.rejected) == {"no_docstring": 1, "no_return": 3, "generator": 1, "async": 1, "redefined": 1,
                                  "too_long": 1}
    assert got.defs_seen == 10


def test_risky_names_through_import_aliases() -> None:
    code = '''\
    import os.path as osp
    import json
    from subprocess import run
    from os import path
    import sys as system

    def uses_alias(p):
        """Doc."""
        return osp.join(p, "x")

    def uses_from_import(cmd):
        """Doc."""
        return run(cmd)

    def uses_module_attr():
        """Doc."""
        return system.argv

    def shadows(path):
        """A parameter named like an import alias is not the module."""
        return path + "/x"

    def local_import():
        """Doc."""
        import shutil
        return shutil.which("x")

    def evaluates(s):
        """Doc."""
        return eval(s)

    def opens(name):
        """Doc."""
        return open(name).read()

    def reflective(name):
        """Doc."""
        return getattr(json, name)

    def in_decorator_default(x=path.sep):
        """Doc."""
        return x

    def fine(data):
        """Doc."""
        return json.dumps(data)
    '''
    got = extract(code)
    assert [f.symbol for f in got.functions] == ["shadows", "fine"]
    assert dict(got.rejected) == {"risky:os": 2, "risky:subprocess": 1, "risky:sys": 1, "risky:shutil": 1,
                                  "risky:eval": 1, "risky:open": 1, "risky:getattr": 1}


@pytest.mark.parametrize(("code", "reason"), [
    ("def f(:\n    pass\n", "syntax_error"),
    ("def f(x):\n    print x\n    return x\n", "python2"),
    ("try:\n    pass\nexcept ValueError, e:\n    pass\n", "python2"),
    ("x = `1`\n", "python2"),
    ("mode = 0777\n", "python2"),
    # valid code in syntax newer than 3.11: not "broken", and not Python 2 either
    ("def f(x):\n    try:\n        return int(x)\n    except ValueError, TypeError:\n        return 0\n", "newer_python"),
    ("try:\n    pass\nexcept OSError, socket.timeout:\n    pass\n", "newer_python"),
    ("type Pair = tuple[int, int]\n", "newer_python"),
    ("def first[T](xs: list[T]) -> T:\n    return xs[0]\n", "newer_python"),
    ("d = {'a': 1}\ns = f'{d['a']}'\n", "newer_python"),
    ("x = " + "(" * 300 + "1" + ")" * 300 + "\n", "recursion"),
    ("x = " + "-" * 100_000 + "1\n", "recursion"),
])
def test_file_level_reasons(code: str, reason: str) -> None:
    got = extract(code)
    assert (got.reason, got.functions, got.defs_seen) == (reason, [], 0)


def stdlib_copy(tmp_path: Path, names: list[str]) -> RepoSnapshot:
    for name in names:
        shutil.copy(STDLIB / name, tmp_path / name)  # read as text, never imported
    return RepoSnapshot(str(tmp_path), None, str(tmp_path))


def test_stdlib_modules_with_doctests(tmp_path: Path) -> None:
    snap = stdlib_copy(tmp_path, ["fractions.py", "statistics.py", "textwrap.py", "heapq.py", "fnmatch.py"])
    found = {}
    rejected = {}
    for name in ["fractions.py", "statistics.py", "textwrap.py", "heapq.py", "fnmatch.py"]:
        got = extract_functions(SourceFile(snap, name), (tmp_path / name).read_text(encoding="utf-8"))
        assert got.reason is None
        found |= {f"{f.module}.{f.symbol}": f for f in got.functions}
        for reason, n in got.rejected.items():
            rejected[reason] = rejected.get(reason, 0) + n
    mean = found["statistics.mean"]
    assert mean.signature == "def mean(data):" and mean.tests == (TestRef("doctest", "statistics.py", "mean"),)
    assert ">>> mean([1, 2, 3, 4, 4])" in mean.docstring and mean.code.startswith("def mean(data):")
    assert found["fractions.Fraction.limit_denominator"].tests[0].kind == "doctest"
    assert found["textwrap.shorten"].tests and found["textwrap.dedent"].tests == ()  # no examples
    assert "heapq.heappush" not in found  # no return value
    assert "fnmatch.fnmatch" not in found and rejected["risky:os"] >= 1  # os.path.normcase
    assert "fnmatch.fnmatchcase" in found  # same module, its own names are safe
    assert len([f for f in found.values() if f.tests]) >= 20


def test_test_links_resolve_through_imports(tmp_path: Path) -> None:
    code = '''\
    import pkg.calc as calc
    from pkg.calc import add as plus, Acc
    from pkg import calc as c2
    from .helpers import helper
    from ..pkg.calc import rel


    def test_plus():
        assert plus(1, 2) == 3

    def test_module_alias():
        assert calc.mul(2, 3) == 6 and c2.sub(3, 1) == 2

    def test_method():
        acc = Acc()
        acc.push(1)
        assert acc.total() == 1

    def test_relative():
        assert helper() and rel()

    def test_needs_fixture(tmp_path):
        plus(1, 1)

    def helper_not_a_test():
        plus(1, 1)

    class TestCalc:
        def test_in_class(self):
            assert calc.div(4, 2) == 2

    class TestWithInit:
        def __init__(self):
            pass

        def test_skipped(self):
            plus(1, 1)
    '''
    got = extract(code, path="tests/unit/test_calc.py", inits=("tests", "tests/unit"))
    assert got.functions == [] and got.rejected == {"in_test_file": 9}
    links = {(m, s, t.name) for m, s, t in got.links}
    assert {("pkg.calc", "add", "test_plus"), ("pkg.calc", "mul", "test_module_alias"), ("pkg.calc", "sub", "test_module_alias"),
            ("pkg.calc", "Acc.push", "test_method"), ("pkg.calc", "Acc.total", "test_method"),
            ("tests.unit.helpers", "helper", "test_relative"), ("tests.pkg.calc", "rel", "test_relative"),
            ("pkg.calc", "div", "TestCalc.test_in_class")} <= links
    names = {t for _m, _s, t in links}
    assert not names & {"test_needs_fixture", "helper_not_a_test", "TestWithInit.test_skipped"}
    assert all(t.kind == "function" and t.path == "tests/unit/test_calc.py" for _m, _s, t in got.links)


def test_form_feeds_and_crlf_keep_line_numbers_right() -> None:
    text = ('import math\n\x0c\ndef area(r):\n    """Area.\n\n    >>> area(1)\n    3.14\n    """\n    return 3.14 * r * r\n\n'
            'def other(x):\r\n    """Other.\r\n\r\n    >>> other(1)\r\n    1\r\n    """\r\n    return x\r\n')
    out = extract_functions(SourceFile(SNAP, "m.py"), text, has_init=lambda d: False)
    code = {f.symbol: f for f in out.functions}
    assert code["area"].code.rstrip().endswith("return 3.14 * r * r") and code["area"].start_line == 3
    assert code["other"].code.rstrip().endswith("return x") and code["other"].end_line == 17


def test_function_too_large_caps_source_and_docstring_characters() -> None:
    """Sizes are capped before any prompt is built: 150 lines say nothing of a line's length."""
    from pipelines.sources.code.extract import MAX_DOCSTRING_CHARS, MAX_FUNCTION_CHARS

    def function(name: str, doc: str, default: str = "1") -> str:
        return f'def {name}(x, k={default}):\n    """{doc}"""\n    return x * k\n'

    def sized(name: str, chars: int) -> str:  # a function of exactly ``chars`` characters, by its default
        return function(name, "Fine.", repr("z" * (chars - len(function(name, "Fine.", "''")))))

    doc_at_cap = "d" * MAX_DOCSTRING_CHARS
    code = (function("doc_at_cap", doc_at_cap)  # at the docstring cap: kept
            + function("doc_over", doc_at_cap + "d")  # one character over: filtered
            + sized("source_at_cap", MAX_FUNCTION_CHARS) + sized("source_over", MAX_FUNCTION_CHARS + 1)
            + function("indented_doc", ("Line.\n" + " " * 70) * 100))  # 7,600 characters, 600 cleaned: kept
    got = extract(code)
    assert [f.symbol for f in got.functions] == ["doc_at_cap", "source_at_cap", "indented_doc"]
    assert len(got.functions[1].code) == MAX_FUNCTION_CHARS
    assert dict(got.rejected) == {"function_too_large": 2}
    # a docstring of 800 KB on a few lines (the issue's case), and caps given by the caller
    huge = extract(function("huge", "padding " * 100_000)).rejected
    assert dict(huge) == {"function_too_large": 1}
    raised = extract_functions(SourceFile(SNAP, "m.py"), function("huge", "padding " * 100_000), has_init=lambda d: False,
                               max_chars=10**9, max_docstring_chars=10**9)
    assert [f.symbol for f in raised.functions] == ["huge"]
    many_lines = "def long(x):\n    '''Doc.'''\n" + "    x += 1\n" * 200 + "    return x\n"
    assert dict(extract(many_lines).rejected) == {"too_long": 1}  # more than 150 lines: too_long, as before
