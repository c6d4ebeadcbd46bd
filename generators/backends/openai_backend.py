"""Generation through any OpenAI-compatible server (``vllm serve``, SGLang, ``transformers serve``).

Every sample of every request in one ``generate`` call is in flight at once, bounded by a
thread pool of ``max_concurrency`` shared by the backend. A request asks for its ``n`` samples
in one call (one prefill of the shared prefix on servers with prefix caching); servers that
ignore ``n`` get the missing samples as separate calls with seeds ``seed + i``, and once one
is seen doing so, later requests go out as ``n`` single-sample calls straight away.

The client's own retries are off: ``tenacity`` retries connection errors, timeouts, 429 and
5xx with exponential backoff and jitter, then the call fails with a one-line BackendError.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

import openai
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential
from tenacity.wait import wait_base

from generators.backends.base import BackendError, Completion, GenerationParams, GenRequest, LLMBackend, apply_stop
from generators.backends.registry import BackendConfig

DEFAULT_BASE_URL = "http://localhost:8000/v1"
MAX_SERVER_STOPS = 4  # OpenAI's limit; the rest are applied locally
# Backoff between attempts; tests (or callers) may swap it for a shorter one.
RETRY_WAIT: wait_base = wait_random_exponential(multiplier=1, max=30)


def _retryable(exc: BaseException) -> bool:
    """Connection errors and timeouts, 429 and 5xx are worth another try; other 4xx are not."""
    if isinstance(exc, openai.APIConnectionError):  # includes APITimeoutError
        return True
    return isinstance(exc, openai.APIStatusError) and (exc.status_code == 429 or exc.status_code >= 500)


def _one_line(text: object, limit: int = 200) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _estimate_tokens(text: str) -> int:
    """About four characters a token, where the server reports no usage."""
    return max(1, round(len(text) / 4)) if text else 0


class OpenAIBackend(LLMBackend):
    name = "openai"

    def __init__(self, config: BackendConfig, retry_wait: wait_base | None = None):
        self.config = config
        self.base_url = (config.base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        api_key = os.environ.get("OPENAI_API_KEY") or "EMPTY"  # read here, on the worker: never pickled
        self._wait = retry_wait if retry_wait is not None else RETRY_WAIT
        self._client = openai.OpenAI(
            base_url=self.base_url, api_key=api_key, timeout=config.request_timeout, max_retries=0
        )
        self._pool = ThreadPoolExecutor(max_workers=max(1, config.max_concurrency), thread_name_prefix="openai")
        self._ignores_n = False  # learned from the first short answer
        self._lock = threading.Lock()
        self._model = config.model or self._first_listed_model()

    @property
    def model_name(self) -> str:
        return self._model

    def _first_listed_model(self) -> str:
        try:
            models = self._client.models.list().data
        except openai.OpenAIError as exc:
            raise BackendError(
                f"cannot get the model name from GET {self.base_url}/models ({_one_line(exc)}); pass --model"
            ) from exc
        if not models:
            raise BackendError(f"GET {self.base_url}/models lists no model; pass --model")
        return models[0].id

    # --- one HTTP call, retried -------------------------------------------------------------

    def _create(self, request: GenRequest, n: int, seed: int) -> list[Completion]:
        """One chat-completion call for ``n`` samples (the server may return fewer)."""
        params = request.params
        kwargs: dict[str, Any] = dict(
            model=self._model,
            messages=request.message_dicts(),
            temperature=params.temperature,
            top_p=params.top_p,
            max_tokens=params.max_new_tokens,
            seed=seed,
        )
        if n > 1:
            kwargs["n"] = n
        if params.stop:
            kwargs["stop"] = list(params.stop[:MAX_SERVER_STOPS])
        if params.logprobs:
            kwargs["logprobs"] = True
        retrying = Retrying(
            retry=retry_if_exception(_retryable),
            wait=self._wait,
            stop=stop_after_attempt(max(0, self.config.max_retries) + 1),
            reraise=True,
        )
        try:
            response = retrying(self._client.chat.completions.create, **kwargs)
        except openai.OpenAIError as exc:
            attempts = retrying.statistics.get("attempt_number", 1)
            raise BackendError(self._describe(exc, attempts)) from exc
        try:
            choices = list(response.choices or [])[:n]
            completions = self._completions(choices, response.usage, params)
        except (AttributeError, TypeError, ValueError) as exc:
            raise BackendError(f"{self.base_url}: malformed chat completion: {_one_line(exc)}") from exc
        if not completions:
            raise BackendError(f"{self.base_url}: the server returned no choices")
        return completions

    def _describe(self, exc: openai.OpenAIError, attempts: int) -> str:
        tries = f"after {attempts} attempt{'s' if attempts != 1 else ''}"
        if isinstance(exc, openai.APITimeoutError):
            return f"{self.base_url}: request timed out ({self.config.request_timeout}s) {tries}"
        if isinstance(exc, openai.APIConnectionError):
            return f"cannot reach the server at {self.base_url} {tries}: {_one_line(exc.__cause__ or exc)}"
        if isinstance(exc, openai.APIStatusError):
            return f"{self.base_url}: HTTP {exc.status_code} {tries}: {_one_line(exc.message)}"
        return f"{self.base_url}: {_one_line(exc)}"

    def _completions(self, choices: list, usage: Any, params: GenerationParams) -> list[Completion]:
        total = getattr(usage, "completion_tokens", None)
        reported = isinstance(total, int) and total > 0 and bool(choices)
        share, extra = divmod(total, len(choices)) if reported else (0, 0)
        out = []
        for i, choice in enumerate(choices):
            raw = (choice.message.content if choice.message else None) or ""
            text, stopped = apply_stop(raw, params.stop)
            tokens = share + int(i < extra) if reported else _estimate_tokens(raw)
            finish = "stop" if stopped else (choice.finish_reason or "stop")
            logprob = self._sum_logprobs(choice, len(text)) if params.logprobs else None
            out.append(Completion(text=text, tokens=tokens, finish_reason=finish, logprob=logprob))
        return out

    @staticmethod
    def _sum_logprobs(choice: Any, keep_chars: int) -> float | None:
        """Sum of the token log-probs that start within the kept text; None if none came back."""
        content = getattr(getattr(choice, "logprobs", None), "content", None)
        if not content:
            return None
        total, offset = 0.0, 0
        for item in content:
            if offset >= keep_chars:
                break
            total += float(item.logprob)
            offset += len(item.token or "")
        return total

    # --- a batch ----------------------------------------------------------------------------

    def generate(self, requests: Sequence[GenRequest]) -> list[list[Completion]]:
        slots: list[list[Completion | None]] = [[None] * r.params.n for r in requests]
        pending: dict[Future, tuple[int, int, int]] = {}  # future -> (request, first slot, samples asked)

        def submit(idx: int, first: int, n: int) -> None:
            seed = requests[idx].params.seed + first  # slot i always samples with seed + i
            pending[self._pool.submit(self._create, requests[idx], n, seed)] = (idx, first, n)

        with self._lock:
            one_per_call = self._ignores_n
        for idx, request in enumerate(requests):
            if one_per_call:
                for slot in range(request.params.n):
                    submit(idx, slot, 1)
            elif request.params.n > 0:
                submit(idx, 0, request.params.n)
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    idx, first, asked = pending.pop(future)
                    completions = future.result()
                    slots[idx][first : first + len(completions)] = completions
                    if len(completions) < asked:  # the server ignored n: one call per missing sample
                        with self._lock:
                            self._ignores_n = True
                        for slot in range(first + len(completions), first + asked):
                            submit(idx, slot, 1)
        except BaseException:
            for future in pending:
                future.cancel()
            raise
        return [[c for c in row if c is not None] for row in slots]

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()
