"""Consensus labels (``label --method consensus``): a Monte Carlo labelling and an LLM judge on one solution.

After Qwen's "Lessons of developing process reward models" (2025): Monte Carlo estimation labels a
wrong step followed by a lucky right answer good; keeping a step's label only where the MC label and
an LLM judge agree gave better PRMs on less data. Here a step's label is the MC label where the judge
gave the same verdict, and null where they differ or either left the step unmeasured. The solution's
first wrong step (the first false label) is compared too: where MC and the judge disagree on it, the
pipeline keeps the solution with its disagreeing steps null (``keep-agreeing``) or filters it
``judge_disagrees`` (``drop-solution``, Qwen's filter).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

MODES = ("keep-agreeing", "drop-solution")
DISAGREES = "judge_disagrees"  # the filter reason of a solution dropped under ``drop-solution``


def first_error(labels: Sequence[bool | None]) -> int | None:
    """Index of the first false label (None: no step is labelled false)."""
    return next((i for i, label in enumerate(labels) if label is False), None)


@dataclass(frozen=True)
class Consensus:
    """The agreed labels (None where MC and the judge differ or either has none), the share of the steps both
    labelled on which they agree (None: no such step), and each side's first wrong step."""

    labels: list[bool | None]
    agreement: float | None
    mc_first_error: int | None
    judge_first_error: int | None
    disagreeing_steps: int

    @property
    def agrees_on_first_error(self) -> bool:
        return self.mc_first_error == self.judge_first_error


def combine(mc: Sequence[bool | None], judge: Sequence[bool | None]) -> Consensus:
    """The consensus of one solution's MC labels and judge verdicts (same length)."""
    if len(mc) != len(judge):
        raise ValueError(f"{len(mc)} MC labels against {len(judge)} judge verdicts")
    both = [(a, b) for a, b in zip(mc, judge, strict=True) if a is not None and b is not None]
    agreed = sum(a == b for a, b in both)
    return Consensus(
        labels=[a if a is not None and a == b else None for a, b in zip(mc, judge, strict=True)],
        agreement=agreed / len(both) if both else None,
        mc_first_error=first_error(mc),
        judge_first_error=first_error(judge),
        disagreeing_steps=len(both) - agreed,
    )
