"""Code verification: run tests against code in the sandbox, never in this process.

:class:`CodeVerifier` writes the job, the harness (``verifiers/sandbox/harness.py``, compiled here
once to ``harness.pyc``) and the code into a sandbox work dir and runs ``python -I -S harness.pyc job.json`` with a
random nonce on its stdin. Inside, the harness's judge process keeps the nonce and never runs the
code under test: the tests run in a test process forked before the nonce was read, which reports
each test's verdict on a pipe of its own, and the judge alone writes the nonce-stamped result
line, after it has seen a report for every requested test and the report's end marker (see the
harness for the processes, and for the residual: code in the test process can still speak for
the tests of that process). The verdict comes from that line, the exit status and the sandbox's
view of how the run ended (time, memory, output, signals); a run without the line never passes,
and neither does one whose line lacks a requested test.

A function's suite tests are named in the verdict by their pytest node ids
(``tests/test_m.py::ChunkedTests::test_even``, ``tests/test_m.py::test_f[1-2]``): each runs alone,
selected by that id, in a process of its own, and a failing one is reported by it
(:meth:`CodeVerdict.failing`, ``detail``). A test skipped at run time, like a linked test that
never called the function, counts neither way (:func:`neutral`).

Before anything starts, :meth:`CodeVerifier.verify_function` lists (never imports) the
repository root and the function's import root: a module or package there named like one the
harness imports (``doctest.py``, ``unittest/``, ``json.py`` ...) would stand in for the standard
library inside the test process, so such a function is not run and fails with ``stopped ==
"shadows_stdlib"``.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib.machinery
import importlib.util
import io
import json
import marshal
import os
import re
import secrets
import shutil
import site
import tempfile
import textwrap
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

from schemas.code import CodeFunction, source_lines
from verifiers.sandbox.base import ExecutionResult, Limits, Sandbox

HARNESS = (Path(__file__).resolve().parent / "sandbox" / "harness.py").read_text(encoding="utf-8")


def compiled(source: str, name: str) -> bytes:
    """``source`` as a ``.pyc`` file that this interpreter runs as a script (``python harness.pyc``)
    without compiling it: the sandbox's ``python`` is this one (``resolve_argv``), and compiling
    the harness anew took ~9 ms of every ~50 ms run."""
    code = compile(source, name, "exec", dont_inherit=True)
    header = importlib.util.MAGIC_NUMBER + bytes(8) + (len(source.encode("utf-8")) & 0xFFFFFFFF).to_bytes(4, "little")
    return header + marshal.dumps(code)


HARNESS_PYC = compiled(HARNESS, "harness.py")
SHADOWS_STDLIB = "shadows_stdlib"


def _runner_modules(harness: str) -> frozenset[str]:
    """The names in the harness's ``RUNNER_MODULES`` (read from its text: the harness is never imported here)."""
    for node in ast.parse(harness).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "RUNNER_MODULES" for t in node.targets):
            return frozenset(ast.literal_eval(node.value))
    raise RuntimeError("verifiers/sandbox/harness.py defines no RUNNER_MODULES")


#: the standard library modules the harness imports: none may be shadowed by the code under test
RUNNER_MODULES = _runner_modules(HARNESS)
#: how a file can be imported as a module (``X.py``, ``X.pyc``, ``X.cpython-311-x86_64-linux-gnu.so`` ...)
_MODULE_SUFFIXES = tuple(sorted(importlib.machinery.all_suffixes(), key=len, reverse=True))


def _module_name(entry: str) -> str | None:
    """The module a file named ``entry`` would be imported as, or None when it is no module file."""
    for suffix in _MODULE_SUFFIXES:
        if entry.endswith(suffix) and len(entry) > len(suffix):
            return entry[: -len(suffix)]
    return None


