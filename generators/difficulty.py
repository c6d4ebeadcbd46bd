"""How hard a problem is for a model: ``k`` whole solutions sampled from the problem alone, each
final answer checked against the gold one, and the pass@j estimates of the counts.

The sampling is a program (``generators.engine.program``): one request of ``n = k`` samples per
problem, so that a worker's engine merges many problems' requests into each backend call and a
backend draws the k samples of one prompt together (one prefill). ``pass_at_k`` is Chen et al.'s
unbiased estimator (Evaluating Large Language Models Trained on Code, 2021) in the numerically
stable product form of the HumanEval repository.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from generators.backends.base import GenerationParams, GenRequest
from generators.engine.program import Program
from generators.labelling.base import AnswerChecker
from generators.prompts import template
from schemas.ids import sampling_seed
from schemas.records import Trajectory

TEMPLATE = "solve"


@dataclass(frozen=True)
class SampleSettings:
    """What the k samples of a problem are drawn with (all of it enters the row id)."""

    k: int = 16
    temperature: float = 0.7
    max_new_tokens: int = 192
    seed: int = 0
    template: str = TEMPLATE


@dataclass(frozen=True)
class Samples:
    """The k samples of one problem and their verdicts, in sampling order."""

    completions: list[str]
    answers: list[str | None]  # the final answer each stated (None: none)
    outcomes: list[bool]  # math-verify's verdict against the gold answer
    truncated: list[bool]  # cut at the token cap (finish_reason "length")
    tokens: list[int]

    @property
    def correct(self) -> int:
        return sum(self.outcomes)


def pass_at_k(n: int, c: int, k: int) -> float | None:
    """Unbiased pass@k from ``n`` samples of which ``c`` are correct: 1 - C(n - c, k) / C(n, k),
    computed as 1 - prod_{i = n - c + 1}^{n} (1 - k / i) (no huge binomials); None where k > n."""
    if not 0 <= c <= n or k < 1:
        raise ValueError(f"pass_at_k needs 0 <= c <= n and k >= 1 (n={n}, c={c}, k={k})")
    if k > n:
        return None
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def solve_messages(problem: str, name: str = TEMPLATE) -> list[dict[str, str]]:
    """The chat prompt of a whole solution: the problem and the instruction, as the user's turn."""
    return template(name).messages(problem=problem)


def sample_request(trajectory: Trajectory, settings: SampleSettings) -> GenRequest:
    params = GenerationParams(n=settings.k, temperature=settings.temperature, max_new_tokens=settings.max_new_tokens,
                              seed=sampling_seed(settings.seed, "difficulty", trajectory.id))
    return GenRequest.chat(solve_messages(trajectory.problem, settings.template), params, key=trajectory.id)


def sample_program(trajectory: Trajectory, checker: AnswerChecker, settings: SampleSettings) -> Program[Samples]:
    """One yield: the k samples of ``trajectory``'s problem; each answer extracted and verified."""
    [completions] = yield [sample_request(trajectory, settings)]
    answers = [checker.extract_answer(c.text) for c in completions]
    outcomes = [bool(checker.verify(trajectory.gold_answer, a).correct) for a in answers]
    return Samples([c.text for c in completions], answers, outcomes, [c.finish_reason == "length" for c in completions],
                   [c.tokens for c in completions])
