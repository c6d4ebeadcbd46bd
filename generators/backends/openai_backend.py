"""Generation through any OpenAI-compatible server (``vllm serve``, SGLang, ``transformers serve``).

Every sample of every request in one ``generate`` call is in flight at once, bounded by a
thread pool of ``max_concurrency`` shared by the backend. A request asks for its ``n`` samples
in one call (one prefill of the shared prefix on servers with prefix caching); servers that
ignore ``n`` get the missing samples as separate calls with seeds ``seed + i``, and once one
is seen doing so, later requests go out as ``n`` single-sample calls straight away.

The client's own retries are off; ``tenacity`` retries, up to ``max_retries`` times:

- connection errors (refused, reset, a body cut short), timeouts, 408, 429 and 5xx;
- a 200 that is no chat completion (broken JSON, wrong shape: no choices, wrong types), which
  proxies and overloaded servers produce and which the next try usually fixes;

waiting the server's ``Retry-After`` (seconds or an HTTP date, at most ``retry_after_max``) where
it sent one, else exponential backoff with jitter. Then the call fails with a one-line
``BackendError`` that carries the server's own message. When one request of a ``generate`` call
fails, its other requests stop (queued ones are dropped, running ones are not retried, a backoff
wait ends): the caller dead-letters the whole batch, so they would be spent for nothing.

A server that refuses connections (nothing listens, unknown host, no answer to a connect within
``CONNECT_TIMEOUT``) is down, not flaky: after one call has spent its retries on that, later calls
try once until the server answers, so a run against a dead URL fails each element in milliseconds
instead of a full backoff each.

Prompt budget. There is no tokenizer on this side of the wire, so the check is honest about what it
knows (``generators.backends.base`` raises ``PromptTooLong`` before anything is sent):

- the budget is ``--prompt-budget`` where given; else the server's context as its ``GET /models``
  reports it (``max_model_len``: vLLM and SGLang; ``context_length`` and kin elsewhere), asked once
  per backend, minus the request's ``max_new_tokens``; else an assumed ``ASSUMED_CONTEXT`` (8192)
  minus ``max_new_tokens``: a server that reports nothing (``transformers serve``) usually checks
  nothing either, and would spend minutes on a prompt far past its model's context;
- a prompt's tokens are estimated from its UTF-8 bytes: one token per ``CONSERVATIVE_BYTES_PER_TOKEN``
  (3: more tokens than common tokenizers make of English or code, so a prompt near the limit is
  filtered rather than sent) where the server said nothing, but one per ``LENIENT_BYTES_PER_TOKEN``
  (6) where it reported its context: such servers (vLLM, SGLang) count exactly and refuse an
  over-long prompt themselves, so the estimate only keeps hopeless multi-megabyte prompts off the
  wire and leaves the borderline ones to the server;
- the server's own refusal for length (a 400/422 saying the context is exceeded, or a 413) is
  ``PromptTooLong`` as well, not retried and not a ``backend_error``.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

import openai
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_when_event_set,
    wait_random_exponential,
)
from tenacity.wait import wait_base

from generators.backends.base import (
    BackendError,
    Completion,
    GenerationParams,
    GenRequest,
    LLMBackend,
    PromptTooLong,
    apply_stop,
)
from generators.backends.openai_faults import (
    Batch,
    Cancelled,
    MalformedResponse,
    WaitRetryAfter,
    checked_choices,
    context_too_long,
    one_line,
    refused,
    retryable,
    server_message,
)
from generators.backends.registry import BackendConfig

DEFAULT_BASE_URL = "http://localhost:8000/v1"
MAX_SERVER_STOPS = 4  # OpenAI's limit; the rest are applied locally
# Defaults of the backoff between attempts and of the longest Retry-After honoured (seconds);
# the constructor takes others (tests pass short ones).
RETRY_WAIT: wait_base = wait_random_exponential(multiplier=1, max=30)
RETRY_AFTER_MAX = 60.0
CONNECT_TIMEOUT = 10.0  # seconds to open a connection (at most request_timeout): a black-holed host fails fast
# The prompt budget where nothing else is known (see the module docstring).
ASSUMED_CONTEXT = 8192  # tokens: the embedded model's context, and the smallest of common chat models
CONSERVATIVE_BYTES_PER_TOKEN = 3  # the server said nothing: over-count (English and code run 3.5 to 4.5)
LENIENT_BYTES_PER_TOKEN = 6  # the server reported its context and checks it: only stop hopeless prompts
MESSAGE_TOKENS = 4  # a chat template's role markers around each message (and the generation prompt)
MODELS_TIMEOUT = 5.0  # seconds for the one GET /models that asks the server's context
# Where servers say their context in GET /models (vLLM and SGLang: max_model_len)
CONTEXT_FIELDS = ("max_model_len", "context_length", "max_context_length", "context_window")


def _estimate_tokens(text: str) -> int:
    """About four characters a token, where the server reports no usage."""
    return max(1, round(len(text) / 4)) if text else 0


class OpenAIBackend(LLMBackend):
    name = "openai"

    def __init__(self, config: BackendConfig, retry_wait: wait_base | None = None,
                 retry_after_max: float | None = None, sleep: Callable[[float], object] | None = None):
        """``retry_wait``/``retry_after_max`` replace the module's defaults; ``sleep`` replaces the
        backoff's wait (which otherwise ends early when the call is cancelled): tests record it."""
        self.config = config
        self.base_url = (config.base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        api_key = os.environ.get("OPENAI_API_KEY") or "EMPTY"  # read here, on the worker: never pickled
        self._wait = retry_wait if retry_wait is not None else RETRY_WAIT
        self._retry_after_max = RETRY_AFTER_MAX if retry_after_max is None else max(0.0, retry_after_max)
        self._sleep = sleep
        timeout = openai.Timeout(config.request_timeout, connect=min(CONNECT_TIMEOUT, config.request_timeout))
        self._client = openai.OpenAI(base_url=self.base_url, api_key=api_key, timeout=timeout, max_retries=0)
        self._pool = ThreadPoolExecutor(max_workers=max(1, config.max_concurrency), thread_name_prefix="openai")
        # the engine: one request per call on each of max_concurrency lanes, so each request is in flight
        # on its own and every program goes on as soon as its own completions are back
        self.engine_lanes, self.engine_batch_sequences, self.engine_inflight = max(1, config.max_concurrency), 1, 256
        self._ignores_n = False  # learned from the first short answer
        self._unreachable = False  # a call gave up on a refused connection; cleared once the server answers
        self._lock = threading.Lock()
        self.prompt_budget_override = config.prompt_budget
        self._server_context: int | None = None  # as GET /models reported it
        self._asked_context = False
        self._model = config.model or self._first_listed_model()

    @property
    def model_name(self) -> str:
        return self._model

    def _first_listed_model(self) -> str:
        try:
            models = self._client.models.list().data
        except openai.OpenAIError as exc:
            why = exc.__cause__ if isinstance(exc, openai.APIConnectionError) and exc.__cause__ else exc
            raise BackendError(
                f"cannot get the model name from GET {self.base_url}/models ({one_line(why)}); pass --model"
            ) from exc
        if not models:
            raise BackendError(f"GET {self.base_url}/models lists no model; pass --model")
        self._asked_context, self._server_context = True, listed_context(models, models[0].id)
        return models[0].id

    # --- the prompt budget (see the module docstring) -----------------------------------------

    @property
    def context_length(self) -> int:
        """The server's reported context, else ``ASSUMED_CONTEXT``."""
        return self.reported_context() or ASSUMED_CONTEXT

    def reported_context(self) -> int | None:
        """The context GET /models reports for this model (asked once; None when it says nothing or fails)."""
        with self._lock:
            if not self._asked_context:
                self._asked_context = True
                try:
                    models = self._client.with_options(timeout=MODELS_TIMEOUT).models.list().data
                except (openai.OpenAIError, ValueError, TypeError):
                    models = []  # the generation call will say what is wrong with the server
                self._server_context = listed_context(models, self._model)
            return self._server_context

    def prompt_tokens(self, request: GenRequest) -> int:
        """An estimate from the prompt's UTF-8 bytes (there is no tokenizer here)."""
        lenient = self.prompt_budget_override is None and self._server_context is not None
        per_token = LENIENT_BYTES_PER_TOKEN if lenient else CONSERVATIVE_BYTES_PER_TOKEN
        size = sum(-(-len(content.encode("utf-8", "replace")) // per_token) for _, content in request.messages)
        return size + MESSAGE_TOKENS * (len(request.messages) + 1)

    def _budget_source(self, params: GenerationParams) -> str:
        if self.prompt_budget_override is None and self._server_context is None:
            return (f"the server reports no context: {ASSUMED_CONTEXT} assumed - max_new_tokens {params.max_new_tokens};"
                    " --prompt-budget sets it")
        return super()._budget_source(params)

    # --- one HTTP call, retried -------------------------------------------------------------

    def _create(self, request: GenRequest, n: int, seed: int, batch: Batch | None = None) -> list[Completion]:
        """One chat-completion call for ``n`` samples (the server may return fewer), retried; a failure
        stops the rest of ``batch``."""
        batch = batch if batch is not None else Batch()
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
        attempts = max(0, self.config.max_retries) + 1
        retrying = Retrying(
            retry=retry_if_exception(retryable),
            wait=WaitRetryAfter(self._wait, self._retry_after_max),
            stop=stop_after_attempt(attempts) | stop_when_event_set(batch.stop) | self._still_down,
            sleep=self._sleep if self._sleep is not None else batch.stop.wait,  # a failed batch ends the wait
            reraise=True,
        )
        try:
            return retrying(self._attempt, kwargs, n, params, batch.stop)
        except (openai.OpenAIError, MalformedResponse) as exc:
            made = retrying.statistics.get("attempt_number", 1)
            short = refused(exc) and made < attempts and not batch.stop.is_set()
            if refused(exc):
                self._unreachable = True
            kind = PromptTooLong if context_too_long(exc) else BackendError  # the server's own count: filtered
            error = kind(self._describe(exc, made, short))
            batch.fail(error)
            raise error from exc

    def _still_down(self, retry_state: RetryCallState) -> bool:
        """Stop at a refused connection while the server is known down (an earlier call spent its retries)."""
        outcome = retry_state.outcome
        return self._unreachable and outcome is not None and refused(outcome.exception())

    def _attempt(self, kwargs: dict[str, Any], n: int, params: GenerationParams,
                 cancel: threading.Event) -> list[Completion]:
        """One try: the HTTP call and a check of what came back (a bad body raises MalformedResponse)."""
        if cancel.is_set():
            raise Cancelled("another request of this batch failed")
        try:
            response = self._client.chat.completions.create(**kwargs)
        except openai.APIStatusError:
            self._unreachable = False  # it answered
            raise
        except json.JSONDecodeError as exc:  # the client parses the body itself and lets this through
            self._unreachable = False
            raise MalformedResponse(f"the body is not JSON ({exc})") from exc
        self._unreachable = False
        choices = checked_choices(response, n)
        try:
            return self._completions(choices, getattr(response, "usage", None), params)
        except (AttributeError, TypeError, ValueError) as exc:
            raise MalformedResponse(f"{type(exc).__name__}: {exc}") from exc

    def _describe(self, exc: BaseException, attempts: int, down: bool = False) -> str:
        tries = f"after {attempts} attempt{'s' if attempts != 1 else ''}"
        if down:
            tries += " (unreachable on earlier requests too)"
        if isinstance(exc, openai.APITimeoutError) and not refused(exc):
            return f"{self.base_url}: request timed out ({self.config.request_timeout}s) {tries}"
        if isinstance(exc, openai.APIConnectionError):
            return f"cannot reach the server at {self.base_url} {tries}: {one_line(exc.__cause__ or exc)}"
        if isinstance(exc, openai.APIStatusError):
            return f"{self.base_url}: HTTP {exc.status_code} {tries}: {one_line(server_message(exc))}"
        if isinstance(exc, MalformedResponse):
            return f"{self.base_url}: malformed chat completion {tries}: {one_line(exc)}"
        return f"{self.base_url}: {one_line(exc)}"

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

    def _generate(self, requests: Sequence[GenRequest]) -> list[list[Completion]]:
        slots: list[list[Completion | None]] = [[None] * r.params.n for r in requests]
        pending: dict[Future, tuple[int, int, int]] = {}  # future -> (request, first slot, samples asked)
        batch = Batch()  # its first failure stops the other requests

        def submit(idx: int, first: int, n: int) -> None:
            seed = requests[idx].params.seed + first  # slot i always samples with seed + i
            pending[self._pool.submit(self._create, requests[idx], n, seed, batch)] = (idx, first, n)

        with self._lock:
            one_per_call = self._ignores_n
        try:
            for idx, request in enumerate(requests):
                if one_per_call:
                    for slot in range(request.params.n):
                        submit(idx, slot, 1)
                elif request.params.n > 0:
                    submit(idx, 0, request.params.n)
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    idx, first, asked = pending.pop(future)
                    try:
                        completions = future.result()
                    except Cancelled:  # stopped by another request's failure: report that one
                        raise (batch.error or BackendError(f"{self.base_url}: batch cancelled")) from None
                    slots[idx][first : first + len(completions)] = completions
                    if len(completions) < asked:  # the server ignored n: one call per missing sample
                        with self._lock:
                            self._ignores_n = True
                        for slot in range(first + len(completions), first + asked):
                            submit(idx, slot, 1)
        except BaseException:
            batch.stop.set()
            for future in pending:
                future.cancel()
            raise
        return [[c for c in row if c is not None] for row in slots]

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()


def listed_context(models: Sequence[Any], model: str) -> int | None:
    """The context a ``GET /models`` listing gives for ``model`` (or for its only entry): the first of
    ``CONTEXT_FIELDS`` that is a positive integer; None when it says nothing."""
    entries = [m for m in models if getattr(m, "id", None) == model] or (list(models) if len(models) == 1 else [])
    for entry in entries:
        fields = entry.model_dump() if hasattr(entry, "model_dump") else dict(entry) if isinstance(entry, dict) else {}
        for name in CONTEXT_FIELDS:
            value = fields.get(name)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value
    return None
