"""Gold answers by majority vote, for problems that come without one (``label --gold majority``).

``k`` whole solutions are sampled from the problem alone (the ``solve`` prompt, one request of n = k,
as ``difficulty`` samples), each final answer extracted, and the answers grouped into equivalence
classes with math-verify: an answer joins the first class whose first answer it verifies equal to,
else starts its own. The largest class's answer (its most common spelling, the first sampled among
equals) becomes the gold when its share of all k samples, those that stated no answer included, is at
least ``min_majority`` and no other class is as large (a tie has no majority, whatever its share);
otherwise there is none and the problem is filtered ``no_consensus_answer``.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass

from generators.backends.base import GenerationParams, GenRequest
from generators.engine.program import Program
from generators.labelling.base import AnswerChecker
from generators.prompts import template
from schemas.ids import sampling_seed
from schemas.records import Trajectory

NO_CONSENSUS = "no_consensus_answer"  # the filter reason of a problem without a majority answer


@dataclass(frozen=True)
class MajoritySettings:
    """How the k solutions are sampled and what share makes a majority (all of it enters the row id)."""

    k: int = 8
    temperature: float = 0.7
    max_new_tokens: int = 192
    seed: int = 0
    min_majority: float = 0.5
    template: str = "solve"


@dataclass(frozen=True)
class Vote:
    """The k samples' answers (None: none stated) and their classes, ``(answer, samples)``, largest first."""

    answers: list[str | None]
    classes: list[tuple[str, int]]
    min_majority: float
    generated_tokens: int = 0

    @property
    def share(self) -> float:
        """The largest class's share of all samples (0.0 when none stated an answer)."""
        return self.classes[0][1] / len(self.answers) if self.classes and self.answers else 0.0

    @property
    def gold(self) -> str | None:
        """The majority answer, or None (no answer, a share under ``min_majority``, or a tie for the most)."""
        if not self.classes or self.share < self.min_majority:
            return None
        if len(self.classes) > 1 and self.classes[1][1] == self.classes[0][1]:
            return None
        return self.classes[0][0]


def answer_classes(answers: list[str | None], checker: AnswerChecker) -> list[tuple[str, int]]:
    """Stated answers grouped by math-verify equivalence: ``(most common spelling, size)``, largest first
    (among equal sizes, the class sampled first)."""
    classes: list[list[str]] = []
    for answer in answers:
        if answer is None:
            continue
        home = next((members for members in classes if checker.verify(members[0], answer).correct), None)
        if home is None:
            classes.append([answer])
        else:
            home.append(answer)
    ranked = sorted(classes, key=len, reverse=True)  # stable: ties keep the order they were first sampled in
    return [(collections.Counter(members).most_common(1)[0][0], len(members)) for members in ranked]


def majority_request(trajectory: Trajectory, settings: MajoritySettings) -> GenRequest:
    params = GenerationParams(n=settings.k, temperature=settings.temperature, max_new_tokens=settings.max_new_tokens,
                              seed=sampling_seed(settings.seed, "majority", trajectory.id))
    return GenRequest.chat(template(settings.template).messages(problem=trajectory.problem), params, key=trajectory.id)


def majority_program(trajectory: Trajectory, checker: AnswerChecker, settings: MajoritySettings) -> Program[Vote]:
    """One yield: k solutions of ``trajectory``'s problem; the vote of their final answers."""
    [completions] = yield [majority_request(trajectory, settings)]
    answers = [checker.extract_answer(c.text) for c in completions]
    return Vote(answers, answer_classes(answers, checker), settings.min_majority, sum(c.tokens for c in completions))
