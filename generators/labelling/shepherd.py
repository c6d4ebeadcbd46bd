"""Math-Shepherd labelling (Wang et al., ACL 2024): N rollouts from every step's prefix.

Soft label = fraction of the N completions that reach the gold answer; hard label = any does.
The last step's prefix is the whole solution, so no rollout is spent on it: its label is
whether the solution's own final answer is correct (rollouts and correct_rollouts are 0 there).
"""

from __future__ import annotations

from generators.engine.program import Program
from generators.labelling.base import StepLabeller, StepLabels
from schemas.records import Trajectory


class ShepherdLabeller(StepLabeller):
    method = "shepherd"

    def program(self, trajectory: Trajectory) -> Program[StepLabels]:
        k = len(trajectory.steps)
        n = self.settings.n
        final_ok = self.answer_correct(trajectory)
        labels = StepLabels(hard=[], soft=[], rollouts=[], correct=[], answer_correct=final_ok)
        hits = yield from self.measure(trajectory, range(k - 1), labels)
        for i in range(k - 1):
            labels.hard.append(hits[i] > 0)
            labels.soft.append(hits[i] / n if n else 0.0)
            labels.rollouts.append(n)
            labels.correct.append(hits[i])
        labels.hard.append(final_ok)
        labels.soft.append(1.0 if final_ok else 0.0)
        labels.rollouts.append(0)
        labels.correct.append(0)
        return labels