def shadowing_modules(root: str, import_root: str = "") -> list[str]:
    """The modules of ``RUNNER_MODULES`` that the folders a test process puts on ``sys.path`` (the
    repository ``root`` and ``root/import_root``) would shadow: a module file (``json.py``, also a
    ``.pyc`` or an extension module), a regular package (``unittest/`` holding an ``__init__``),
    or a symbolic link by either name (not followed). Decided from a plain listing of the snapshot:
    nothing in it is imported or run here. (A folder without ``__init__`` is a namespace portion,
    which an import finds only where no regular module of that name exists, so it cannot stand in
    for the standard library.)"""
    found: set[str] = set()
    for folder in dict.fromkeys((root, os.path.normpath(os.path.join(root, import_root or "")))):
        try:
            entries = os.listdir(folder)
        except OSError:
            continue
        for entry in entries:
            name = entry if entry in RUNNER_MODULES else _module_name(entry)
            if name not in RUNNER_MODULES:
                continue
            full = os.path.join(folder, entry)
            if entry == name and not os.path.islink(full):  # a folder: only a regular package shadows
                try:
                    inside = os.listdir(full) if os.path.isdir(full) else []
                except OSError:
                    inside = []
                if not any(_module_name(n) == "__init__" for n in inside):
                    continue
            found.add(name)
    return sorted(found)


@dataclass
class CodeVerdict:
    passed: bool
    result: ExecutionResult
    tests: dict[str, str] = field(default_factory=dict)

    def detail(self) -> str:
        """One short line for a row, e.g. ``3/3 tests passed in bwrap (doctest f, tests/test_m.py::test_a, ...)``.

        Built only from counts, the sandbox's own words and names cut to a safe alphabet: nothing
        the program printed or put in an exception message reaches a row (a hostile repository
        could otherwise copy what it read into a published dataset)."""
        ok = sum(1 for v in self.tests.values() if v == "ok")
        idle = sum(1 for v in self.tests.values() if v.startswith("not_called"))
        skipped = sum(1 for v in self.tests.values() if v.startswith("skipped"))
        names = [safe_name(k) for k, v in self.tests.items() if not neutral(v)]
        shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
        where = f"in {self.result.sandbox}"
        if self.passed:
            never = f"; {idle} linked tests never called it" if idle else ""
            never += f"; {skipped} skipped" if skipped else ""
            return f"{ok}/{len(names)} tests passed {where} ({shown}){never}"
        bad = next(((k, v) for k, v in self.tests.items() if v != "ok" and not neutral(v)), None)
        head = f"{self.result.status}: {ok}/{len(names)} tests passed {where}"
        if self.result.stopped:
            head += f", stopped by {safe_name(self.result.stopped)}"
        if bad:
            head += f"; {safe_name(bad[0])}: {outcome_kind(bad[1])}"
        return head

    def failing(self) -> list[str]:
        """The tests that ran and did not pass, by the names the verdict gives them (pytest node ids,
        ``doctest SYMBOL``), cut to a safe alphabet, in the order they ran."""
        return [safe_name(k) for k, v in self.tests.items() if v != "ok" and not neutral(v)]

    def to_dict(self) -> dict:
        """SPEC's JSON (passed, status, exit_code, stdout, stderr, seconds, sandbox, ...), then the tests."""
        return {"passed": self.passed, **self.result.to_dict(), "tests": dict(self.tests)}


_UNSAFE = re.compile(r"[^A-Za-z0-9_.:/\[\]()<>=+, -]")
_EXCEPTION = re.compile(r"[A-Za-z_][A-Za-z0-9_.]{0,79}")
NAME_CHARS = 120


def safe_name(text: str) -> str:
    """A test or stop name as a row may carry it: a safe alphabet, bounded."""
    return _UNSAFE.sub("?", text)[:NAME_CHARS]


def neutral(outcome: str) -> bool:
    """A test outcome that says nothing of the function: it never called it, or it was skipped."""
    return outcome.startswith(("not_called", "skipped"))


def outcome_kind(outcome: str) -> str:
    """``failed: AssertionError: <message>`` -> ``failed: AssertionError`` (the message is dropped)."""
    status, _, rest = outcome.partition(": ")
    status = status if status in ("failed", "error", "ok", "skipped") or status.startswith("not_called") else "failed"
    if status == "skipped":
        return status  # its reason is the program's text
    exc = rest.split(":", 1)[0].strip()
    if exc == "skipped":
        return f"{status}: skipped"
    return f"{status}: {exc}" if _EXCEPTION.fullmatch(exc) else status


