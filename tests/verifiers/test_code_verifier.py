"""CodeVerifier end to end in the real sandbox, and substitute() as a pure function."""

from __future__ import annotations

import ast
import json
import textwrap
from pathlib import Path

import pytest

from schemas.code import CodeFunction, RepoSnapshot, TestRef
from verifiers.code import CodeVerdict, CodeVerifier, encode_like, substitute
from verifiers.sandbox import BwrapSandbox, Limits
from verifiers.sandbox.select import probe

LIMITS = Limits(wall_seconds=5, cpu_seconds=5, memory_bytes=512 << 20, max_processes=32)

SOLUTION = "def add(a, b):\n    return a + b\n"
TESTS = textwrap.dedent("""
    from solution import add

    def test_small():
        assert add(1, 2) == 3

    def test_negative():
        assert add(-1, -2) == -3

    class TestAdd:
        def test_zero(self):
            assert add(0, 0) == 0
""")


@pytest.fixture(scope="module")
def verifier():
    ok, why = probe("bwrap")
    if not ok:
        pytest.skip(f"bwrap unavailable here: {why}")
    return CodeVerifier(BwrapSandbox(), LIMITS)


def test_verify_files_passes(verifier):
    verdict = verifier.verify_files(SOLUTION, TESTS)
    assert verdict.passed, verdict.to_dict()
    assert verdict.tests == {"test_small": "ok", "test_negative": "ok", "TestAdd.test_zero": "ok"}
    assert verdict.detail().startswith("3/3 tests passed in bwrap (")
    data = verdict.to_dict()
    assert {"passed", "status", "exit_code", "stdout", "stderr", "seconds", "sandbox", "tests"} <= set(data)
    assert data["status"] == "ok" and data["sandbox"] == "bwrap"
    json.dumps(data)


def test_verify_files_fails(verifier):
    verdict = verifier.verify_files("def add(a, b):\n    return a - b\n", TESTS)
    assert not verdict.passed and verdict.result.status == "failed"
    assert verdict.tests["test_small"].startswith("failed")
    assert verdict.tests["TestAdd.test_zero"] == "ok"
    assert "failed" in verdict.detail()


def test_no_program_text_reaches_the_row_detail(verifier):
    """A hostile test copies what it reads (or anything) into its failure message, its stderr and
    a crafted exception name: the one-line detail a row keeps holds counts, names and the
    exception's type only."""
    tests = textwrap.dedent("""
        import sys
        LEAK = "LEAK-" + open("/etc/passwd").read().replace(chr(10), "|")

        def test_message():
            print(LEAK, file=sys.stderr)
            assert False, LEAK

        def test_crafted():
            raise type("Leak: root:x:0:0", (Exception,), {})(LEAK)
    """)
    verdict = verifier.verify_files(SOLUTION, tests)
    assert not verdict.passed and "LEAK" in verdict.tests["test_message"]  # the full text stays in to_dict()
    detail = verdict.detail()
    assert "LEAK" not in detail and "root" not in detail and "passwd" not in detail, detail
    assert detail.endswith("test_message: failed: AssertionError"), detail
    verdict = verifier.verify_files(SOLUTION, tests.replace("def test_message", "def _skip"))
    detail = verdict.detail()  # the type's name is cut at the first ":" (an identifier, at most 80 characters)
    assert detail.endswith("test_crafted: error: test_solution.Leak") and "root" not in detail, detail


def test_syntax_error(verifier):
    verdict = verifier.verify_files("def add(a, b) return a + b\n", TESTS)
    assert not verdict.passed and verdict.result.status == "failed"
    assert "SyntaxError" in verdict.tests["<module>"]


def test_output_without_a_final_newline_still_passes(verifier):
    tests = "from solution import add\n\ndef test_add():\n    print('progress', end='')\n    assert add(1, 2) == 3\n"
    verdict = verifier.verify_files("def add(a, b):\n    return a + b\n", tests)
    assert verdict.passed and verdict.result.stdout == "progress"


def test_early_exit_does_not_pass(verifier):
    verdict = verifier.verify_files("import os\nos._exit(0)\n", TESTS)
    assert not verdict.passed
    assert verdict.result.exit_code == 0 and verdict.result.status == "failed"


