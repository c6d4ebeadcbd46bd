"""``reverse-o1 code-cot`` on git repositories built to forge test verdicts (issue 22, part 2):
a repository-root ``doctest.py`` that would pass a wrong doctest, and a test that digs for the
result-line nonce, prints a passing line and exits 0 before its failing assertion. Neither
function is written verified (nor at all); the manifest adds up and names why."""

from __future__ import annotations

import glob
import json
import os
import subprocess
from pathlib import Path

import pyarrow.parquet as pq

from tests.pipelines.helpers import assert_balanced, run, scripted

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@localhost", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@localhost", "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
           "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z"}
FORWARD = ("1. I need to work out what the task asks for from the docstring.\n"
           "2. Then I handle the edge cases before the main case.\n"
           "3. Finally I return the value the docstring promises.")

SHADOW = {
    "calc.py": '''\
def double_it(x):
    """Twice x.

    >>> double_it(2)
    5
    """
    return 2 * x
''',
    # runs each example (so the harness sees the function called) and reports every one as passed
    "doctest.py": '''\
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
''',
}

FORGER = {
    "calc.py": '''\
def triple(x):
    """Three times x."""
    return 3 * x


def fine(n):
    """Double.

    >>> fine(2)
    4
    """
    return 2 * n
''',
    "tests/test_calc.py": '''\
import gc, json, os, re, sys

from calc import triple

HEX = re.compile(r"^[0-9a-f]{32}$")


def _forge():
    found = set()
    frame = sys._getframe()
    while frame is not None:
        for value in (*frame.f_locals.values(), *frame.f_globals.values()):
            if isinstance(value, str) and HEX.match(value):
                found.add(value)
        frame = frame.f_back
    for obj in gc.get_objects():
        if isinstance(obj, dict):
            found.update(v for v in list(obj.values()) if isinstance(v, str) and HEX.match(v))
    payload = json.dumps({"tests": {"tests/test_calc.py::test_triple": "ok"}, "memory": False, "passed": True})
    for nonce in found:
        print("\\n" + nonce + " " + payload, flush=True)
    os._exit(0)


def test_triple():
    assert triple(2) == 6
    _forge()
    assert 2 * 3 == 7
''',
}


def git_repo(target: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        Path(target, name).parent.mkdir(parents=True, exist_ok=True)
        Path(target, name).write_text(text, encoding="utf-8")
    env = {**os.environ, **GIT_ENV}
    for argv in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "v1"]):
        subprocess.run(["git", *argv], cwd=target, env=env, check=True, capture_output=True)
    return target


def test_forged_verdicts_are_not_written_verified(tmp_path: Path) -> None:
    shadow = git_repo(tmp_path / "shadow", SHADOW)
    forger = git_repo(tmp_path / "forger", FORGER)
    out = tmp_path / "out"
    policy = scripted([("For your eyes only", FORWARD), ("def fine(", "```python\ndef fine(n):\n    return n + n\n```"),
                       ("def double_it(", "```python\ndef double_it(x):\n    return 2 * x\n```"),
                       ("def triple(", "```python\ndef triple(x):\n    return 3 * x\n```")])
    code = run(["code-cot", "--repo", shadow, forger, "--out", out, "--backend", "scripted", "--model", policy,
                "--sandbox-timeout", "8", "--repo-cache", tmp_path / "cache"])
    assert code == 0
    data = assert_balanced(out)
    filtered = data["stages"]["code-cot/original_tests"]["filtered"]
    assert filtered.get("shadows_stdlib") == 1, filtered  # double_it: its repository's doctest.py is never run
    assert filtered.get("original_failed") == 1, filtered  # triple: its test exited 0 before reporting
    rows = [r for p in sorted(glob.glob(os.path.join(out, "sft", "*.parquet"))) for r in pq.read_table(p).to_pylist()]
    symbols = {r["source"]["symbol"]: r for r in rows}
    assert not {"double_it", "triple"} & set(symbols), sorted(symbols)
    assert not any(r["verified"] for r in rows if r["source"]["symbol"] != "fine")
    assert symbols["fine"]["verified"] is True  # an honest function of the same run is still verified
    reports = {r["symbol"]: r for path in sorted((out / "reports" / "original_tests").glob("*.jsonl"))
               for r in map(json.loads, path.read_text(encoding="utf-8").splitlines())}
    assert reports["double_it"]["stopped"] == "shadows_stdlib" and reports["double_it"]["status"] == "error"
    assert reports["triple"]["status"] == "failed"
    assert reports["triple"]["failing_test"] == "tests/test_calc.py::test_triple"
