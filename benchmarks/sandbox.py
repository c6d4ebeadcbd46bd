"""Sandboxed executions/s through ``CodeVerifier.verify_files`` ÷ bare ``python -c`` subprocesses/s.

Both sides do the same work (define a small solution, run 3 tests on it) N times in sequence,
measured side by side in one run: the bare side is ``subprocess.run([sys.executable, "-I", "-c",
PROGRAM])`` with no sandbox and no harness; the sandboxed side adds bwrap (or the fallback), the
rlimits, the harness, the nonce and the result parsing. Bar (issue 6): ratio >= 0.5.
"""

from __future__ import annotations

import subprocess
import sys
import time

from benchmarks.report import Report
from verifiers.code import CodeVerifier
from verifiers.sandbox import Limits, select_sandbox

SOLUTION = "def add(a, b):\n    return a + b\n"
TESTS = """\
from solution import add


def test_small():
    assert add(1, 2) == 3


def test_negative():
    assert add(-1, -2) == -3


def test_zero():
    assert add(0, 0) == 0
"""
# the same work in one bare program: the solution, then the three tests
PROGRAM = SOLUTION + TESTS.replace("from solution import add\n", "") + "test_small()\ntest_negative()\ntest_zero()\n"


def run(report: Report, n: int = 30) -> None:
    sandbox = select_sandbox()
    verifier = CodeVerifier(sandbox, Limits(wall_seconds=30))
    warm = verifier.verify_files(SOLUTION, TESTS)
    if not warm.passed:
        raise RuntimeError(f"sandbox bench: the warm-up did not pass: {warm.detail()}")
    subprocess.run([sys.executable, "-I", "-c", PROGRAM], check=True)
    sandboxed = bare = 0.0
    for _ in range(n):  # interleaved, so background load hits both sides alike
        t0 = time.perf_counter()
        verdict = verifier.verify_files(SOLUTION, TESTS)
        t1 = time.perf_counter()
        subprocess.run([sys.executable, "-I", "-c", PROGRAM], check=True, capture_output=True)
        t2 = time.perf_counter()
        if not verdict.passed:
            raise RuntimeError(f"sandbox bench: a run did not pass: {verdict.detail()}")
        sandboxed += t1 - t0
        bare += t2 - t1
    rate_sandboxed, rate_bare = n / sandboxed, n / bare
    print(f"  {n} runs each: sandboxed ({sandbox.name}) {rate_sandboxed:.1f}/s, bare python -c {rate_bare:.1f}/s")
    report.add("sandbox", rate_sandboxed / rate_bare, ">=", 0.5, sandbox=sandbox.name, runs=n,
               sandboxed_per_s=round(rate_sandboxed, 2), bare_per_s=round(rate_bare, 2))
    report.info("sandbox_executions_per_s", rate_sandboxed, sandbox=sandbox.name)
    report.info("sandbox_bare_python_per_s", rate_bare)

