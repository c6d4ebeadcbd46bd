"""What the CLI does with an error: the user's (typed: one line, exit 2) or the tool's (exit 1).

A typed error means "cannot run like this": a ``ConfigError`` (a bad option, input or output) or
one of ``CANNOT_RUN``. Anything else is a bug or damaged data: one summary line names a log file
(under the cache, ``logs/``; else the temp directory) that keeps the traceback.
"""

from __future__ import annotations

import shlex
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from common.errors import ConfigError

# Errors that mean "can't run here" (no sandbox, no Lean, a bad repository, a local path the
# workers can't see, an unusable --factors file, a backend that failed every input of a stage):
# one line, exit 2, like a ConfigError. Named by
# module so that the CLI imports none of them: a module that is not loaded cannot have raised one.
CANNOT_RUN = (
    ("pipelines.io.placement", "PlacementError"),
    ("pipelines.sources.lean.traced", "LeanUnavailable"),
    ("pipelines.sources.code.repos", "RepoError"),
    ("verifiers.sandbox.base", "SandboxUnavailable"),
    ("schemas.factors", "FactorFileError"),
    ("pipelines.runner", "StageFailed"),  # every input of a stage failed on the backend: server down, model missing
    ("pipelines.runner", "NothingWritten"),  # the run wrote no rows (exit 3: its ``exit_code``)
)


def typed_errors() -> tuple[type[BaseException], ...]:
    """ConfigError and the CANNOT_RUN errors whose modules are loaded."""
    found: list[type[BaseException]] = [ConfigError]
    for module_name, class_name in CANNOT_RUN:
        error = getattr(sys.modules.get(module_name), class_name, None)
        if isinstance(error, type) and issubclass(error, BaseException):
            found.append(error)
    return tuple(found)


def _traceback_text(exc: BaseException) -> str:
    text = "".join(traceback.format_exception(exc))
    hidden = exc.__context__ if exc.__suppress_context__ and exc.__cause__ is None else None
    if hidden is not None:  # raised `from None`: the log keeps what the message replaced
        text += "\nIt was raised in place of (`from None`):\n\n" + "".join(traceback.format_exception(hidden))
    return text


def write_error_log(prog: str, command: str, exc: BaseException, argv: list[str]) -> Path | None:
    """The traceback and the command line in CACHE/logs/COMMAND-TIMESTAMP.log (else in the temp
    directory); None when neither can be written."""
    from common.cache import cache_root

    stamp = time.strftime("%Y%m%dT%H%M%S")
    text = (f"{prog} {command}: internal error at {time.strftime('%Y-%m-%d %H:%M:%S %z')}\n"
            f"command: {shlex.join([prog, *map(str, argv)])}\npython: {sys.version.split()[0]} ({sys.executable})\n\n"
            + _traceback_text(exc))
    folders: list[tuple[Callable[[], Path], str]] = [(lambda: cache_root() / "logs", ""),
                                                     (lambda: Path(tempfile.gettempdir()), f"{prog}-")]
    for folder_of, prefix in folders:
        try:
            folder = folder_of()
            folder.mkdir(parents=True, exist_ok=True)
            for n in range(1, 100):
                path = folder / f"{prefix}{command}-{stamp}{'' if n == 1 else f'-{n}'}.log"
                try:
                    with open(path, "x", encoding="utf-8") as handle:
                        handle.write(text)
                    return path
                except FileExistsError:
                    continue
        except (OSError, RuntimeError):  # RuntimeError: Path.home() without a home
            continue
    return None


def internal_error(prog: str, command: str, exc: BaseException, argv: list[str]) -> int:
    """One summary line on stderr, the traceback in a log file; exit 1."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    summary = f"{prog} {command}: internal error: {type(exc).__name__}" + (f": {message}" if message else "")
    path = write_error_log(prog, command, exc, argv)
    if path is None:  # nowhere to keep it: print it rather than lose it
        sys.stderr.write(_traceback_text(exc))
        print(f"{summary} (no log file could be written; the traceback is above)", file=sys.stderr)
    else:
        print(f"{summary} (traceback in {path}; rerun with --debug to print it)", file=sys.stderr)
    return 1
