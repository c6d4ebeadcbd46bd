"""Verdicts the code under test cannot forge (issue 22, part 2), in the real bwrap sandbox.

Each hostile repository is a plain folder built here: a module whose own test is wrong, plus
something that would make it pass if the harness trusted the process running it (a module that
shadows the standard library, a test that digs the result-line nonce out of the harness's frames,
the garbage collector and every readable process's memory, an early ``os._exit(0)``, a report cut
short). None of them passes; honest passing and failing functions are still judged right.
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

from schemas.code import CodeFunction, RepoSnapshot, TestRef
from tests.verifiers.bwrap_verifier import bwrap_verifier
from verifiers.code import RUNNER_MODULES, CodeVerifier, shadowing_modules
from verifiers.sandbox import Limits

LIMITS = Limits(wall_seconds=8, cpu_seconds=8, memory_bytes=512 << 20, max_processes=32)

#: ``double_it`` is right; its doctest is wrong (2 * 2 is not 5)
WRONG_DOCTEST = '''\
def double_it(x):
    """Twice x.

    >>> double_it(2)
    5
    """
    return 2 * x
'''
RIGHT_DOCTEST = WRONG_DOCTEST.replace("    5\n", "    4\n")

#: would turn every doctest and every unittest case into a pass (they run the code under test, so
#: the harness's count of calls is satisfied, and throw every result away), and make json lie
FAKE_DOCTEST = '''\
import collections
TestResults = collections.namedtuple("TestResults", "failed attempted")
ELLIPSIS = 8


class DocTestParser:
    def get_doctest(self, text, globs, name, filename, lineno):
        class Test:
            examples = [line.strip()[4:] for line in text.splitlines() if line.strip().startswith(">>> ")]
        Test.globs = globs
        return Test()


class DocTestRunner:
    def __init__(self, *args, **kwargs):
        pass

    def run(self, test, *args, **kwargs):
        for source in test.examples:
            exec(source, test.globs)
        return TestResults(0, len(test.examples))
'''
FAKE_UNITTEST = '''\
class TestResult:
    errors, failures, skipped = [], [], []


class TestCase:
    def __init__(self, name="runTest"):
        self.name = name

    def assertEqual(self, first, second):
        pass

    def run(self, result=None):
        getattr(self, self.name)()
        return result
'''
FAKE_JSON = '''\
def dumps(obj, **kwargs):
    return '{"tests": {}, "memory": false, "passed": true}'


def loads(text, **kwargs):
    return {}
'''
#: not a module the harness imports itself, but one doctest imports: before the fix it was loaded
#: from the repository (the repository was on sys.path when doctest was first imported), and it
#: patches DocTestRunner.run to pass everything the moment doctest has finished loading
FAKE_PDB = '''\
import sys

print("HOSTILE-PDB-LOADED", file=sys.stderr)


class Pdb:
    def __init__(self, *args, **kwargs):
        pass


def _hook(frame, event, arg):
    if event == "return" and frame.f_code.co_name == "<module>" and frame.f_globals.get("__name__") == "doctest":
        doctest = sys.modules["doctest"]
        doctest.DocTestRunner.run = lambda self, test, *a, **k: doctest.TestResults(0, len(test.examples))
        sys.setprofile(None)


sys.setprofile(_hook)
'''

#: finds every 32-hex-digit string the test can reach (frames, their locals and globals, every
#: object the garbage collector tracks, the memory of every process it may read, the stdin of
#: every process it may open) and prints a passing result line for each, then exits 0
FORGE = '''\
import gc, json, os, re, sys

HEX = re.compile(rb"(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])")


def _strings(value, found):
    if isinstance(value, str) and len(value) == 32:
        found.add(value)
    elif isinstance(value, dict):
        for item in list(value.values()):
            if isinstance(item, str) and len(item) == 32:
                found.add(item)
    elif isinstance(value, (list, tuple, set)):
        for item in list(value)[:1000]:
            if isinstance(item, str) and len(item) == 32:
                found.add(item)


def _memory(pid, found):
    try:
        maps = open(f"/proc/{pid}/maps").read().splitlines()
        mem = open(f"/proc/{pid}/mem", "rb", 0)
    except OSError:
        return
    with mem:
        for line in maps:
            span, perms = line.split()[:2]
            lo, hi = (int(x, 16) for x in span.split("-"))
            if "r" not in perms or hi - lo > 64 << 20:
                continue
            try:
                mem.seek(lo)
                data = mem.read(hi - lo)
            except (OSError, ValueError, OverflowError):
                continue
            found.update(m.decode() for m in HEX.findall(data))


def forge(labels):
    found = set()
    frame = sys._getframe()
    while frame is not None:
        for value in (*frame.f_locals.values(), *frame.f_globals.values()):
            _strings(value, found)
        frame = frame.f_back
    for obj in gc.get_objects():
        _strings(obj, found)
    for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
        _memory(pid, found)
        try:
            fd = os.open(f"/proc/{pid}/fd/0", os.O_RDONLY | os.O_NONBLOCK)
            found.update(m.decode() for m in HEX.findall(os.read(fd, 4096)))
            os.close(fd)
        except OSError:
            pass
    payload = json.dumps({"tests": {label: "ok" for label in labels}, "memory": False, "passed": True})
    for nonce in found:
        sys.stdout.write("\\n" + nonce + " " + payload + "\\n")
    sys.stdout.flush()
    print("FORGED", len(found), file=sys.stderr, flush=True)
    os._exit(0)
'''


@pytest.fixture(scope="module")
def verifier() -> CodeVerifier:
    return bwrap_verifier(LIMITS)


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        Path(root, name).parent.mkdir(parents=True, exist_ok=True)
        Path(root, name).write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def function(root: Path, path: str, symbol: str, tests: tuple[TestRef, ...], import_root: str = "") -> CodeFunction:
    """``symbol`` (a top-level function) of the module at ``path`` in the folder ``root``, as extraction describes it."""
    text = Path(root, path).read_text(encoding="utf-8")
    node = next(n for n in ast.parse(text).body if isinstance(n, ast.FunctionDef) and n.name == symbol)
    lines = text.splitlines()
    code = "\n".join(lines[node.lineno - 1:node.end_lineno]) + "\n"
    module = path[len(import_root):].lstrip("/")[:-3].replace("/", ".")
    return CodeFunction(repo=RepoSnapshot(uri=str(root), commit=None, root=str(root)), path=path, module=module,
                        import_root=import_root, symbol=symbol, signature=lines[node.lineno - 1].strip(),
                        docstring=ast.get_docstring(node) or "", code=code, start_line=node.lineno,
                        end_line=node.end_lineno or node.lineno, indent="", tests=tests)


def doctest_of(path: str, symbol: str) -> TestRef:
    return TestRef("doctest", path, symbol)


# --- modules that shadow the standard library: refused before anything runs ---------------------------

UNITTEST_TESTS = """\
import unittest
from m import double_it


