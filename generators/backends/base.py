"""The contract every LLM backend follows.

A backend takes a list of requests, each a chat prompt with ``n`` samples wanted, and returns
``n`` completions per request, in order. Backends batch internally; all ``n`` samples of one
request go to the model together (one prefill of the shared prefix).
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


class BackendError(RuntimeError):
    """A backend could not produce completions (server down, bad response, model missing)."""


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

    @property
    @abc.abstractmethod
    def model_name(self) -> str:
        """The model identifier recorded in every row this backend produces."""

    @abc.abstractmethod
    def generate(self, requests: Sequence[GenRequest]) -> list[list[Completion]]:
        """``n`` completions for each request, in request order; raises BackendError."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (threads, connections)."""


def apply_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """Cut ``text`` at the first stop sequence; (text, whether a stop was found)."""
    cut = len(text)
    for s in stop:
        if s:
            i = text.find(s)
            if 0 <= i < cut:
                cut = i
    return text[:cut], cut < len(text)
