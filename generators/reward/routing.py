"""A policy backend and a reward model behind one ``LLMBackend``, so one engine serves both.

A program (the search) yields ``GenRequest``s and ``ScoreRequest``s in one list; the engine merges
them with other programs' requests into calls as ever, and each call is split here: generation
requests to the policy, score requests to the reward model, the answers put back in order (a score
request's answer is a one-item list holding its ``StepScores``).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from generators.backends.base import GenerationParams, GenRequest, LLMBackend
from generators.reward.base import RewardModel, ScoreRequest


class WithReward(LLMBackend):
    """``policy`` for generation, ``reward`` for scores; the policy's name, context and engine sizing."""

    def __init__(self, policy: LLMBackend, reward: RewardModel):
        self.policy = policy
        self.reward = reward
        self.name = policy.name
        self.max_token_chars = policy.max_token_chars
        self.engine_lanes = policy.engine_lanes
        self.engine_batch_sequences = policy.engine_batch_sequences
        self.engine_inflight = policy.engine_inflight
        self.score_calls = 0  # calls that carried score requests (lanes call at once: counted under a lock)
        self._count_lock = threading.Lock()

    @property
    def model_name(self) -> str:
        return self.policy.model_name

    @property
    def context_length(self) -> int | None:
        return self.policy.context_length

    def prompt_tokens(self, request: GenRequest) -> int:
        return self.policy.prompt_tokens(request)

    def prompt_budget(self, params: GenerationParams) -> int | None:
        return self.policy.prompt_budget(params)

    def check_prompt(self, request: Any) -> None:
        if isinstance(request, ScoreRequest):
            self.reward.check(request)
        else:
            self.policy.check_prompt(request)

    def generate(self, requests: Sequence[Any]) -> list[list[Any]]:
        scores = [i for i, r in enumerate(requests) if isinstance(r, ScoreRequest)]
        if not scores:
            return self.policy.generate(requests)
        out: list[list[Any]] = [[] for _ in requests]
        wanted = set(scores)
        generation = [i for i in range(len(requests)) if i not in wanted]
        if generation:
            for i, completions in zip(generation, self.policy.generate([requests[i] for i in generation]), strict=True):
                out[i] = completions
        with self._count_lock:
            self.score_calls += 1
        for i, result in zip(scores, self.reward.score([requests[i] for i in scores]), strict=True):
            out[i] = [result]
        return out

    def close(self) -> None:
        try:
            self.reward.close()
        finally:
            self.policy.close()
