"""The contract of a process reward model (PRM): a problem and its steps in, one score per step out.

A score is the model's probability that the step is correct (that completions from it still reach
the right answer), in [0, 1]. A ``ScoreRequest`` rides the same engine queue as a ``GenRequest``
(``generators.reward.routing``): it counts as one sequence and has no prompt budget of the policy's.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from generators.backends.base import BackendError, GenerationParams
from schemas.records import Step

SCORE_PARAMS = GenerationParams(n=1, temperature=0.0, max_new_tokens=0)  # what the engine counts (one sequence)


class RewardError(BackendError):
    """A reward model could not score (missing folder, server down, bad response)."""


@dataclass(frozen=True)
class ScoreRequest:
    """Score every step of ``steps`` (text and thought factor) as a solution of ``problem`` so far."""

    problem: str
    steps: tuple[Step, ...]
    key: Any = None
    params: GenerationParams = field(default=SCORE_PARAMS, compare=False)


@dataclass(frozen=True)
class StepScores:
    """One score in [0, 1] per step of the request, in order; ``last`` is the value of the whole prefix."""

    scores: tuple[float, ...]

    @property
    def last(self) -> float:
        return self.scores[-1] if self.scores else 0.5


class RewardModel(abc.ABC):
    """Scores batches of requests; implementations batch internally and raise ``RewardError``."""

    kind: str = "base"

    def __init__(self, name: str):
        self.name = name  # what rows record as ``value_model``

    @abc.abstractmethod
    def score(self, requests: Sequence[ScoreRequest]) -> list[StepScores]:
        """One ``StepScores`` per request, in order, each with one score per step."""

    def check(self, request: ScoreRequest) -> None:  # noqa: B027 - optional hook
        """Raise ``PromptTooLong`` for a request the model cannot take (the engine calls it before queueing)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (models, connections)."""


def checked(scores: Sequence[Sequence[float]], requests: Sequence[ScoreRequest], model: str) -> list[StepScores]:
    """The scores as ``StepScores``, after checking there is one per step and each is a probability."""
    if len(scores) != len(requests):
        raise RewardError(f"{model}: {len(scores)} score lists for {len(requests)} requests")
    out = []
    for values, request in zip(scores, requests, strict=True):
        if len(values) != len(request.steps):
            raise RewardError(f"{model}: {len(values)} scores for {len(request.steps)} steps")
        bad = [v for v in values if not (isinstance(v, int | float) and 0.0 <= float(v) <= 1.0)]
        if bad:
            raise RewardError(f"{model}: a step score is not a probability in [0, 1]: {bad[0]!r}")
        out.append(StepScores(tuple(float(v) for v in values)))
    return out
