"""Code verification: run tests against code in the sandbox, never in this process.

:class:`CodeVerifier` writes the job, the harness (``verifiers/sandbox/harness.py``, copied as
text) and the code into a sandbox work dir and runs ``python -I harness.py job.json``; the verdict
comes from the harness's nonce-stamped result line (see the harness), the exit status and the
sandbox's view of how the run ended (time, memory, output, signals).
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import shutil
import tempfile
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from schemas.code import CodeFunction
from verifiers.sandbox.base import ExecutionResult, Limits, Sandbox

HARNESS = (Path(__file__).resolve().parent / "sandbox" / "harness.py").read_text(encoding="utf-8")


@dataclass
class CodeVerdict:
    passed: bool
    result: ExecutionResult
    tests: dict[str, str] = field(default_factory=dict)

    def detail(self) -> str:
        """One short line, e.g. ``3/3 tests passed in bwrap (doctest f, tests/test_m.py::test_a, ...)``."""
        ok = sum(1 for v in self.tests.values() if v == "ok")
        names = list(self.tests)
        shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
        where = f"in {self.result.sandbox}"
        if self.passed:
            return f"{ok}/{len(self.tests)} tests passed {where} ({shown})"
        bad = next(((k, v) for k, v in self.tests.items() if v != "ok"), None)
        head = f"{self.result.status}: {ok}/{len(self.tests)} tests passed {where}"
        if self.result.stopped:
            head += f", stopped by {self.result.stopped}"
        if bad:
            head += f"; {bad[0]}: {bad[1][:160]}"
        elif not self.tests:
            last = (self.result.stderr.strip().splitlines() or [""])[-1]
            head += f"; {last[:160]}" if last else ""
        return head

    def to_dict(self) -> dict:
        r = self.result
        return {"passed": self.passed, "status": r.status, "exit_code": r.exit_code, "stdout": r.stdout, "stderr": r.stderr,
                "seconds": round(r.seconds, 4), "sandbox": r.sandbox, "stopped": r.stopped,
                "stdout_truncated": r.stdout_truncated, "stderr_truncated": r.stderr_truncated, "tests": dict(self.tests)}


def substitute(module_text: str, fn: CodeFunction, code: str) -> str:
    """Replace lines ``fn.start_line..fn.end_line`` (1-based, inclusive) of the module by ``code``.

    ``code`` is dedented, then every non-blank line is prefixed by ``fn.indent`` (so a method
    lands back in its class). The span is replaced exactly: it includes the original decorators,
    so code without decorators drops them and code with decorators brings its own. Pure: reads
    and runs nothing.
    """
    lines = module_text.splitlines(keepends=True)
    if not (1 <= fn.start_line <= fn.end_line <= len(lines)):
        raise ValueError(f"lines {fn.start_line}..{fn.end_line} are outside a module of {len(lines)} lines")
    body = textwrap.dedent(code.expandtabs(8) if "\t" in code and " " in code else code).strip("\n")
    new = [(fn.indent + line if line.strip() else "") + "\n" for line in body.splitlines()]
    return "".join(lines[: fn.start_line - 1] + new + lines[fn.end_line:])


def _strip_result_line(text: str, nonce: str) -> str:
    return "".join(line for line in text.splitlines(keepends=True) if not line.startswith(nonce))


class CodeVerifier:
    def __init__(self, sandbox: Sandbox, limits: Limits | None = None):
        self.sandbox = sandbox
        self.limits = limits or Limits()

    def _run(self, job: dict, files: dict[str, str | bytes], ro_mounts: dict[str, str]) -> CodeVerdict:
        nonce = secrets.token_hex(16)
        files = {**files, "harness.py": HARNESS, "job.json": json.dumps(job)}
        result = self.sandbox.run(["python", "harness.py", "job.json"], files=files, ro_mounts=ro_mounts, limits=self.limits,
                                  stdin=(nonce + "\n").encode())
        payload = None
        for text in (result.stdout, result.stdout_tail):
            for line in text.splitlines():
                if line.startswith(nonce + " "):
                    try:
                        payload = json.loads(line[len(nonce) + 1:])
                    except ValueError:
                        payload = None
        result = dataclasses.replace(result, stdout=_strip_result_line(result.stdout, nonce), stdout_tail="")
        tests: dict[str, str] = {}
        if isinstance(payload, dict) and isinstance(payload.get("tests"), dict):
            tests = {str(k): str(v) for k, v in payload["tests"].items()}
        all_ok = bool(tests) and all(v == "ok" for v in tests.values())
        if payload is None:
            if result.status == "ok":  # exited 0 without the harness's word: an early exit
                result = dataclasses.replace(result, status="failed", stopped="no_result")
                tests = {"<harness>": "error: no result line (the program exited before the tests finished)"}
            return CodeVerdict(False, result, tests)
        if payload.get("memory"):
            result = dataclasses.replace(result, status="memory", stopped=result.stopped or "memory")
        elif result.status == "ok" and not all_ok:
            result = dataclasses.replace(result, status="error" if not tests else "failed")
        passed = result.status == "ok" and all_ok and payload.get("passed") is True
        return CodeVerdict(passed, result, tests)

    def verify_files(self, code: str, tests: str, tests_name: str = "test_solution.py") -> CodeVerdict:
        """``code`` as ``solution.py`` beside ``tests`` (as ``tests_name``); run the tests file and its tests."""
        if tests_name in ("solution.py", "harness.py", "job.json") or not tests_name.endswith(".py"):
            tests_name = "test_solution.py"  # the work dir's own names are taken
        job = {"mode": "files", "tests": tests_name}
        return self._run(job, {"solution.py": code, tests_name: tests}, {})

    def verify_function(self, fn: CodeFunction, code: str | None = None) -> CodeVerdict:
        """Run ``fn``'s tests against its module, with ``code`` substituted for the function when given."""
        if not fn.tests:
            result = ExecutionResult("error", None, "", "no tests for this function", 0.0, self.sandbox.name, stopped="no_tests")
            return CodeVerdict(False, result, {})
        job = {"mode": "function", "root": "repo", "import_root": fn.import_root, "module": fn.module, "symbol": fn.symbol,
               "docstring": fn.docstring, "path": fn.path,
               "tests": [{"kind": t.kind, "path": t.path, "name": t.name} for t in fn.tests]}
        mounts = {"repo": fn.repo.root}
        staging = None
        try:
            if code is not None:
                original = Path(fn.repo.root, fn.path).read_text(encoding="utf-8")
                staging = tempfile.mkdtemp(prefix="verify-code-")
                os.chmod(staging, 0o700)
                module_file = os.path.join(staging, os.path.basename(fn.path))
                Path(module_file).write_text(substitute(original, fn, code), encoding="utf-8")
                os.chmod(module_file, 0o644)
                mounts[f"repo/{fn.path}"] = module_file
            return self._run(job, {}, mounts)
        finally:
            if staging:
                shutil.rmtree(staging, ignore_errors=True)