class TestDouble(unittest.TestCase):
    def test_two(self):
        self.assertEqual(double_it(2), 5)
"""
DOCTEST_REF = TestRef("doctest", "m.py", "double_it")
CASE_REF = TestRef("function", "tests/test_m.py", "TestDouble.test_two")


@pytest.mark.parametrize(("shadow", "text", "refs"), [
    ("doctest.py", FAKE_DOCTEST, (DOCTEST_REF,)),  # the wrong doctest would pass
    ("unittest.py", FAKE_UNITTEST, (CASE_REF,)),  # the failing TestCase would pass
    ("unittest/__init__.py", FAKE_UNITTEST, (CASE_REF,)),
    ("json.py", FAKE_JSON, (DOCTEST_REF, CASE_REF)),
])
def test_a_module_shadowing_the_stdlib_is_refused(verifier: CodeVerifier, tmp_path: Path, shadow: str, text: str,
                                                  refs: tuple[TestRef, ...]) -> None:
    root = write(tmp_path, {"m.py": WRONG_DOCTEST, shadow: text, "tests/test_m.py": UNITTEST_TESTS})
    fn = function(root, "m.py", "double_it", refs)
    verdict = verifier.verify_function(fn)
    assert not verdict.passed
    assert (verdict.result.status, verdict.result.stopped) == ("error", "shadows_stdlib"), verdict.to_dict()
    assert shadow.split("/")[0].removesuffix(".py") in verdict.result.stderr
    assert "shadows_stdlib" in verdict.detail()
    assert not verifier.verify_function(fn, "def double_it(x):\n    return 5\n").passed  # nor any round trip on it


def test_a_shadow_in_the_import_root_is_refused_too(verifier: CodeVerifier, tmp_path: Path) -> None:
    root = write(tmp_path, {"src/m.py": WRONG_DOCTEST, "src/doctest.py": FAKE_DOCTEST})
    verdict = verifier.verify_function(function(root, "src/m.py", "double_it", (doctest_of("src/m.py", "double_it"),),
                                                import_root="src"))
    assert (verdict.passed, verdict.result.stopped) == (False, "shadows_stdlib")


def test_a_stdlib_module_the_harness_loads_indirectly_cannot_stand_in(verifier: CodeVerifier, tmp_path: Path) -> None:
    """``pdb.py`` is not refused (the harness does not import pdb by name), but doctest imports it:
    the harness imports doctest before the repository is on sys.path, so the repository's pdb.py
    never runs and the wrong doctest fails."""
    root = write(tmp_path, {"m.py": WRONG_DOCTEST, "pdb.py": FAKE_PDB})
    fn = function(root, "m.py", "double_it", (doctest_of("m.py", "double_it"),))
    assert shadowing_modules(str(root)) == []
    verdict = verifier.verify_function(fn)
    assert not verdict.passed and verdict.result.status == "failed", verdict.to_dict()
    assert verdict.tests["doctest double_it"].startswith("failed: 1/1 examples")
    assert "HOSTILE-PDB-LOADED" not in verdict.result.stderr
    right = write(tmp_path, {"m.py": RIGHT_DOCTEST})
    assert verifier.verify_function(function(right, "m.py", "double_it", (doctest_of("m.py", "double_it"),))).passed


def test_shadowing_modules_reads_a_listing_only(tmp_path: Path) -> None:
    write(tmp_path, {"json.py": "", "io/__init__.py": "", "types/readme.txt": "a namespace folder: cannot shadow",
                     "src/inspect.cpython-311-x86_64-linux-gnu.so": "", "src/doctest/__init__.py": "", "ok.py": "",
                     "deep/unittest.py": ""})
    (tmp_path / "src" / "functools.py").symlink_to(tmp_path / "ok.py")
    (tmp_path / "src" / "types").symlink_to(tmp_path / "types")  # a link is not followed: it counts
    assert shadowing_modules(str(tmp_path)) == ["io", "json"]
    assert shadowing_modules(str(tmp_path), "src") == ["doctest", "functools", "inspect", "io", "json", "types"]
    assert {"doctest", "unittest", "json", "io", "traceback", "inspect", "functools", "importlib", "types"} <= RUNNER_MODULES


def test_a_tests_file_named_like_the_stdlib_is_renamed(verifier: CodeVerifier) -> None:
    verdict = verifier.verify_files("def add(a, b):\n    return a + b\n",
                                    "from solution import add\n\ndef test_add():\n    assert add(1, 2) == 3\n",
                                    tests_name="unittest.py")
    assert verdict.passed and verdict.tests == {"test_add": "ok"}


# --- tests that forge the result line, exit early or cut their report short ---------------------------

FORGING_TESTS = FORGE + '''

def test_forge():
    forge(["tests/test_m.py::test_forge", "doctest double_it"])
    assert 2 * 3 == 7
'''


def test_a_test_that_forges_the_result_line_does_not_pass(verifier: CodeVerifier, tmp_path: Path) -> None:
    """It walks the frames, the garbage collector and /proc for the nonce, prints a passing line for
    everything it found, and exits 0 before its assertion (2 * 3 == 7) could fail."""
    root = write(tmp_path, {"m.py": RIGHT_DOCTEST, "tests/test_m.py": FORGING_TESTS})
    fn = function(root, "m.py", "double_it", (TestRef("function", "tests/test_m.py", "test_forge"),))
    verdict = verifier.verify_function(fn)
    assert "FORGED" in verdict.result.stderr, verdict.to_dict()  # the attack ran to its end
    assert not verdict.passed and verdict.result.status == "failed", verdict.to_dict()
    assert verdict.tests["tests/test_m.py::test_forge"].startswith("error: the test process ended without reporting")
    # the test ran alone in a process of its own, which ended without a record: its test fails, the run reports in full
    assert verdict.result.exit_code == 1
    files = verifier.verify_files("def add(a, b):\n    return a + b\n", FORGE + "\n\ndef test_a():\n"
                                  "    forge(['test_a'])\n    assert 2 * 3 == 7\n")
    assert not files.passed and files.tests["test_a"].startswith("error: the test process ended without reporting")


def test_an_early_exit_fails_the_test_and_keeps_the_others(verifier: CodeVerifier, tmp_path: Path) -> None:
    """A test process that reports only some tests and exits 0 before the rest: not passed."""
    tests = "import os\nfrom solution import add\n\ndef test_a():\n    assert add(1, 2) == 3\n\n" \
            "def test_b():\n    os._exit(0)\n\ndef test_c():\n    assert add(2, 2) == 4\n"
    verdict = verifier.verify_files("def add(a, b):\n    return a + b\n", tests)
    assert not verdict.passed and verdict.result.status == "failed"
    assert verdict.tests["test_a"] == "ok" and verdict.tests["test_b"].startswith("error: the test process ended")
    assert "test_c" not in verdict.tests and verdict.result.exit_code == 0
    root = write(tmp_path, {"m.py": RIGHT_DOCTEST, "tests/test_m.py": "import os\n\ndef test_exit():\n    os._exit(0)\n"})
    fn = function(root, "m.py", "double_it", (doctest_of("m.py", "double_it"),
                                              TestRef("function", "tests/test_m.py", "test_exit")))
    verdict = verifier.verify_function(fn)
    assert not verdict.passed and verdict.tests["doctest double_it"] == "ok"
    assert verdict.tests["tests/test_m.py::test_exit"].startswith("error: the test process ended without reporting")


#: writes the child protocol's end marker on the test process's own pipe, then exits: a report
#: that is complete in form but lacks the tests after this one
CUT_SHORT = '''\
import os, stat
from solution import add


def _end_report_now():
    for fd in range(3, 64):
        try:
            if stat.S_ISFIFO(os.fstat(fd).st_mode):
                os.write(fd, b"end\\n")
        except OSError:
            pass
    os._exit(0)


def test_a():
    assert add(1, 2) == 3


def test_b():
    _end_report_now()


def test_c():
    assert add(1, 1) == 3
'''


def test_a_report_cut_short_with_an_end_marker_does_not_pass(verifier: CodeVerifier) -> None:
    verdict = verifier.verify_files("def add(a, b):\n    return a + b\n", CUT_SHORT)
    assert not verdict.passed
    assert verdict.tests["test_a"] == "ok" and verdict.tests["test_b"].startswith("error: the test process ended")


def test_a_test_that_kills_the_judge_does_not_pass(verifier: CodeVerifier) -> None:
    tests = "import os, signal\n\ndef test_a():\n    os.kill(os.getppid(), signal.SIGKILL)\n    assert False\n"
    verdict = verifier.verify_files("x = 1\n", tests)
    assert not verdict.passed and verdict.result.status != "ok"


def test_the_residual_code_in_the_test_process_speaks_for_its_own_tests(verifier: CodeVerifier) -> None:
    """What the harness says it cannot prevent: code running in the test process writes a passing
    record for a test in the child protocol. It works for the tests it names; a test it leaves out
    (or names twice) still breaks the run."""
    speak = '''\
import json, os, stat


def _say(records):
    for fd in range(3, 64):
        try:
            if stat.S_ISFIFO(os.fstat(fd).st_mode):
                os.write(fd, "".join(json.dumps(r) + "\\n" for r in records).encode() + b"end\\n")
        except OSError:
            pass
    os._exit(0)


def test_a():
    _say([{"test": "test_a", "verdict": "ok"}])
    assert 2 * 3 == 7
'''
    forged = verifier.verify_files("x = 1\n", speak)
    assert forged.passed, forged.to_dict()  # the documented residual: a test process speaks for its own tests
    with_other = verifier.verify_files("x = 1\n", speak + "\n\ndef test_b():\n    assert 2 * 3 == 7\n")
    assert not with_other.passed and with_other.tests["test_b"].startswith("error: the test process ended")


# --- honest functions are still judged right ----------------------------------------------------------

def test_honest_passing_and_failing_functions(verifier: CodeVerifier, tmp_path: Path) -> None:
    root = write(tmp_path, {"m.py": RIGHT_DOCTEST, "json/data.txt": "a folder named json without __init__: no shadow",
                            "tests/test_m.py": """\
        import unittest
        from m import double_it


        def test_plain():
            assert double_it(3) == 6


        class TestDouble(unittest.TestCase):
            def test_two(self):
                self.assertEqual(double_it(2), 4)
        """})
    refs = (doctest_of("m.py", "double_it"), TestRef("function", "tests/test_m.py", "test_plain"),
            TestRef("function", "tests/test_m.py", "TestDouble.test_two"), TestRef("function", "tests/test_m.py", "test_plain"))
    fn = function(root, "m.py", "double_it", refs)
    verdict = verifier.verify_function(fn)
    assert verdict.passed, verdict.to_dict()
    assert verdict.tests == {"doctest double_it": "ok", "tests/test_m.py::test_plain": "ok",
                             "tests/test_m.py::TestDouble::test_two": "ok"}
    wrong = verifier.verify_function(fn, "def double_it(x):\n    return x + 2\n")  # right for 2 only
    assert not wrong.passed and wrong.result.status == "failed"
    assert wrong.tests["doctest double_it"] == "ok" and wrong.tests["tests/test_m.py::test_plain"].startswith("failed")
    assert wrong.tests["tests/test_m.py::TestDouble::test_two"] == "ok"
