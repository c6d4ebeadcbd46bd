"""The rule tagger as it was before issue 14: a frozen copy, kept only for the side-by-side figure.

``benchmarks.tagging_accuracy`` reports its accuracy next to the live tagger's
(``generators.tagging.rules``) on the same sets, so a reader sees what the rulebook changed. Not
used by any pipeline, and never to be edited: it is ``generators/tagging/rules.py`` of commit
cc802d8 (the parent of issue 14's 6785c8f), renamed ``RuleTaggerV1``. Its cue matching, weights and
detectors were identical to the live module's at 98d8fc0; they are copied here, not imported, so
that a change to the live rules cannot move the "before" figure (0.809 held-out, 0.857 dev). Only
public records (``Step``, ``FactorVocabulary``, ``StepTagger``/``TagDecision``) are imported.

How it scores: 3 for a cue at the start of the step (after any list marker), 2 for one in its last
80 characters, 1 for one elsewhere (only the first 2,000 characters are read), plus its signals:
``arithmetic`` 2, ``code`` 3, ``plan`` 2, ``first_step`` 1 and ``last_step`` 1 (the last step,
whatever it holds). The best score wins; on a tie the factor with more cue weight, then the one
listed first; nothing scoring means the vocabulary's default. *Unsure* when the best score is
under 2 or beats the runner-up by less than 1.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from generators.tagging.base import StepTagger, TagDecision
from schemas.factors import FactorVocabulary
from schemas.records import Step

HEAD_CHARS = 2000
START_WEIGHT, END_WEIGHT, ANYWHERE_WEIGHT = 3.0, 2.0, 1.0
TAIL_CHARS = 80
SIGNAL_WEIGHTS = {"arithmetic": 2.0, "code": 3.0, "plan": 2.0, "first_step": 1.0, "last_step": 1.0}
SURE_SCORE, SURE_MARGIN = 2.0, 1.0

_LEAD = re.compile(r"\s*(?:(?:\d{1,3}[.)]|\(\d{1,3}\)|[-*•>]|Step\s+\d{1,3}\s*[:.)]|#{1,6})\s*)?[\s*_\"'“]*", re.IGNORECASE)
_ARITHMETIC = re.compile(
    r"\d\s*[-+*/×÷^]\s*[(\[$]?\s*[\da-z]|[a-z)]\s*[-+*/×÷^]\s*\$?\d"  # 48/2, 3 * (4, 2x + 6, (a+b)^2
    r"|\\(?:frac|cdot|times|sqrt|binom|equiv|pmod)"  # LaTeX operators
    r"|=[^=\n]{1,80}=",  # a chain of equalities
)
_CODE = re.compile(
    r"```|^\s*(?:def |class |return\b|import |from \S+ import|for .+:\s*$|while .+:\s*$|if .+:\s*$)"
    r"|^\s*(?:rw|simp|simp_all|norm_num|linarith|nlinarith|ring|ring_nf|omega|field_simp|exact|apply|intro|intros|"
    r"induction|cases|rcases|obtain|refine|constructor|specialize|have|calc|decide|positivity|use|unfold)\b"
    r"(?:\s|\[|$)(?![a-z]+ [a-z]+ [a-z]+)",
    re.MULTILINE,
)
_PLAN = re.compile(r"(?:^|\n)\s*(?:\d{1,3}[.)]|\(\d{1,3}\)|[-*•])\s.*(?:\n\s*(?:\d{1,3}[.)]|\(\d{1,3}\)|[-*•])\s)")
_FIRST_THEN = re.compile(r"^\W*(?:first|to start|to begin)\b[\s\S]{0,160}?\b(?:then|next|second|after that|finally)\b",
                         re.IGNORECASE)


def cue_pattern(cue: str) -> str:
    """A cue as a regular expression: ``re:`` cues as written; plain ones at word boundaries, ``...`` a short gap."""
    if cue.startswith("re:"):
        return cue[3:]
    parts = [p.strip() for p in cue.split("...")]
    body = r"[\s\S]{0,80}?".join(re.escape(p) for p in parts if p)
    if cue[:1].isalnum():
        body = r"\b" + body
    if cue.rstrip()[-1:].isalnum() and not cue.endswith(" "):
        body += r"\b"
    return body


@dataclass(frozen=True)
class _Cue:
    """A compiled cue and, for plain ones, a lower-case literal that must occur (a fast pre-check)."""

    pattern: re.Pattern[str]
    literal: str | None

    def at_start(self, lead: str, lead_lower: str) -> bool:
        if self.literal is not None and not lead_lower.startswith(self.literal):
            return False
        return self.pattern.match(lead) is not None

    def within(self, text: str, lower: str, start: int = 0) -> bool:
        if self.literal is not None and lower.find(self.literal, start) < 0:
            return False
        return self.pattern.search(text, start) is not None


def _cue(cue: str) -> _Cue:
    literal = None if cue.startswith("re:") else cue.split("...")[0].strip().lower() or None
    return _Cue(re.compile(cue_pattern(cue), re.IGNORECASE), literal)


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