def _string_continuations(code: str) -> set[int]:
    """0-based indices of the lines of ``code`` that start inside a multi-line string (their
    leading spaces are string content: indenting them would change the string)."""
    inside: set[int] = set()
    try:
        for tok in tokenize.generate_tokens(io.StringIO(code).readline):
            if tok.type == tokenize.STRING and tok.end[0] > tok.start[0]:
                inside.update(range(tok.start[0], tok.end[0]))  # rows start[0]+1..end[0], 1-based
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass  # code that does not tokenize fails in the sandbox anyway
    return inside


def _decorator_count(code: str) -> int | None:
    """Lines before the ``def`` of the first function in ``code`` (its decorators); None if unparsable."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError):
        return None
    node = next((n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))), None)
    if node is None:
        return None
    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    return node.lineno - first


def substitute(module_text: str, fn: CodeFunction, code: str) -> str:
    """Replace the function at lines ``fn.start_line..fn.end_line`` (1-based, inclusive) by ``code``.

    ``code`` is dedented, then every line is prefixed by ``fn.indent`` (so a method lands back in
    its class), except lines that continue a multi-line string, which are string content. When
    ``code`` has no decorators, the original ones stay (the task showed the ``def`` only); code
    with decorators brings its own. Lines are counted as ``ast`` counts them (``\n``, ``\r\n``,
    ``\r``). Pure: reads and runs nothing.
    """
    lines = source_lines(module_text)
    if not (1 <= fn.start_line <= fn.end_line <= len(lines)):
        raise ValueError(f"lines {fn.start_line}..{fn.end_line} are outside a module of {len(lines)} lines")
    body = textwrap.dedent(code).strip("\n")
    keep = _decorator_count(fn.code) or 0
    if keep and _decorator_count(body) == 0:
        start = fn.start_line + keep  # keep the original decorators
    else:
        start = fn.start_line
    inside = _string_continuations(body + "\n")
    new = [("" if not line.strip() and i not in inside else ("" if i in inside else fn.indent) + line) + "\n"
           for i, line in enumerate(source_lines(body, keepends=False))]
    return "".join(lines[: start - 1] + new + lines[fn.end_line:])


_COOKIE = re.compile(r"^([ \t\f]*#.*?coding[:=][ \t]*)([-\w.]+)", re.MULTILINE)


def encode_like(text: str, encoding: str) -> bytes:
    """``text`` in the module's own encoding (PEP 263); where the new code does not fit it, UTF-8
    with the coding cookie on the first two lines changed to say so."""
    try:
        return text.encode(encoding)
    except UnicodeEncodeError:
        head, sep, rest = text.partition("\n")
        second, sep2, tail = rest.partition("\n")
        head, second = (_COOKIE.sub(r"\1utf-8", part, count=1) for part in (head, second))
        return (head + sep + second + sep2 + tail).encode("utf-8")


def _strip_result_line(text: str, nonce: str) -> str:
    """The program's stdout without the harness's result line (and the newline put before it)."""
    return re.sub("\n?" + re.escape(nonce) + " [^\n]*\n?", "", text)


def _labels(fn: CodeFunction) -> set[str]:
    """How the harness names ``fn``'s tests in its verdict (its ``label_of``): pytest node ids, ``doctest SYMBOL``."""
    return {f"doctest {fn.symbol}" if t.kind == "doctest" else t.label for t in fn.tests}


