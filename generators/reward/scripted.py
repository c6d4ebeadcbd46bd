"""A scripted reward for tests of the search: not a model.

``scripted:FACTOR`` scores a step of thought factor FACTOR ``high`` (0.9) and any other ``low`` (0.1).
``scripted:JSON`` (or a JSON file) is ``{"factor": F, "high": H, "low": L, "rules": [[SUBSTRING, SCORE], ...],
"default": D, "fail": SUBSTRING}``: the first rule whose substring is in the step's text gives its score,
else the factor rule (when ``factor`` is set), else ``default``; a step containing ``fail`` raises
``RewardError`` (a failing server). Each call is counted (``calls``, ``scored``) so tests can see batching.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path

from generators.reward.base import RewardError, RewardModel, ScoreRequest, StepScores, checked
from generators.reward.spec import RewardSpec
from schemas.records import Step


class ScriptedReward(RewardModel):
    kind = "scripted"

    def __init__(self, spec: RewardSpec):
        super().__init__(spec.name)
        text = spec.location
        if text.lstrip().startswith("{"):
            script = json.loads(text)
        elif text.endswith(".json"):
            script = json.loads(Path(text).read_text(encoding="utf-8"))
        else:
            script = {"factor": text} if text else {}
        self.factor: str | None = script.get("factor") or None
        self.high = float(script.get("high", 0.9))
        self.low = float(script.get("low", 0.1))
        self.default = float(script.get("default", 0.5))
        self.rules = [(str(a), float(b)) for a, b in script.get("rules", [])]
        self.fail: str | None = script.get("fail")
        self.calls = 0
        self.scored = 0
        self._count_lock = threading.Lock()  # the engine's lanes may call at once

    def step_score(self, step: Step) -> float:
        if self.fail and self.fail in step.text:
            raise RewardError(f"scripted reward: told to fail on {self.fail!r}")
        for substring, score in self.rules:
            if substring in step.text:
                return score
        if self.factor is not None:
            return self.high if step.factor == self.factor else self.low
        return self.default

    def score(self, requests: Sequence[ScoreRequest]) -> list[StepScores]:
        with self._count_lock:
            self.calls += 1
            self.scored += len(requests)
        return checked([[self.step_score(s) for s in r.steps] for r in requests], requests, self.name)
