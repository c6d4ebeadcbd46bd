"""Dead letters: one JSON object per rejected input, with stage, reason, reference, error.

A dead letter is made from hostile input (lone surrogates, huge or deeply nested values, objects
whose ``str`` raises), so building and serialising one never raises: whatever it is given, the
writer gets a line of valid UTF-8 JSON.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from typing import Any

PREVIEW_CHARS = 500
_SURROGATE = re.compile("[\ud800-\udfff]")


def _escape_surrogate(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def safe_text(text: str) -> str:
    """``text`` with lone surrogates written as ``\\udXXX`` escapes, so that it encodes to UTF-8."""
    return _SURROGATE.sub(_escape_surrogate, text)


def _as_text(value: Any) -> str:
    """Any value as text, never raising (a ``__str__`` or ``__repr__`` that raises is hostile too)."""
    if isinstance(value, str):
        return value
    try:
        return str(value)
    except Exception:  # noqa: BLE001 - whatever was given, the dead letter is written
        return f"<unprintable {type(value).__name__}>"


def preview(value: Any, limit: int = PREVIEW_CHARS) -> str:
    """A bounded, printable view of the rejected input (huge or binary inputs stay readable)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        text = bytes(value[: limit * 4]).decode("utf-8", errors="backslashreplace")
    elif isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, default=_as_text)
        except Exception:  # noqa: BLE001 - too deep (RecursionError), circular, hostile __str__...
            try:
                text = repr(value)
            except Exception:  # noqa: BLE001
                text = f"<{type(value).__name__}>"
    if len(text) <= limit:
        return safe_text(text)
    return safe_text(text[:limit]) + f"... [{len(text) - limit} more chars]"


@dataclass(frozen=True)
class DeadLetter:
    stage: str
    reason: str
    ref: str  # input reference: FILE:LINE, FILE#INDEX, a seed id...
    error: str
    input: str = ""  # bounded preview of the input

    @staticmethod
    def of(stage: str, reason: str, ref: str, error: str, value: Any = None) -> DeadLetter:
        return DeadLetter(safe_text(_as_text(stage)), safe_text(_as_text(reason)), safe_text(_as_text(ref)[:2000]),
                          safe_text(_as_text(error)[:2000]), preview(value) if value is not None else "")

    @staticmethod
    def of_failure(stage: str, exc: Exception, ref: str, value: Any, other_reason: str) -> DeadLetter:
        """A dead letter for an exception caught around model work: ``backend_error`` when the
        backend failed (its message says why), else ``other_reason`` with the exception's type."""
        from generators.backends.base import BackendError

        if isinstance(exc, BackendError):
            return DeadLetter.of(stage, "backend_error", ref, _as_text(exc), value)
        return DeadLetter.of(stage, other_reason, ref, f"{type(exc).__name__}: {_as_text(exc)}", value)

    def to_json(self) -> str:
        """One line of JSON that always encodes to UTF-8 (fields made by hand are cleaned here too)."""
        fields = {name: safe_text(_as_text(value)) for name, value in asdict(self).items()}
        return json.dumps(fields, ensure_ascii=False)
