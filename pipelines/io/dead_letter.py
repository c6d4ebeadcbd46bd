"""Dead letters: one JSON object per rejected input, with stage, reason, reference, error."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

PREVIEW_CHARS = 500


def preview(value: Any, limit: int = PREVIEW_CHARS) -> str:
    """A bounded, printable view of the rejected input (huge or binary inputs stay readable)."""
    if isinstance(value, bytes):
        text = value[: limit * 4].decode("utf-8", errors="backslashreplace")
    elif isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"... [{len(text) - limit} more chars]"


@dataclass(frozen=True)
class DeadLetter:
    stage: str
    reason: str
    ref: str  # input reference: FILE:LINE, FILE#INDEX, a seed id...
    error: str
    input: str = ""  # bounded preview of the input

    @staticmethod
    def of(stage: str, reason: str, ref: str, error: str, value: Any = None) -> DeadLetter:
        return DeadLetter(stage, reason, ref, error[:2000], preview(value) if value is not None else "")

    @staticmethod
    def of_failure(stage: str, exc: Exception, ref: str, value: Any, other_reason: str) -> DeadLetter:
        """A dead letter for an exception caught around model work: ``backend_error`` when the
        backend failed (its message says why), else ``other_reason`` with the exception's type."""
        from generators.backends.base import BackendError

        if isinstance(exc, BackendError):
            return DeadLetter.of(stage, "backend_error", ref, str(exc), value)
        return DeadLetter.of(stage, other_reason, ref, f"{type(exc).__name__}: {exc}", value)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)