def test_fake_result_line_does_not_pass(verifier):
    fake = "0" * 32 + " " + json.dumps({"tests": {"test_small": "ok"}, "memory": False, "passed": True})
    code = f"import os, sys\nprint({fake!r}, flush=True)\nos._exit(0)\n"
    verdict = verifier.verify_files(code, TESTS)
    assert not verdict.passed


def test_test_calling_exit_does_not_pass(verifier):
    verdict = verifier.verify_files(SOLUTION, "import sys\ndef test_a():\n    sys.exit(0)\n")
    assert not verdict.passed and verdict.tests["test_a"].startswith("error")


def test_timeout_and_memory_are_reported(verifier):
    fast = CodeVerifier(verifier.sandbox, Limits(wall_seconds=1.5, cpu_seconds=5, memory_bytes=512 << 20))
    slow = fast.verify_files("while True: pass\n", TESTS)
    assert (slow.passed, slow.result.status) == (False, "timeout")
    big = fast.verify_files("x = bytearray(4 << 30)\n", TESTS)
    assert (big.passed, big.result.status) == (False, "memory")


# --- a tiny repository: a package, a sibling import, a helper, a doctest, a method, a test file

MODULE = '''\
"""Shapes."""

from pkg.helpers import square


def _double(x):
    return 2 * x


def area_plus(side, extra):
    """Area of a square plus twice extra.

    >>> area_plus(3, 1)
    11
    """
    return square(side) + _double(extra)


class Box:
    def volume(self, side):
        """Cube volume.

        >>> Box().volume(2)
        8
        """
        return side ** 3


@staticmethod
def decorated(x):
    return x
'''

TEST_FILE = '''\
from pkg.shapes import Box, area_plus


def test_area_plus():
    assert area_plus(2, 0) == 4
    assert area_plus(1, 2) == 5


class TestBox:
    def test_volume(self):
        assert Box().volume(3) == 27
'''


@pytest.fixture()
def repo(tmp_path):
    root = tmp_path / "snap"
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "src" / "pkg" / "__init__.py").write_text("")
    (root / "src" / "pkg" / "helpers.py").write_text("def square(x):\n    return x * x\n")
    (root / "src" / "pkg" / "shapes.py").write_text(MODULE)
    (root / "tests" / "test_shapes.py").write_text(TEST_FILE)
    return RepoSnapshot(uri=str(root), commit=None, root=str(root))


def function(repo, symbol, tests):
    lines = MODULE.splitlines()
    name = symbol.rsplit(".", 1)[-1]
    start = next(i for i, line in enumerate(lines, 1) if line.strip().startswith(f"def {name}("))
    end = start
    while end < len(lines) and (not lines[end].strip() or lines[end].startswith(" " * (8 if "." in symbol else 4))):
        end += 1
    while not lines[end - 1].strip():
        end -= 1
    indent = "    " if "." in symbol else ""
    code = textwrap.dedent("\n".join(lines[start - 1:end])) + "\n"
    doc = ("Area of a square plus twice extra.\n\n>>> area_plus(3, 1)\n11" if name == "area_plus"
           else "Cube volume.\n\n>>> Box().volume(2)\n8")
    return CodeFunction(repo=repo, path="src/pkg/shapes.py", module="pkg.shapes", import_root="src", symbol=symbol,
                        signature=lines[start - 1].strip(), docstring=doc, code=code, start_line=start, end_line=end,
                        indent=indent, tests=tests)


def test_original_function_passes(verifier, repo):
    fn = function(repo, "area_plus", (TestRef("doctest", "src/pkg/shapes.py", "area_plus"),
                                      TestRef("function", "tests/test_shapes.py", "test_area_plus")))
    verdict = verifier.verify_function(fn)
    assert verdict.passed, verdict.to_dict()
    assert verdict.tests == {"doctest area_plus": "ok", "tests/test_shapes.py::test_area_plus": "ok"}
    assert verdict.detail().startswith("2/2 tests passed in bwrap")


def test_wrong_substituted_body_fails(verifier, repo):
    fn = function(repo, "area_plus", (TestRef("doctest", "src/pkg/shapes.py", "area_plus"),
                                      TestRef("function", "tests/test_shapes.py", "test_area_plus")))
    wrong = 'def area_plus(side, extra):\n    """Wrong."""\n    return square(side) + extra\n'
    verdict = verifier.verify_function(fn, wrong)
    assert not verdict.passed and verdict.result.status == "failed"
    assert verdict.tests["doctest area_plus"].startswith("failed")
    assert verdict.tests["tests/test_shapes.py::test_area_plus"].startswith("failed")
    # the snapshot itself is untouched
    assert (repo.root and open(f"{repo.root}/src/pkg/shapes.py").read()) == MODULE


