"""The contract of a step labeller, and the rollout machinery labellers share.

A labeller gets a trajectory (problem, steps, gold answer), samples completions from chosen
prefixes, checks each against the gold answer with an injected ``AnswerChecker`` (the math
verifier in the pipelines; a scripted one in unit tests), and returns per-step labels. Its work is
a program (``program``: it yields the rollout requests it needs next, ``generators.engine``), so
that a worker's engine can run many labellings at once; ``label`` runs one against the backend.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from generators.backends.base import Completion, GenerationParams, GenRequest, LLMBackend
from generators.engine.program import Program, drive
from generators.prompts import PromptTemplate, template
from schemas.ids import sampling_seed
from schemas.records import Trajectory


class CheckResult(Protocol):
    correct: bool
    status: str


class AnswerChecker(Protocol):
    """What labellers and the search need of a verifier (``verifiers.math_answer.MathVerifier`` has all three)."""

    def verify(self, gold: str, answer: str | None) -> CheckResult: ...

    def verify_text(self, gold: str, text: str) -> CheckResult: ...

    def extract_answer(self, text: str) -> str | None: ...


@dataclass(frozen=True)
class LabelSettings:
    n: int = 8
    temperature: float = 0.7
    max_new_tokens: int = 256
    seed: int = 0
    template: str = "shepherd_continue"
    probe_chunk: int = 2  # binary search: completions per call at a probe, stopping at a success


@dataclass
class StepLabels:
    """Per-step results; ``soft`` is None for a step whose value was never measured, ``hard`` None for a
    step nothing measured (the binary search's steps after the first error that no probe reached)."""

    hard: list[bool | None]
    soft: list[float | None]
    rollouts: list[int]
    correct: list[int]
    answer_correct: bool
    completions_spent: int = 0
    rollouts_without_answer: int = 0
    generated_tokens: int = 0
    backend_calls: int = 0
    probes: list[int] = field(default_factory=list)  # step indexes measured, in order


def answer_correct(checker: AnswerChecker, trajectory: Trajectory) -> bool:
    """Whether the solution's own final answer is the gold one (False where it states none)."""
    if trajectory.answer is None or trajectory.gold_answer is None:
        return False
    return bool(checker.verify(trajectory.gold_answer, trajectory.answer).correct)


class StepLabeller(abc.ABC):
    """Labels the steps of one trajectory; subclasses choose which prefixes to measure."""

    method: str = "base"

    def __init__(self, backend: LLMBackend, checker: AnswerChecker, settings: LabelSettings):
        self.backend = backend
        self.checker = checker
        self.settings = settings
        self.prompt: PromptTemplate = template(settings.template)

    @abc.abstractmethod
    def program(self, trajectory: Trajectory) -> Program[StepLabels]:
        """The labelling of ``trajectory`` as a program (it yields rollout requests)."""

    def label(self, trajectory: Trajectory) -> StepLabels:
        """The labelling of ``trajectory``, run against this labeller's backend one yield at a time."""
        return drive(self.program(trajectory), self.backend)

    def answer_correct(self, trajectory: Trajectory) -> bool:
        return answer_correct(self.checker, trajectory)

    def rollout_request(self, trajectory: Trajectory, upto: int, n: int | None = None, chunk: int = 0) -> GenRequest:
        """``n`` (default settings.n) samples continuing the prefix steps[0..upto] (inclusive).

        ``chunk`` salts the sampling seed, so that successive chunks drawn at one prefix (adaptive
        probes of the binary search) are fresh samples; chunk 0 keeps the plain per-prefix seed.
        """
        s = self.settings
        prefix = "\n".join(step.text for step in trajectory.steps[: upto + 1])
        messages = self.prompt.messages(problem=trajectory.problem, prefix=prefix)
        salt = (s.seed, trajectory.id, upto) if chunk == 0 else (s.seed, trajectory.id, upto, "chunk", chunk)
        seed = sampling_seed(*salt)
        params = GenerationParams(n=s.n if n is None else n, temperature=s.temperature, max_new_tokens=s.max_new_tokens,
                                  seed=seed)
        return GenRequest.chat(messages, params, key=upto)

    def measure(self, trajectory: Trajectory, steps: Sequence[int], labels: StepLabels, n: int | None = None,
                chunk: int = 0) -> Program[dict[int, int]]:
        """Roll out every prefix in ``steps`` in one yield (``n`` samples each, seed salted by
        ``chunk``); correct count per step."""
        requests = [self.rollout_request(trajectory, i, n, chunk) for i in steps]
        results: list[list[Completion]] = (yield requests) if requests else []
        labels.backend_calls += 1 if requests else 0
        correct: dict[int, int] = {}
        for request, completions in zip(requests, results, strict=True):
            hits = 0
            for completion in completions:
                outcome = self.checker.verify_text(trajectory.gold_answer, completion.text)
                hits += bool(outcome.correct)
                labels.rollouts_without_answer += outcome.status == "no_answer"
                labels.generated_tokens += completion.tokens
            labels.completions_spent += len(completions)
            correct[request.key] = hits
            if chunk == 0:  # later chunks at the same prefix continue the same probe
                labels.probes.append(request.key)
        return correct
