"""The rule tagger as it was before issue 14, kept only for the side-by-side figure.

``benchmarks.tagging_accuracy`` reports its accuracy next to the current tagger's on the same
held-out set, so a reader sees what the rulebook changed. Not used by any pipeline. The cue
matching, weights and detectors it shares with today's tagger (unchanged by the rulebook) are
imported from ``generators.tagging.rules``; only the old signals (no result or last-prose-step
detection) and the old scoring, without the rulebook, live here.

The original module docstring follows.

The fast tier: a rule tagger from the vocabulary's cues, the step's position and detectors.

Each factor gets a score: 3 for a cue at the start of the step (after any list marker), 2 for
one in its last 80 characters ("..., which holds."), 1 for one elsewhere (only the first 2,000
characters are read), plus its signals: ``arithmetic`` 2 (an operation on numbers, a LaTeX
operator, a chain of equalities), ``code`` 3 (a code block or tactic lines), ``plan`` 2 (several
numbered items, "First ... then"), ``first_step`` 1 and ``last_step`` 1. The best score wins; on
a tie the factor with more cue weight, then the one listed first. Nothing scoring means the
vocabulary's default.

A decision is *unsure* when the best score is under 2 (no cue at the start, no strong signal)
or beats the runner-up by less than 1: the ``both`` tier asks the LLM about exactly those.
"""

from __future__ import annotations

from collections.abc import Sequence

from generators.tagging.base import StepTagger, TagDecision
from generators.tagging.rules import (
    _ARITHMETIC,
    _CODE,
    _FIRST_THEN,
    _LEAD,
    _PLAN,
    ANYWHERE_WEIGHT,
    END_WEIGHT,
    HEAD_CHARS,
    SIGNAL_WEIGHTS,
    START_WEIGHT,
    SURE_MARGIN,
    SURE_SCORE,
    TAIL_CHARS,
    _cue,
)
from schemas.factors import FactorVocabulary
from schemas.records import Step


def signals_of(text: str, index: int, count: int) -> set[str]:
    """Which built-in detectors fire on a step (its text and place in the CoT)."""
    head = text[:HEAD_CHARS]
    found = set()
    if _ARITHMETIC.search(head):
        found.add("arithmetic")
    if _CODE.search(head):
        found.add("code")
    if _PLAN.search(head) or _FIRST_THEN.match(head[:400]):
        found.add("plan")
    if index == 0 and count > 1:
        found.add("first_step")
    if index == count - 1 and count > 1:
        found.add("last_step")
    return found


class RuleTaggerV1(StepTagger):
    name = "rules_v1"

    def __init__(self, vocabulary: FactorVocabulary):
        self.vocabulary = vocabulary
        self.cues = [(f, [_cue(c) for c in f.cues]) for f in vocabulary.factors]

    @property
    def prompt_version(self) -> str:
        return f"tag_rules/{self.vocabulary.version}"

    def scores(self, text: str, index: int, count: int) -> dict[str, tuple[float, float]]:
        """Per factor: (total score, the part of it that came from cues)."""
        head = text[:HEAD_CHARS]
        lead = head[_LEAD.match(head).end():]
        tail = text[-2 * TAIL_CHARS:].rstrip()
        tail_from = max(0, len(tail) - TAIL_CHARS)
        lowers = (lead.lower(), tail.lower(), head.lower())
        signals = signals_of(text, index, count)
        scores: dict[str, tuple[float, float]] = {}
        for factor, cues in self.cues:
            cue = 0.0
            if any(c.at_start(lead, lowers[0]) for c in cues):
                cue = START_WEIGHT
            elif any(c.within(tail, lowers[1], tail_from) for c in cues):
                cue = END_WEIGHT
            elif any(c.within(head, lowers[2]) for c in cues):
                cue = ANYWHERE_WEIGHT
            signal = sum(SIGNAL_WEIGHTS[s] for s in factor.signals if s in signals)
            scores[factor.name] = (cue + signal, cue)
        return scores

    def decide(self, text: str, index: int, count: int) -> TagDecision:
        scores = self.scores(text, index, count)
        ranked = sorted(scores.items(), key=lambda kv: (-kv[1][0], -kv[1][1]))  # stable: then vocabulary order
        (best, (top, _cue)), second = ranked[0], (ranked[1][1][0] if len(ranked) > 1 else 0.0)
        if top <= 0:
            return TagDecision(self.vocabulary.default, "rules", 0.0, unsure=True)
        unsure = top < SURE_SCORE or top - second < SURE_MARGIN
        return TagDecision(best, "rules", round((top - second) / top, 3), unsure=unsure)

    def tag(self, steps: Sequence[Step], problem: str = "") -> list[TagDecision]:
        count = len(steps)
        return [TagDecision(s.factor, "human") if s.factor is not None else self.decide(s.text, i, count)
                for i, s in enumerate(steps)]