def test_right_substituted_body_passes_using_module_helpers(verifier, repo):
    fn = function(repo, "area_plus", (TestRef("function", "tests/test_shapes.py", "test_area_plus"),))
    other = "def area_plus(side, extra):\n    total = _double(extra)\n    return total + square(side)\n"
    verdict = verifier.verify_function(fn, other)
    assert verdict.passed, verdict.to_dict()


def test_method_doctest_and_test_method(verifier, repo):
    fn = function(repo, "Box.volume", (TestRef("doctest", "src/pkg/shapes.py", "Box.volume"),
                                       TestRef("function", "tests/test_shapes.py", "TestBox.test_volume")))
    assert verifier.verify_function(fn).passed
    verdict = verifier.verify_function(fn, "def volume(self, side):\n    return side * 3\n")
    assert not verdict.passed
    assert set(verdict.tests) == {"doctest Box.volume", "tests/test_shapes.py::TestBox::test_volume"}


def test_no_tests_is_an_error(verifier, repo):
    verdict = verifier.verify_function(function(repo, "area_plus", ()))
    assert not verdict.passed and verdict.result.status == "error"
    assert isinstance(verdict, CodeVerdict)


def test_substitute_keeps_other_functions(repo):
    fn = function(repo, "area_plus", ())
    out = substitute(MODULE, fn, "def area_plus(side, extra):\n    return 0\n")
    assert "def _double(x):" in out and "class Box:" in out and "from pkg.helpers import square" in out
    assert "def area_plus(side, extra):\n    return 0\n\n\nclass Box:" in out
    compile(out, "shapes.py", "exec")


def test_substitute_method_is_reindented(repo):
    fn = function(repo, "Box.volume", ())
    out = substitute(MODULE, fn, "def volume(self, side):\n    return side * side * side\n")
    assert "class Box:\n    def volume(self, side):\n        return side * side * side\n" in out
    assert "Cube volume" not in out
    compile(out, "shapes.py", "exec")


def test_substitute_keeps_the_original_decorators_when_the_new_code_has_none():
    module = "import functools\n\n\n@functools.lru_cache\ndef f(x):\n    return x\n\n\ndef g():\n    return 1\n"
    fn = CodeFunction(repo=RepoSnapshot("r", None, "/nonexistent"), path="m.py", module="m", import_root="", symbol="f",
                      signature="def f(x):", docstring="", code="@functools.lru_cache\ndef f(x):\n    return x\n",
                      start_line=4, end_line=6, indent="", tests=())
    plain = substitute(module, fn, "def f(x):\n    return x + 1\n")  # the task showed the def only
    assert "@functools.lru_cache\ndef f(x):\n    return x + 1\n" in plain and "def g():" in plain
    kept = substitute(module, fn, "@functools.lru_cache\ndef f(x):\n    return x + 1\n")
    assert kept.count("@functools.lru_cache") == 1
    own = substitute(module, fn, "@staticmethod\ndef f(x):\n    return x\n")  # new decorators replace the old
    assert "@staticmethod" in own and "lru_cache\ndef" not in own
    with pytest.raises(ValueError):
        substitute(module, CodeFunction(**{**fn.__dict__, "end_line": 99}), "def f(): pass")


def _method(module: str, start: int, end: int, code: str) -> CodeFunction:
    return CodeFunction(repo=RepoSnapshot("r", None, "/nonexistent"), path="m.py", module="m", import_root="",
                        symbol="C.m", signature="def m(self):", docstring="", code=code, start_line=start, end_line=end,
                        indent="    ", tests=())


def test_substitute_leaves_multi_line_string_content_alone():
    module = 'class C:\n    def m(self):\n        return """usage:\n  run"""\n'
    code = 'def m(self):\n    return """usage:\n  run"""\n'
    out = substitute(module, _method(module, 2, 4, code), code)
    assert out == module
    returned = ast.parse(out).body[0].body[0].body[0].value  # parsed, not run
    assert returned.value == "usage:\n  run"


