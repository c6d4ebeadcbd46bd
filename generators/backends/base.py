"""The contract every LLM backend follows.

A backend takes a list of requests, each a chat prompt with ``n`` samples wanted, and returns
``n`` completions per request, in order. Backends batch internally; all ``n`` samples of one
request go to the model together (one prefill of the shared prefix).

Every prompt is bounded. ``generate`` checks each request against the backend's *prompt budget*
before any generation and raises ``PromptTooLong`` (a ``BackendError``) for one that does not fit;
the stage kernel (``pipelines.stage.kernel``) counts its element filtered ``prompt_too_long``. The budget
of a request is ``--prompt-budget`` where given, else the model's context minus the request's
``max_new_tokens``; with neither known there is none. Backends implement ``_generate`` and say how
they count (``prompt_tokens``: the model's own tokenizer where there is one) and their context
(``context_length``); ``max_token_chars`` (the longest token, in characters) lets a prompt far
over the budget be refused from its length alone, before it is tokenized.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

PROMPT_TOO_LONG = "prompt_too_long"  # the filter reason of an element whose prompt is over the budget
# How servers and engines word a prompt longer than the model's context: vLLM ("This model's maximum
# context length is 8192 tokens", "longer than the maximum model length"), SGLang ("is longer than
# the model's context length"), OpenAI (code context_length_exceeded), llama.cpp ("exceeds the
# available context size"), TGI ("must have less than 8192 tokens", "tokens + `max_new_tokens` must be <= 8192").
_CONTEXT_EXCEEDED = re.compile(
    r"context[ _]length|context[ _]window|context size|maximum model length|max_model_len|maximum context"
    r"|prompt is too long|input is too long|too many (?:input |prompt )?tokens|must have less than \d+ tokens"
    r"|tokens \+ `?max_new_tokens`? must be <=",
    re.IGNORECASE)


class BackendError(RuntimeError):
    """A backend could not produce completions (server down, bad response, model missing)."""


class PromptTooLong(BackendError):
    """A request's prompt does not fit the backend's prompt budget (or the server said its context is
    exceeded): the element is filtered ``prompt_too_long``, never retried nor dead-lettered."""

    reason = PROMPT_TOO_LONG

    def __init__(self, message: str, tokens: int | None = None, budget: int | None = None):
        super().__init__(message)
        self.tokens = tokens
        self.budget = budget


@dataclass(frozen=True)
class GenerationParams:
    """Sampling settings of one request."""

    n: int = 1
    temperature: float = 0.7
    max_new_tokens: int = 256
    stop: tuple[str, ...] = ()
    seed: int = 0
    top_p: float = 1.0
    logprobs: bool = False  # ask for sequence log-probs (MCTS priors); costs memory locally


@dataclass(frozen=True)
class GenRequest:
    """A chat prompt and how to sample from it; ``key`` lets callers match results back."""

    messages: tuple[tuple[str, str], ...]  # (role, content) pairs
    params: GenerationParams = field(default_factory=GenerationParams)
    key: Any = None

    @staticmethod
    def chat(messages: Sequence[dict[str, str]], params: GenerationParams, key: Any = None) -> GenRequest:
        return GenRequest(tuple((m["role"], m["content"]) for m in messages), params, key)

    def message_dicts(self) -> list[dict[str, str]]:
        return [{"role": role, "content": content} for role, content in self.messages]


@dataclass(frozen=True)
class Completion:
    """One sampled continuation; ``tokens`` is the number of generated tokens."""

    text: str
    tokens: int
    finish_reason: str = "stop"
    logprob: float | None = None  # sum of token log-probs, where the backend gives them


class LLMBackend(abc.ABC):
    """Generates completions for batches of chat requests."""

    name: str = "base"
    #: ``--prompt-budget``: the most prompt tokens of any request, whatever its max_new_tokens (None: from the context)
    prompt_budget_override: int | None = None
    #: the longest token in characters (a prompt of C characters has at least C / this many tokens); None: unknown
    max_token_chars: int | None = None
    #: how the worker's generation engine (``generators.engine``) drives this backend by default: calls at
    #: once, sequences per call, elements running at once (``--inflight``/``--max-batch-sequences`` override)
    engine_lanes: int = 1
    engine_batch_sequences: int = 16
    engine_inflight: int = 16

    @property
    @abc.abstractmethod
    def model_name(self) -> str:
        """The model identifier recorded in every row this backend produces."""

    def generate(self, requests: Sequence[GenRequest]) -> list[list[Completion]]:
        """``n`` completions for each request, in request order; raises BackendError, and
        ``PromptTooLong`` before generating anything when a prompt is over its budget."""
        self.check_prompts(requests)
        return self._generate(requests)

    def _generate(self, requests: Sequence[GenRequest]) -> list[list[Completion]]:
        """What a backend implements: the completions of requests whose prompts fit."""
        raise NotImplementedError(f"{type(self).__name__} implements neither _generate nor generate")

    # --- the prompt budget --------------------------------------------------------------------

    @property
    def context_length(self) -> int | None:
        """Tokens the model attends to (prompt and completion together); None where unknown."""
        return None

    def prompt_tokens(self, request: GenRequest) -> int:
        """The request's prompt in tokens as the model sees it (its chat template applied)."""
        raise NotImplementedError

    def prompt_budget(self, params: GenerationParams) -> int | None:
        """The most prompt tokens a request with these settings may have; None: unbounded (unknown)."""
        if self.prompt_budget_override is not None:
            return self.prompt_budget_override
        context = self.context_length
        return None if context is None else max(0, context - params.max_new_tokens)

    def check_prompt(self, request: GenRequest) -> None:
        """Raise ``PromptTooLong`` when the request's prompt is over its budget. A prompt whose length
        alone proves it (more characters than the budget's tokens could hold) is never tokenized."""
        budget = self.prompt_budget(request.params)
        if budget is None:
            return
        chars = sum(len(content) for _, content in request.messages)
        if self.max_token_chars and chars > budget * self.max_token_chars:
            least = -(-chars // self.max_token_chars)
            raise PromptTooLong(f"prompt of {chars} characters: at least {least} tokens, over the budget of "
                                f"{budget} ({self._budget_source(request.params)})", least, budget)
        tokens = self.prompt_tokens(request)
        if tokens > budget:
            raise PromptTooLong(f"prompt of {tokens} tokens, over the budget of {budget} "
                                f"({self._budget_source(request.params)})", tokens, budget)

    def check_prompts(self, requests: Sequence[GenRequest]) -> None:
        for request in requests:
            self.check_prompt(request)

    def _budget_source(self, params: GenerationParams) -> str:
        if self.prompt_budget_override is not None:
            return "--prompt-budget"
        return f"context {self.context_length} - max_new_tokens {params.max_new_tokens}"

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (threads, connections)."""


def context_exceeded(message: str) -> bool:
    """Whether an error message says the prompt (with the tokens asked for) exceeds the model's context."""
    return bool(_CONTEXT_EXCEEDED.search(message))


def apply_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """Cut ``text`` at the first stop sequence; (text, whether a stop was found)."""
    cut = len(text)
    for s in stop:
        if s:
            i = text.find(s)
            if 0 <= i < cut:
                cut = i
    return text[:cut], cut < len(text)
