"""The common interface of step taggers: one decision per step, human factors kept."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from schemas.records import Step

Tier = Literal["human", "rules", "llm", "llm_fallback"]


@dataclass(frozen=True)
class TagDecision:
    """The factor of one step, which tier chose it, and how sure the rules were.

    ``tier`` is ``human`` (the factor came with the step and is kept), ``rules``, ``llm``, or
    ``llm_fallback`` (the LLM answered no factor name, so the rule tagger's factor stands).
    ``unsure`` marks rule decisions that the ``both`` tier sends to the LLM.
    """

    factor: str
    tier: Tier
    confidence: float = 1.0
    unsure: bool = False


class StepTagger(abc.ABC):
    """Gives every step of a CoT a factor from the vocabulary; steps that have one keep it."""

    name: str = "base"

    @abc.abstractmethod
    def tag(self, steps: Sequence[Step], problem: str = "") -> list[TagDecision]:
        """One decision per step, in order."""

    @property
    def prompt_version(self) -> str:
        """What rows tagged by this tagger record as ``generator.prompt_version``."""
        return self.name


def tagged(steps: Sequence[Step], decisions: Sequence[TagDecision]) -> list[Step]:
    return [Step(step.text, decision.factor) for step, decision in zip(steps, decisions, strict=True)]
