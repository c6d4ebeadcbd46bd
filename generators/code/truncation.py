"""Generations cut at the token cap, and what a CoT writer does with them.

A backend reports ``finish_reason == "length"`` for a completion that stopped at its
``max_new_tokens`` (``transformers``, vLLM and OpenAI-compatible servers alike): the text ends
mid-sentence, often mid-word. Such a CoT is never written as if complete. Every CoT writer (code
reverse CoT and its round trip, Lean thoughts and proof CoT) asks once more with
``retry_tokens`` where given (and larger than the first cap); what is still cut is then kept and
marked (``keep``: the row's ``truncated`` is true) or not kept, and an element left with nothing
because of it is filtered ``truncated_cot``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from generators.backends.base import Completion, GenerationParams

TRUNCATED = "truncated_cot"  # the filter reason (and rejection count) of a CoT cut at the cap
LENGTH = "length"  # the finish reason of a completion stopped at max_new_tokens


@dataclass(frozen=True)
class TruncationPolicy:
    """``--keep-truncated`` and ``--truncated-retry-tokens N``: not part of any row's id."""

    keep: bool = False
    retry_tokens: int | None = None

    def retry(self, params: GenerationParams) -> GenerationParams | None:
        """The settings of the one retry of a cut request, or None: no retry (none configured, or a
        cap not above the first one)."""
        if self.retry_tokens is None or self.retry_tokens <= params.max_new_tokens:
            return None
        return replace(params, max_new_tokens=self.retry_tokens)


def is_cut(completion: Completion) -> bool:
    """Whether the completion stopped at its token cap rather than where the model ended it."""
    return completion.finish_reason == LENGTH