def test_substitute_counts_lines_like_ast_and_keeps_tabs_in_strings():
    module = "import math\n\x0c\ndef area(r):\n    return r\n\ndef other(x):\n    return x\n"
    fn = CodeFunction(repo=RepoSnapshot("r", None, "/nonexistent"), path="m.py", module="m", import_root="",
                      symbol="other", signature="def other(x):", docstring="", code="def other(x):\n    return x\n",
                      start_line=6, end_line=7, indent="", tests=())
    out = substitute(module, fn, 'def other(x):\n\treturn "a\tb"\n')
    assert out.startswith("import math\n\x0c\ndef area(r):\n    return r\n\n") and '\treturn "a\tb"' in out


def test_encode_like_keeps_the_module_encoding_or_says_utf8():
    text = "# -*- coding: latin-1 -*-\nname = 'café'\n"
    assert encode_like(text, "iso-8859-1") == text.encode("latin-1")
    wider = encode_like(text + "snow = '\u2603'\n", "iso-8859-1")
    assert wider.startswith(b"# -*- coding: utf-8 -*-") and "\u2603".encode() in wider


CONFIG = '''class Config:
    """Settings."""

    def __init__(self, data):
        self.data = dict(data)

    def get(self, key):
        """The value of ``key``, else None.

        >>> Config({"a": 1}).get("a")
        1
        """
        return self.data.get(key)

    @property
    def size(self):
        """How many keys."""
        return len(self.data)
'''
LOOSE_TEST = '''from conf import Config


def test_mentions_config_but_calls_dict_get():
    c = Config({"a": 1})
    assert {"a": 1}.get("a") == c.data["a"]


def test_size():
    assert Config({"a": 1, "b": 2}).size == 2
'''


def _config_fn(root: Path, symbol: str, start: int, end: int, code: str, tests: tuple[TestRef, ...]) -> CodeFunction:
    return CodeFunction(repo=RepoSnapshot("r", None, str(root)), path="conf.py", module="conf", import_root="",
                        symbol=symbol, signature="def m(self):", docstring="The value of ``key``, else None.\n\n"
                        '>>> Config({"a": 1}).get("a")\n1', code=code, start_line=start, end_line=end, indent="    ",
                        tests=tests)


def test_a_linked_test_that_never_calls_the_target_proves_nothing(verifier, tmp_path):
    """Tests are linked by name; the harness counts calls of the target, so a test that mentions the
    class but calls something else is reported not_called and cannot make a wrong body pass."""
    (tmp_path / "conf.py").write_text(CONFIG, encoding="utf-8")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_conf.py").write_text(LOOSE_TEST, encoding="utf-8")
    loose = TestRef("function", "tests/test_conf.py", "test_mentions_config_but_calls_dict_get")
    get = _config_fn(tmp_path, "Config.get", 7, 13, "def get(self, key):\n    return self.data.get(key)\n", (loose,))
    only_loose = verifier.verify_function(get)
    assert not only_loose.passed and only_loose.tests[
        "tests/test_conf.py::test_mentions_config_but_calls_dict_get"].startswith("not_called")
    wrong = "def get(self, key):\n    return 42\n"
    assert not verifier.verify_function(get, wrong).passed  # the loose test alone never vouches for it
    with_doctest = _config_fn(tmp_path, "Config.get", 7, 13, get.code, (TestRef("doctest", "conf.py", "Config.get"), loose))
    verdict = verifier.verify_function(with_doctest)
    assert verdict.passed and "never called it" in verdict.detail()
    size = _config_fn(tmp_path, "Config.size", 15, 18, "@property\ndef size(self):\n    return len(self.data)\n",
                      (TestRef("function", "tests/test_conf.py", "test_size"),))
    assert verifier.verify_function(size).passed  # a property is counted through its getter
    assert not verifier.verify_function(size, "def size(self):\n    return 0\n").passed


def test_site_packages_are_importable_though_no_site_hook_runs(verifier):
    """The harness starts with -S (no .pth code of the host's environment runs in the sandbox), and
    the test process still finds the interpreter's site-packages (a repository's third-party imports)."""
    tests = ("import sys\nimport yaml\n\n\ndef test_yaml_loads():\n    assert yaml.safe_load('a: 1') == {'a': 1}\n\n\n"
             "def test_no_site_hook_ran():\n    assert 'site' not in sys.modules and '_distutils_hack' not in sys.modules\n")
    verdict = verifier.verify_files("x = 1\n", tests)
    assert verdict.passed, verdict.to_dict()
