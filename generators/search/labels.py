"""Per-step PRM labels of a trajectory found by MCTS: only what an evaluation measured.

A step's hard label says whether some completion from the prefix ending at it reached the gold
answer (Math-Shepherd's hard estimate). It is *measured* where:

- the step is a tree node (the root, at the cut's last human step, or a tree step) with an evaluation
  below it that the verifier checked (a rollout or a stated answer; a value model's score alone
  measures nothing): ``correct`` = those that reached the gold answer, the label ``correct > 0``;
- the trajectory itself reached the gold answer: it is such a completion for every one of its
  prefixes, so every step is true;
- a later step is measured true (a completion from the longer prefix is one from the shorter);
- it is the final step: the verdict on the answer.

A dead end (the policy wrote no usable next step) counts as a checked evaluation that failed, as a
rollout that states no answer does: a completion from the prefix that did not reach the gold answer.

Every other step (a wrong trajectory's rollout steps, human steps before a root whose subtree
never succeeded) is null: nothing measured it. ``soft_labels`` mean the same in every method, the
fraction of independent completions from the prefix that reach the gold answer; a tree's
evaluations are steered by PUCT, not independent, so ``mcts`` rows have null soft labels except
on the final step (the answer's verdict, 1.0 or 0.0). The tree's statistic is kept in ``q``
(the node's Q in [-1, 1]), ``rollouts`` (its checked evaluations: its visits, but for those a value
model alone scored) and ``correct`` (those that reached the gold answer).
"""

from __future__ import annotations

from dataclasses import dataclass

from generators.search.mcts import Found
from generators.search.tree import Node


@dataclass
class TrajectoryLabels:
    hard: list[bool | None]
    soft: list[float | None]
    rollouts: list[int]
    correct: list[int]
    q: list[float | None]


def trajectory_labels(prefix_len: int, root: Node, found: Found) -> TrajectoryLabels:
    lineage = found.node.lineage()
    total = prefix_len + len(lineage) + len(found.rollout)
    nodes: list[Node | None] = [None] * total
    if prefix_len:
        nodes[prefix_len - 1] = root
    for j, node in enumerate(lineage):
        nodes[prefix_len + j] = node
    hard: list[bool | None] = [None] * total
    later_true = found.correct
    for i in range(total - 1, -1, -1):
        node = nodes[i]
        if i == total - 1:
            hard[i] = found.correct
        elif later_true:
            hard[i] = True
        elif node is not None and node.checks:
            hard[i] = node.wins > 0
        later_true = later_true or hard[i] is True
    soft: list[float | None] = [None] * total
    soft[-1] = 1.0 if found.correct else 0.0
    return TrajectoryLabels(
        hard, soft,
        rollouts=[n.checks if n is not None else 0 for n in nodes],
        correct=[n.wins if n is not None else 0 for n in nodes],
        q=[n.q if n is not None and n.visits else None for n in nodes],
    )