class CodeVerifier:
    """Runs tests in a sandbox (:meth:`verify_files`, :meth:`verify_function`) and judges them from
    the harness's nonce-stamped result line only."""

    def __init__(self, sandbox: Sandbox, limits: Limits | None = None):
        self.sandbox = sandbox
        self.limits = limits or Limits()

    def _run(self, job: dict, files: dict[str, str | bytes], ro_mounts: dict[str, str],
             expected: set[str] | None = None) -> CodeVerdict:
        """Run the harness on ``job``; ``expected``: the test labels the verdict must hold to pass."""
        nonce = secrets.token_hex(16)
        # -S: no site hooks (.pth files of the host's environment) run in the sandbox; the test process
        # gets the interpreter's site-packages on its path all the same (job["site_packages"])
        job = {**job, "site_packages": [p for p in site.getsitepackages() if os.path.isdir(p)]}
        files = {**files, "harness.pyc": HARNESS_PYC, "job.json": json.dumps(job)}
        result = self.sandbox.run(["python", "-S", "harness.pyc", "job.json"], files=files, ro_mounts=ro_mounts,
                                  limits=self.limits,
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
        judged = [v for v in tests.values() if not neutral(v)]  # linked tests that never called it, or skipped
        all_ok = bool(judged) and all(v == "ok" for v in judged)
        if payload is None:
            if result.status == "ok":  # exited 0 without the harness's word: an early exit
                result = dataclasses.replace(result, status="failed", stopped="no_result")
                tests = {"<harness>": "error: no result line (the program exited before the tests finished)"}
            return CodeVerdict(False, result, tests)
        if payload.get("memory"):
            result = dataclasses.replace(result, status="memory", stopped=result.stopped or "memory")
        elif result.status == "ok" and not all_ok:
            result = dataclasses.replace(result, status="error" if not tests else "failed")
        complete = expected is None or expected <= set(tests)  # the harness requires them all too
        passed = result.status == "ok" and all_ok and complete and payload.get("passed") is True
        return CodeVerdict(passed, result, tests)

    def verify_files(self, code: str, tests: str, tests_name: str = "test_solution.py") -> CodeVerdict:
        """``code`` as ``solution.py`` beside ``tests`` (as ``tests_name``); run the tests file and its tests."""
        if (tests_name in ("solution.py", "harness.py", "harness.pyc", "job.json") or not tests_name.endswith(".py")
                or tests_name[:-3] in RUNNER_MODULES):
            tests_name = "test_solution.py"  # the work dir's own names are taken; a module the harness uses is not free
        job = {"mode": "files", "tests": tests_name}
        return self._run(job, {"solution.py": code, tests_name: tests}, {})

    def verify_function(self, fn: CodeFunction, code: str | None = None) -> CodeVerdict:
        """Run ``fn``'s tests against its module, with ``code`` substituted for the function when given.

        A function whose repository root or import root holds a module named like one the harness
        imports is not run: the verdict fails with ``stopped == "shadows_stdlib"``."""
        if not fn.tests:
            result = ExecutionResult("error", None, "", "no tests for this function", 0.0, self.sandbox.name, stopped="no_tests")
            return CodeVerdict(False, result, {})
        shadows = shadowing_modules(fn.repo.root, fn.import_root)
        if shadows:
            why = (f"not run: the repository's own {', '.join(shadows)} would shadow the standard library modules of"
                   " those names that the test harness uses")
            result = ExecutionResult("error", None, "", why, 0.0, self.sandbox.name, stopped=SHADOWS_STDLIB)
            return CodeVerdict(False, result, {})
        job = {"mode": "function", "root": "repo", "import_root": fn.import_root, "module": fn.module, "symbol": fn.symbol,
               "docstring": fn.docstring, "path": fn.path,
               "tests": [{"kind": t.kind, "path": t.path, "name": t.name, "args": t.args} for t in fn.tests]}
        mounts = {"repo": fn.repo.root}
        staging = None
        try:
            if code is not None:
                raw = Path(fn.repo.root, fn.path).read_bytes()
                encoding = tokenize.detect_encoding(io.BytesIO(raw).readline)[0]
                staging = tempfile.mkdtemp(prefix="verify-code-")
                os.chmod(staging, 0o700)
                module_file = os.path.join(staging, os.path.basename(fn.path))
                Path(module_file).write_bytes(encode_like(substitute(raw.decode(encoding), fn, code), encoding))
                os.chmod(module_file, 0o644)
                mounts[f"repo/{fn.path}"] = module_file
            return self._run(job, {}, mounts, _labels(fn))
        finally:
            if staging:
                shutil.rmtree(staging, ignore_errors=True)
