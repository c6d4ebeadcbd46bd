"""What counts as a server fault worth another try, how long the server asked to wait, and what a
chat completion must look like: the rules of ``OpenAIBackend``'s retries, kept apart from its
request plumbing.
"""

from __future__ import annotations

import email.utils
import threading
from datetime import UTC, datetime
from typing import Any

import openai
from tenacity import RetryCallState
from tenacity.wait import wait_base

from generators.backends.base import BackendError, context_exceeded

RETRY_STATUS = frozenset({408, 429})  # and every 5xx


class MalformedResponse(Exception):
    """A successful status whose body is no chat completion; retried like a 5xx."""


class Cancelled(Exception):
    """Another request of the same ``generate`` call failed, so this one is not worth finishing."""


class Batch:
    """What the requests of one ``generate`` call share: the first failure stops the others."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.error: BackendError | None = None

    def fail(self, error: BackendError) -> None:
        if self.error is None:
            self.error = error
        self.stop.set()


def retryable(exc: BaseException) -> bool:
    """Connection errors, timeouts, 408, 429, 5xx and malformed bodies are worth another try; other 4xx not."""
    if isinstance(exc, (openai.APIConnectionError, MalformedResponse)):  # APITimeoutError is a connection error
        return True
    return isinstance(exc, openai.APIStatusError) and (exc.status_code in RETRY_STATUS or exc.status_code >= 500)


def context_too_long(exc: BaseException) -> bool:
    """Whether the server refused the request for its length: a 413 (the body too large, a proxy's
    limit), or a 400/422 whose code is ``context_length_exceeded`` or whose message says the prompt
    exceeds the context (vLLM, SGLang, llama.cpp, TGI and OpenAI word it differently). Never retried:
    the same prompt never fits."""
    if not isinstance(exc, openai.APIStatusError):
        return False
    if exc.status_code == 413:
        return True
    if exc.status_code not in (400, 422):
        return False
    return getattr(exc, "code", None) == "context_length_exceeded" or context_exceeded(server_message(exc))


def refused(exc: BaseException) -> bool:
    """Whether nothing answered at the address (connection refused, unknown host, connect timeout)."""
    if not isinstance(exc, openai.APIConnectionError):
        return False
    cause: BaseException | None = exc.__cause__
    for _ in range(8):  # httpx's error, httpcore's, the socket's
        if cause is None:
            return False
        if isinstance(cause, ConnectionRefusedError) or type(cause).__name__ in ("ConnectError", "ConnectTimeout"):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def retry_after(exc: BaseException | None, now: datetime | None = None) -> float | None:
    """Seconds the server asked to wait (``Retry-After``: seconds or an HTTP date; ``retry-after-ms``), if any."""
    response = getattr(exc, "response", None) if isinstance(exc, openai.APIStatusError) else None
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    try:
        if headers.get("retry-after-ms"):
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
    except ValueError:
        pass
    value = (headers.get("retry-after") or "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None  # neither form: fall back to the backoff
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class WaitRetryAfter(wait_base):
    """The server's ``Retry-After``, at most ``cap`` seconds, where it sent one; else ``fallback``."""

    def __init__(self, fallback: wait_base, cap: float):
        self.fallback = fallback
        self.cap = cap

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        asked = retry_after(outcome.exception() if outcome is not None else None)
        if asked is not None:
            return min(asked, self.cap)
        return self.fallback(retry_state)


def one_line(text: object, limit: int = 200) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def server_message(exc: openai.APIStatusError) -> str:
    """What the server said (its ``error.message``, ``message`` or ``detail``), else the client's text."""
    body = exc.body
    if isinstance(body, dict):
        for key in ("message", "detail", "error"):
            if isinstance(body.get(key), str) and body[key].strip():
                return body[key]
    if isinstance(body, str) and body.strip():
        return body
    return exc.message


def checked_choices(response: Any, n: int) -> list[Any]:
    """The first ``n`` choices of a chat completion, each with a text (or null) message; else MalformedResponse."""
    choices = getattr(response, "choices", None)
    if not isinstance(choices, list):
        raise MalformedResponse(f"no 'choices' list in the body (got {type(response).__name__} "
                                f"with choices={one_line(repr(choices), 60)})")
    if not choices:
        raise MalformedResponse("the server returned no choices")
    for i, choice in enumerate(choices[:n]):
        message = getattr(choice, "message", None)
        content = getattr(message, "content", None)
        if message is None or not (content is None or isinstance(content, str)):
            raise MalformedResponse(f"choice {i} has no text message (got {one_line(repr(choice), 80)})")
        finish = getattr(choice, "finish_reason", None)
        if not (finish is None or isinstance(finish, str)):
            raise MalformedResponse(f"choice {i} has finish_reason={finish!r}")
    return choices[:n]
