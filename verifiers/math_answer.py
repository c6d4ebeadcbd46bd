"""Math answers: pull the final answer out of free text and check it against the gold answer.

Checking uses Hugging Face ``math-verify`` (``parse`` both sides, then ``verify(gold, answer)``;
the order matters, ``verify`` is asymmetric). Its time limits use ``signal.alarm``, which only
works in the main thread, and Beam calls DoFns from worker threads. So ``MathVerifier`` runs
math-verify in one long-lived child interpreter, where it *is* the main thread and keeps its own
limits, and adds a wall-clock bound on top: a child stuck in C code (a huge power in GMP) does not
see the alarm, so past the bound the child is killed and a fresh one started on the next call.

Plain numbers on both sides (most GSM8K checks) are compared in-process and never reach the child.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import subprocess
import sys
import threading
import weakref
from dataclasses import dataclass
from decimal import Decimal
from itertools import product
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Literal

Status = Literal["ok", "no_answer", "unparsable", "timeout", "error"]

#: Only the tail of a text is searched: final answers come last, and regexes stay linear and cheap.
TAIL_CHARS = 4000


@dataclass(frozen=True)
class VerifyResult:
    """One verdict. ``correct`` is False for every status but ``"ok"``-and-equal."""

    correct: bool
    status: Status
    detail: str = ""


# --------------------------------------------------------------------------- extraction

_BOXED_RE = re.compile(r"\\(?:boxed|fbox)\s*\{")
_HASHES_RE = re.compile(r"^[ \t]*####[ \t]*(.*?)[ \t]*$", re.MULTILINE)
_PHRASE_RE = re.compile(r"\b(?:final\s+)?answer\s*(?:is\s*:?|:|=)", re.IGNORECASE)
_THOUSANDS_RE = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_DECIMAL_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_LAST_NUMBER_RE = re.compile(r"(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")
_INLINE_MATH_RE = re.compile(r"\$([^$]+)\$|\\\((.+?)\\\)")
_MATHLIKE_RE = re.compile(r"[\d\\π√∞]")
_OPENERS, _CLOSERS = "{([", "})]"


def _clean(s: str) -> str:
    """Normalise a candidate answer: markdown bold, ``$...$``, a leading ``$``, trailing ``.``, 1,000."""
    s = s.strip().strip("*").strip()
    inline = re.fullmatch(r"\$\$?([^$]+)\$\$?|\\\((.+)\\\)|\\\[(.+)\\\]", s, re.DOTALL)
    if inline:
        s = next(g for g in inline.groups() if g is not None).strip()
    s = s.removeprefix("\\$").removeprefix("$").strip()
    s = s.rstrip(".").rstrip()
    s = s.replace("{,}", ",")
    if _THOUSANDS_RE.fullmatch(s):
        s = s.replace(",", "")
    return s


def _braced(text: str, start: int) -> str | None:
    """The content of the ``{...}`` opening at ``text[start]``, balanced; None if never closed."""
    depth, i = 0, start
    while i < len(text):
        ch = text[i]
        if ch == "\\":  # \{ and \} are literal braces, not grouping
            i += 2
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1 : i]
        i += 1
    return None


def _last_boxed(text: str) -> str | None:
    for match in reversed(list(_BOXED_RE.finditer(text))):
        content = _braced(text, match.end() - 1)
        if content is not None and (cleaned := _clean(content)):
            return cleaned
    return None


def _leading_expression(rest: str) -> str | None:
    """The number or expression right after "answer is": one token (brackets may hold spaces).

    Deliberately conservative: "18 dollars" gives "18", "x = 5" gives "5", "yes" gives nothing.
    """
    rest = rest.lstrip(" \t\r\n*:")
    line = rest.split("\n", 1)[0]
    math = _INLINE_MATH_RE.match(line)
    if math and not line[1:2].isdigit():  # "$\frac{1}{2}$", but "$18" is money
        token = _clean(math.group(1) or math.group(2))
        return token if _MATHLIKE_RE.search(token) else None
    for _ in range(2):  # a second round only after "x =": take the right-hand side
        depth, end = 0, 0
        while end < len(line) and (depth > 0 or not line[end].isspace()):
            depth += (line[end] in _OPENERS) - (line[end] in _CLOSERS)
            end += 1
        token, line = line[:end], line[end:].lstrip()
        if _MATHLIKE_RE.search(token) or not line.startswith("="):
            break
        line = line[1:].lstrip()
    token = _clean(token.rstrip(".,;:!?*"))
    return token if _MATHLIKE_RE.search(token) else None


def extract_answer(text: str, fallback_last_number: bool = False) -> str | None:
    """The final answer stated in ``text``, or None when it states none.

    Looks only at the last ``TAIL_CHARS`` characters. In order: the last ``\\boxed{...}`` (nested
    braces fine), the last ``#### N`` line, the last "answer is X" / "Answer: X" / "final answer:
    X". No "last number" guess unless ``fallback_last_number``: a rollout that never commits to
    an answer must count as having none, or the labels would reward rambling.
    """
    text = text[-TAIL_CHARS:]
    if boxed := _last_boxed(text):
        return boxed
    for match in reversed(list(_HASHES_RE.finditer(text))):
        if cleaned := _clean(match.group(1)):
            return cleaned
    for match in reversed(list(_PHRASE_RE.finditer(text))):
        if expression := _leading_expression(text[match.end() :]):
            return expression
    if fallback_last_number and (numbers := _LAST_NUMBER_RE.findall(text)):
        return _clean(numbers[-1])
    return None


# --------------------------------------------------------------------------- numeric fast path


def _to_decimal(s: str) -> Decimal | None:
    return Decimal(s) if _DECIMAL_RE.fullmatch(s) else None


def _numeric_verdict(gold: str, answer: str, rel_tol: float) -> bool | None:
    """Equal/unequal for two plain decimal numbers, None when math-verify must decide.

    Unequal non-integers are left to math-verify, whose float rounding rules we don't copy, so a
    verdict never depends on whether the fast path ran (unless ``rel_tol`` > 0 is asked for).
    """
    g, a = _to_decimal(gold), _to_decimal(answer)
    if g is None or a is None:
        return None
    if g == a or abs(g - a) <= Decimal(rel_tol) * max(abs(g), abs(a)):
        return True
    if g == g.to_integral_value() and a == a.to_integral_value():
        return False
    return None


# --------------------------------------------------------------------------- the child process

_PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)
_CHILD_CODE = "from verifiers.math_answer import _worker_main; _worker_main()"
_LATEX_ENVS = ("$", "\\(", "\\[", "\\boxed")


def _as_latex(s: str) -> str:
    """math-verify only reads LaTeX inside a math environment ("2\\sqrt{3}" bare parses as 2)."""
    return s if any(env in s for env in _LATEX_ENVS) else "\\boxed{" + s + "}"


def _math_verify_check(gold: str, answer: str, inner_timeout_s: int) -> tuple[bool, Status, str]:
    """Runs in the child's main thread, so math-verify's own alarms work.

    Compares pair by pair (what ``verify`` does inside) to tell a timed-out comparison from a
    false one. Never formats sympy objects or exception messages: math-verify warns that str()
    of a pathological expression can hang.
    """
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify
    from math_verify.errors import TimeoutException

    config = [LatexExtractionConfig(), ExprExtractionConfig()]
    parsed: list[list[Any]] = []
    for side, text, bad in (("gold", gold, "error"), ("answer", answer, "unparsable")):
        try:
            items = parse(_as_latex(text), extraction_config=config, parsing_timeout=inner_timeout_s,
                          raise_on_error=True)
        except TimeoutException:
            return False, "timeout", f"parsing the {side} timed out"
        except Exception as e:
            return False, bad, f"{side} unparsable ({type(e).__name__})"
        if not items:
            return False, bad, f"{side} unparsable"
        parsed.append(items)

    timed_out = False
    for g, a in product(*parsed):
        try:
            if verify(g, a, timeout_seconds=inner_timeout_s, raise_on_error=True):
                return True, "ok", "math-verify: equal"
        except TimeoutException:
            timed_out = True
        except Exception:
            pass  # math-verify's own default: a comparison that fails is not a match
    if timed_out:
        return False, "timeout", "a math-verify comparison timed out"
    return False, "ok", "math-verify: not equal"


def _worker_main() -> None:
    """Child entry point: ``argv = [-c, fd, inner_timeout_s, memory_limit_mb]``; serves until EOF."""
    import resource
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    conn = Connection(int(sys.argv[1]))
    inner_timeout_s, memory_mb = int(sys.argv[2]), int(sys.argv[3])
    if memory_mb > 0:  # "9^{9^{9^{9}}}" must fail with MemoryError here, not OOM the worker machine
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = memory_mb * 2**20 if hard == resource.RLIM_INFINITY else min(memory_mb * 2**20, hard)
        try:
            resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
        except (OSError, ValueError):
            pass
    _math_verify_check("1", "1", inner_timeout_s)  # import and warm up before saying ready
    conn.send("ready")
    while True:
        try:
            request = conn.recv()
        except EOFError:  # the parent closed the pipe or died
            return
        try:
            reply: tuple[bool, str, str] = _math_verify_check(*request, inner_timeout_s)
        except BaseException as e:  # noqa: B036 - one bad input must not take the server down
            reply = (False, "error", f"worker: {type(e).__name__}")
        conn.send(reply)


def _kill(proc: subprocess.Popen[bytes], conn: Connection) -> None:
    proc.kill()
    proc.wait()
    conn.close()


class _WorkerTimeout(Exception):
    pass


class _Worker:
    """A child interpreter (``python -c``) reached over a socket pair.

    A plain subprocess rather than multiprocessing's spawn/forkserver: those re-import the parent's
    ``__main__`` (a pipeline script pulling in Beam and torch) in the child, and refuse to start at
    all from a daemonic process.
    """

    def __init__(self, inner_timeout_s: int, memory_limit_mb: int, startup_timeout_s: float) -> None:
        conn, child_end = multiprocessing.Pipe()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
        args = [str(child_end.fileno()), str(inner_timeout_s), str(memory_limit_mb)]
        try:
            self.proc = subprocess.Popen([sys.executable, "-c", _CHILD_CODE, *args], env=env,
                                         pass_fds=(child_end.fileno(),), stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL)
        except BaseException:
            conn.close()
            raise
        finally:
            child_end.close()
        self.conn = conn
        self.stop = weakref.finalize(self, _kill, self.proc, conn)  # also runs on GC and at exit
        try:
            ready = conn.poll(startup_timeout_s) and conn.recv() == "ready"
        except (EOFError, OSError):  # the child died while starting; its stderr says why
            ready = False
        if not ready:
            self.stop()
            raise RuntimeError(f"math-verify worker not ready within {startup_timeout_s}s")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def call(self, gold: str, answer: str, timeout_s: float) -> tuple[bool, Status, str]:
        self.conn.send((gold, answer))
        if not self.conn.poll(timeout_s):
            raise _WorkerTimeout
        return self.conn.recv()


# --------------------------------------------------------------------------- the verifier


class MathVerifier:
    """Checks answers against gold answers with math-verify; safe from any thread, picklable.

    One child process per instance, started on first need and shared by all threads (a lock
    serialises calls to it). Pickling carries only the settings, so a Beam DoFn holding one gets
    its own child on each worker. Call ``close()`` (or use ``with``) to stop the child early.
    """

    def __init__(self, *, timeout_s: float = 30.0, inner_timeout_s: int = 5, max_answer_chars: int = 1000,
                 rel_tol: float = 0.0, memory_limit_mb: int = 2048, startup_timeout_s: float = 60.0) -> None:
        """
        Args:
            timeout_s: wall-clock bound on one check in the child; past it the child is killed.
            inner_timeout_s: math-verify's own per-parse and per-comparison limit (whole seconds,
                it is a ``signal.alarm``), enforced inside the child.
            max_answer_chars: longer answers are "unparsable" without parsing (and longer golds an
                "error"): LaTeX parsing cost grows fast with length.
            rel_tol: the numeric fast path also accepts decimals this close; 0 keeps every verdict
                identical to math-verify's.
            memory_limit_mb: address-space limit of the child (0: none).
            startup_timeout_s: how long a fresh child may take to import math-verify.
        """
        self.timeout_s = timeout_s
        self.inner_timeout_s = max(1, int(inner_timeout_s))
        self.max_answer_chars = max_answer_chars
        self.rel_tol = rel_tol
        self.memory_limit_mb = memory_limit_mb
        self.startup_timeout_s = startup_timeout_s
        self._lock = threading.Lock()
        self._worker: _Worker | None = None

    def verify(self, gold: str, answer: str | None) -> VerifyResult:
        """Is ``answer`` (an extracted final answer, or None) equal to ``gold``? Never raises."""
        if answer is None or not answer.strip():
            return VerifyResult(False, "no_answer", "no final answer")
        if len(answer) > self.max_answer_chars:
            return VerifyResult(False, "unparsable", f"answer longer than {self.max_answer_chars} characters")
        if len(gold) > self.max_answer_chars:
            return VerifyResult(False, "error", f"gold longer than {self.max_answer_chars} characters")
        gold, answer = _clean(gold), _clean(answer)
        if not gold:
            return VerifyResult(False, "error", "empty gold answer")
        if not answer:
            return VerifyResult(False, "unparsable", "answer empty after normalisation")
        verdict = _numeric_verdict(gold, answer, self.rel_tol)
        if verdict is not None:
            return VerifyResult(verdict, "ok", "numeric comparison")
        return self._in_child(gold, answer)

    def extract_answer(self, text: str) -> str | None:
        """The final answer ``text`` states (``extract_answer``, no last-number guess), or None."""
        return extract_answer(text)

    def verify_text(self, gold: str, text: str, *, fallback_last_number: bool = False) -> VerifyResult:
        """``extract_answer`` then ``verify``; "no_answer" when the text states no final answer."""
        return self.verify(gold, extract_answer(text, fallback_last_number=fallback_last_number))

    def _in_child(self, gold: str, answer: str) -> VerifyResult:
        with self._lock:
            try:
                if self._worker is None or not self._worker.alive():
                    self._discard()
                    self._worker = _Worker(self.inner_timeout_s, self.memory_limit_mb, self.startup_timeout_s)
                correct, status, detail = self._worker.call(gold, answer, self.timeout_s)
            except _WorkerTimeout:
                self._discard()
                return VerifyResult(False, "timeout", f"no verdict within {self.timeout_s}s; worker restarted")
            except Exception as e:
                self._discard()
                return VerifyResult(False, "error", f"math-verify worker failed: {type(e).__name__}: {e}")
        return VerifyResult(correct, status, detail)

    def _discard(self) -> None:
        if self._worker is not None:
            self._worker.stop()
            self._worker = None

    def close(self) -> None:
        """Stop the child now. Idempotent; a later ``verify`` starts a fresh one."""
        with self._lock:
            self._discard()

    def __enter__(self) -> MathVerifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    _SETTINGS = ("timeout_s", "inner_timeout_s", "max_answer_chars", "rel_tol", "memory_limit_mb",
                 "startup_timeout_s")

    def __getstate__(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._SETTINGS}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)  # type: ignore[misc]
