"""OmegaPRM-style labelling (Luo et al., 2024): binary search for the first wrong step.

Math-Shepherd rolls out from every prefix (k·(M−1) completions for M steps). If the steps after
the first error are wrong anyway, only the position of that error matters, and it can be found
with ⌈log2 M⌉ probes:

- **Correct final answer**: the solution itself is a correct completion of each of its prefixes,
  so every hard label is true without a single rollout. (A seed's ``answer`` is the annotator's
  gold answer, so human seeds land here; binary search pays off on solutions that end wrong.)
- **Wrong final answer**: the whole solution (prefix M−1) is known bad, so search prefixes
  0..M−2: lo=0, hi=M−1; while lo<hi: mid=(lo+hi)//2, probe steps[0..mid]; some completion reaches
  the gold answer → the error lies to the right (lo=mid+1), else at or left of mid (hi=mid).
  The first error is lo: steps before it are labelled true (the positive probe at lo−1 found a
  completion of their prefixes), it false (a negative probe, or the last step, judged by the
  solution's own answer). A later step is false where a probe measured it (always negative: a
  positive probe moves lo past it) and the last step false from the answer; every other later step
  is null, hard and soft: nothing measured it, and a PRM must not learn "after an error, all wrong"
  from an outcome (exports drop or cut such rows, ``pipelines.export.measured``).
- **Adaptive probes**: a positive probe needs one success, so the k samples of a probe are drawn
  in chunks of ``probe_chunk``, ``probe_chunk``, then doubling the total (2, 2, 4 for k=8), and
  drawing stops at the first chunk with a correct completion. A negative probe still costs k.
  ``probe_chunk >= k`` turns this off (one call of k). Each chunk has its own sampling seed.

Soft labels: a probed step gets hits / completions drawn there (``rollouts`` and
``correct_rollouts`` say how many). With adaptive stopping that fraction is measured on a sample
cut short at a success, so it is an optimistic estimate; use ``probe_chunk >= k`` for Math-Shepherd
soft values. Unprobed steps get null (never interpolated: there is no measurement to report) with
0 rollouts. The last step, as in Math-Shepherd, gets 1.0 or 0.0 from the solution's own answer.
"""

from __future__ import annotations

from generators.engine.program import Program
from generators.labelling.base import StepLabeller, StepLabels
from schemas.records import Trajectory


def chunk_sizes(k: int, first: int) -> list[int]:
    """Completions per call at one probe: first, first, then doubling the total, summing to k."""
    sizes: list[int] = []
    total = 0
    while total < k:
        size = min(first if len(sizes) < 2 else total, k - total)
        sizes.append(size)
        total += size
    return sizes


def measured_label(i: int, first_error: int, m: int, rollouts: list[int]) -> bool | None:
    """Step ``i``'s hard label: true before the first error, false at it, at a probed later step and at the
    last step (the answer is wrong), None at a later step nothing measured."""
    if i < first_error:
        return True
    if i == first_error or i == m - 1 or rollouts[i] > 0:
        return False
    return None


class BinaryLabeller(StepLabeller):
    method = "binary"

    def program(self, trajectory: Trajectory) -> Program[StepLabels]:
        m = len(trajectory.steps)
        if m == 0:
            raise ValueError("a solution without steps has nothing to label")
        final_ok = self.answer_correct(trajectory)
        labels = StepLabels(hard=[], soft=[None] * m, rollouts=[0] * m, correct=[0] * m, answer_correct=final_ok)
        first_error = m if final_ok else (yield from self.search(trajectory, m, labels))
        labels.hard = [measured_label(i, first_error, m, labels.rollouts) for i in range(m)]
        labels.soft[m - 1] = 1.0 if final_ok else 0.0
        return labels

    def search(self, trajectory: Trajectory, m: int, labels: StepLabels) -> Program[int]:
        """Index of the first wrong step of a solution whose final answer is wrong."""
        lo, hi = 0, m - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if (yield from self.probe(trajectory, mid, labels)):
                lo = mid + 1
            else:
                hi = mid
        return lo

    def probe(self, trajectory: Trajectory, upto: int, labels: StepLabels) -> Program[bool]:
        """Sample up to k completions from steps[0..upto], chunk by chunk; True at the first success."""
        k = self.settings.n
        spent = hits = 0
        for chunk, size in enumerate(chunk_sizes(k, max(1, self.settings.probe_chunk))):
            before = labels.completions_spent
            hits += (yield from self.measure(trajectory, [upto], labels, n=size, chunk=chunk))[upto]
            spent += labels.completions_spent - before
            if hits:
                break
        labels.rollouts[upto] = spent
        labels.correct[upto] = hits
        labels.soft[upto] = hits / spent if spent else 0.0
        return hits > 0
