"""A process reward model behind a vLLM server, asked through vLLM's Pooling API (``POST /pooling``).

The wire format is that of the vLLM 0.11 to 0.18 docs (and main's, "Reward Models" and "Pooling API"):
a PRM is served with ``vllm serve MODEL --runner pooling`` (``--task reward`` before 0.11), asked with
``"task": "token_classify"`` and answers, per input, one entry per step tag token (the STEP pooler):

- ``vllm serve Qwen/Qwen2.5-Math-PRM-7B --runner pooling``: ``Qwen2ForProcessRewardModel`` pools at its
  step tag ``<extra_0>`` and answers softmax([wrong, right]) there (``format=chat``, the default);
- ``vllm serve peiyi9979/math-shepherd-mistral-7b-prm --runner pooling --pooler-config '{"pooling_type":
  "STEP", "step_tag_id": 12902, "returned_token_ids": [648, 387]}'``: softmax([+, -]) at each ``ки``
  (``format=shepherd``).

Tested against a stand-in server answering in that format, not against vLLM itself.

SPEC: ``http://HOST:PORT[/v1][?OPTIONS][#MODEL]`` (or https); MODEL: else the first of ``GET /v1/models``.
OPTIONS (a query string, e.g. ``?format=shepherd``):

- ``format=chat`` (default): one request per score request, ``{"model", "task", "messages": [system,
  {"user": PROBLEM}, {"assistant": STEP1 SEP STEP2 SEP ...}]}``, the server applying the model's chat template
  (Qwen2.5-Math-PRM's documented use); ``format=shepherd``: one request for the whole batch, ``{"model",
  "task", "input": [TEXT, ...]}``, each TEXT the Math-Shepherd text of ``export math-shepherd`` /
  ``export openrlhf`` (``generators.reward.generative.shepherd_text``; its tag is ``ки``);
- ``sep=TOKEN``: the step tag written after each step in ``chat`` (default ``<extra_0>``); removed from the
  problem and the steps' text first, so that the server finds exactly one tag per step;
- ``label=I``: the column of each step's answer that is P(correct) (default 1 for ``chat``: [wrong, right];
  0 for ``shepherd``: [+, -]); a step answered with a bare number is taken as P(correct) itself;
- ``system=TEXT``: the system message of ``chat`` (default Qwen2.5-Math-PRM's; ``system=`` for none);
- ``task=NAME``: the pooling task sent (default ``token_classify``; ``task=`` sends none: vLLM 0.10 and older).

Faults: connection errors, timeouts, 408, 429 and 5xx are retried (``tenacity``: exponential backoff with
jitter, or the server's ``Retry-After``, up to ``MAX_RETRIES`` more tries); a server that refused every try
is then tried once per call until it answers. A 413, or a 400/422 saying the context is exceeded, is
``PromptTooLong``; any other 4xx, a body that is not JSON, the wrong shape (not one score per step) or a
score outside [0, 1] is a ``RewardError`` of one line.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential
from tenacity.wait import wait_base

from generators.backends.base import PromptTooLong, context_exceeded
from generators.backends.openai_faults import RETRY_STATUS, one_line
from generators.reward.base import RewardError, RewardModel, ScoreRequest, StepScores, checked
from generators.reward.generative import shepherd_text
from generators.reward.http_url import server_spec
from generators.reward.spec import RewardSpec

MAX_RETRIES = 3
RETRY_WAIT: wait_base = wait_random_exponential(multiplier=1, max=30)
RETRY_AFTER_MAX = 60.0  # seconds: the longest Retry-After honoured
REQUEST_TIMEOUT = 300.0  # seconds for one pooling call (a batch of long texts on a busy server)
CONNECT_TIMEOUT = 10.0
MAX_CONCURRENCY = 16  # chat requests in flight at once (one per score request)
SHEPHERD_BATCH = 64  # texts per pooling call


class ServerFault(Exception):
    """A retryable answer (408, 429, 5xx), with what the server said and asked to wait."""

    def __init__(self, status: int, message: str, retry_after: float | None):
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.retry_after = retry_after


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, (ServerFault, httpx.TransportError))


def _refused(exc: BaseException | None) -> bool:
    return isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))


class _WaitRetryAfter(wait_base):
    def __init__(self, fallback: wait_base):
        self.fallback = fallback

    def __call__(self, retry_state: RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome is not None else None
        if isinstance(exc, ServerFault) and exc.retry_after is not None:
            return min(exc.retry_after, RETRY_AFTER_MAX)
        return self.fallback(retry_state)


class HTTPReward(RewardModel):
    kind = "http"

    def __init__(self, spec: RewardSpec, retry_wait: wait_base | None = None,
                 sleep: Callable[[float], None] | None = None, max_retries: int = MAX_RETRIES):
        """``retry_wait``/``sleep``/``max_retries`` replace the module's backoff (tests pass short ones)."""
        super().__init__(spec.name)
        try:
            server = server_spec(spec.location)
        except ValueError as exc:
            raise RewardError(str(exc)) from None
        self.root, self.format, self.sep, self.system = server.root, server.format, server.sep, server.system
        self.task, self.label = server.task, server.label
        self._wait = _WaitRetryAfter(retry_wait if retry_wait is not None else RETRY_WAIT)
        self._sleep = sleep or time.sleep
        self._attempts = max(0, max_retries) + 1
        self._down = False  # every try of a call was refused; cleared once the server answers
        api_key = os.environ.get("OPENAI_API_KEY")  # read here, on the worker: never in the pipeline graph (vllm --api-key)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(timeout=httpx.Timeout(REQUEST_TIMEOUT, connect=CONNECT_TIMEOUT), headers=headers)
        self._pool = ThreadPoolExecutor(max_workers=MAX_CONCURRENCY, thread_name_prefix="reward-http")
        try:
            self.model = server.model or self._first_listed_model()
        except RewardError:
            self.close()
            raise

    # --- requests and answers -------------------------------------------------------------------

    def body(self, requests: Sequence[ScoreRequest]) -> dict[str, Any]:
        """The JSON of one pooling call: one chat request, or a batch of Math-Shepherd texts."""
        out: dict[str, Any] = {"model": self.model}
        if self.task:
            out["task"] = self.task
        if self.format == "shepherd":
            out["input"] = [shepherd_text(r.problem, [s.text for s in r.steps]) for r in requests]
            return out
        (request,) = requests
        clean = self._without_sep
        messages = [{"role": "system", "content": self.system}] if self.system else []
        messages += [{"role": "user", "content": clean(request.problem)},
                     {"role": "assistant", "content": "".join(clean(s.text) + self.sep for s in request.steps)}]
        out["messages"] = messages
        return out

    def _without_sep(self, text: str) -> str:
        return text.replace(self.sep, "")

    def score(self, requests: Sequence[ScoreRequest]) -> list[StepScores]:
        wanted = [i for i, r in enumerate(requests) if r.steps]
        values: list[list[float]] = [[] for _ in requests]
        if self.format == "shepherd":
            calls = [wanted[at : at + SHEPHERD_BATCH] for at in range(0, len(wanted), SHEPHERD_BATCH)]
        else:
            calls = [[i] for i in wanted]
        futures = [self._pool.submit(self._call, [requests[i] for i in call]) for call in calls]
        try:
            for call, future in zip(calls, futures, strict=True):
                for i, scores in zip(call, future.result(), strict=True):
                    values[i] = scores
        finally:
            for future in futures:
                future.cancel()
        return checked(values, requests, self.name)

    def _call(self, requests: Sequence[ScoreRequest]) -> list[list[float]]:
        """One pooling call, retried; the step scores of each request."""
        body = self.body(requests)
        retrying = Retrying(retry=retry_if_exception(_retryable), wait=self._wait, sleep=self._sleep, reraise=True,
                            stop=stop_after_attempt(self._attempts) | self._still_down)
        try:
            answer = retrying(self._post, body)
        except (ServerFault, httpx.TransportError) as exc:
            made = retrying.statistics.get("attempt_number", 1)
            if _refused(exc):
                self._down = True
            tries = f"after {made} attempt{'s' if made != 1 else ''}"
            if isinstance(exc, ServerFault):
                raise RewardError(f"{self.root}/pooling: {exc} ({tries})") from exc
            raise RewardError(f"cannot reach the reward server at {self.root} {tries}: "
                              f"{type(exc).__name__}: {one_line(exc)}") from exc
        return self._step_values(answer, requests)

    def _still_down(self, retry_state: RetryCallState) -> bool:
        outcome = retry_state.outcome
        return self._down and outcome is not None and _refused(outcome.exception())

    def _post(self, body: dict[str, Any]) -> Any:
        response = self._client.post(f"{self.root}/pooling", json=body)
        self._down = False  # it answered
        if response.status_code in RETRY_STATUS or response.status_code >= 500:
            raise ServerFault(response.status_code, _message(response), _retry_after(response))
        if response.status_code >= 400:
            message = _message(response)
            if response.status_code == 413 or (response.status_code in (400, 422) and context_exceeded(message)):
                raise PromptTooLong(f"{self.root}/pooling: HTTP {response.status_code}: {message}")
            raise RewardError(f"{self.root}/pooling: HTTP {response.status_code}: {message}")
        try:
            return response.json()
        except ValueError:
            raise RewardError(f"{self.root}/pooling: the body is not JSON: {one_line(response.text, 120)!r}") from None

    def _step_values(self, answer: Any, requests: Sequence[ScoreRequest]) -> list[list[float]]:
        """One P(correct) per step of each request, from a pooling response; RewardError for any other shape."""
        where = f"{self.root}/pooling"
        items = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise RewardError(f"{where}: no 'data' list of objects in the answer: {one_line(repr(answer), 120)}")
        if len(items) != len(requests):
            raise RewardError(f"{where}: {len(items)} results for {len(requests)} inputs")
        if all(isinstance(item.get("index"), int) for item in items):
            items = sorted(items, key=lambda item: item["index"])
        out = []
        for item, request in zip(items, requests, strict=True):
            steps = item.get("data")
            if not isinstance(steps, list) or len(steps) != len(request.steps):
                size = len(steps) if isinstance(steps, list) else type(steps).__name__
                raise RewardError(f"{where}: {size} step results for {len(request.steps)} steps (is the model's step "
                                  f"tag {self.sep or 'ки'!r}, and the server's pooling STEP?)")
            out.append([self._probability(entry, where) for entry in steps])
        return out

    def _probability(self, entry: Any, where: str) -> Any:
        if isinstance(entry, list):
            if len(entry) <= self.label:
                raise RewardError(f"{where}: a step result has {len(entry)} values; label={self.label} wants more")
            entry = entry[self.label]
        if isinstance(entry, bool) or not isinstance(entry, int | float):
            raise RewardError(f"{where}: a step result is not a number: {one_line(repr(entry), 80)}")
        return entry  # ``checked`` refuses one outside [0, 1]

    def _first_listed_model(self) -> str:
        url = f"{self.root}/v1/models"
        try:
            response = self._client.get(url, timeout=CONNECT_TIMEOUT)
            response.raise_for_status()
            return str(response.json()["data"][0]["id"])
        except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as exc:
            raise RewardError(f"cannot get the model name from GET {url} ({type(exc).__name__}: {one_line(exc, 120)}); "
                              "name it in the URL: http://HOST:PORT#MODEL") from exc

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()


def _message(response: httpx.Response) -> str:
    """What the server said: vLLM's ``error.message`` (or ``message``), FastAPI's ``detail``, else the body."""
    try:
        body = response.json()
    except ValueError:
        return one_line(response.text or response.reason_phrase)
    if isinstance(body, dict):
        error = body.get("error")
        for value in (error.get("message") if isinstance(error, dict) else error, body.get("message"), body.get("detail")):
            if isinstance(value, str) and value.strip():
                return one_line(value)
            if value:
                return one_line(json.dumps(value))
    return one_line(json.dumps(body))


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers.get("retry-after", "")))
    except ValueError:
        return None
