"""A scripted policy for MCTS tests (a test double, not a language model).

Expansion prompts get the candidate steps listed in ``steps`` (one per sample, in order, with
log-probs from ``logprobs``); once the solution so far has ``answer_after`` lines, the
candidates state answers instead. Rollout prompts reach the gold answer unless the prefix
contains ``poison``. Every call is recorded, so tests can check batching and budgets.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from generators.backends.base import Completion, GenRequest, LLMBackend


def prefix_of(request: GenRequest) -> str:
    text = request.messages[-1][1]
    if "so far:\n" not in text:
        return ""
    return text.split("so far:\n", 1)[1].split("\n\n", 1)[0]


class ScriptedPolicy(LLMBackend):
    name = "scripted-policy"

    def __init__(self, steps: Sequence[str] = ("Add the apples.", "Poison: subtract instead."),
                 logprobs: Sequence[float | None] = (-1.0, -3.0), answers: Sequence[str] = ("The answer is 42.",),
                 answer_after: int = 3, poison: str = "Poison", gold: str = "42", wrong: str = "7",
                 rollout: str | None = None, noisy: bool = False):
        self.steps, self.logprobs, self.answers = list(steps), list(logprobs), list(answers)
        self.answer_after, self.poison, self.gold, self.wrong = answer_after, poison, gold, wrong
        self.rollout, self.noisy = rollout, noisy
        self.calls: list[list[GenRequest]] = []

    @property
    def model_name(self) -> str:
        return "scripted-policy"

    def generate(self, requests: Sequence[GenRequest]) -> list[list[Completion]]:
        self.calls.append(list(requests))
        return [self._reply(r) for r in requests]

    def _reply(self, request: GenRequest) -> list[Completion]:
        prefix = prefix_of(request)
        lines = [x for x in prefix.splitlines() if x.strip()]
        if "Write the next step" in request.messages[-1][1] or "Write the first step" in request.messages[-1][1]:
            pool = self.answers if len(lines) >= self.answer_after else self.steps
            out = []
            for i in range(request.params.n):
                text = pool[i % len(pool)]
                if self.noisy:  # seeded variety, so determinism tests see the seeds at work
                    text += f" (variant {random.Random(request.params.seed * 31 + i).randint(0, 2)})"
                lp = self.logprobs[i % len(self.logprobs)] if self.logprobs else None
                out.append(Completion(text, 4, "stop", logprob=lp))
            return out
        if self.rollout is not None:
            return [Completion(self.rollout, 5, "length")] * request.params.n
        answer = self.wrong if self.poison in prefix else self.gold
        return [Completion(f"Then we finish.\nThe answer is {answer}.", 8, "stop")] * request.params.n
