"""Per-step PRM labels of a trajectory found by MCTS, from the statistics of its tree nodes.

A step is *measured* when a tree node sits there: the root (the last human step of the cut)
and every tree step. There ``soft`` = the node's mean value mapped to [0, 1], ``rollouts`` =
its visits, ``correct`` = evaluations below it that reached the gold answer, and the hard
label is ``correct > 0`` (Math-Shepherd's hard estimate: some completion from here succeeds).
Unmeasured steps (earlier human steps, a rollout's steps) get ``soft`` null and 0 rollouts;
their hard label is that of the next measured step (a prefix of a prefix that can succeed can
succeed), or, after the last measured step, the trajectory's own verdict. The final step's
label is always the verdict on the answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from generators.search.mcts import Found
from generators.search.tree import Node


@dataclass
class TrajectoryLabels:
    hard: list[bool]
    soft: list[float | None]
    rollouts: list[int]
    correct: list[int]


def trajectory_labels(prefix_len: int, root: Node, found: Found) -> TrajectoryLabels:
    lineage = found.node.lineage()
    total = prefix_len + len(lineage) + len(found.rollout)
    nodes: list[Node | None] = [None] * total
    if prefix_len:
        nodes[prefix_len - 1] = root
    for j, node in enumerate(lineage):
        nodes[prefix_len + j] = node
    soft = [n.soft if n is not None else None for n in nodes]
    rollouts = [n.visits if n is not None else 0 for n in nodes]
    correct = [n.wins if n is not None else 0 for n in nodes]
    hard: list[bool] = [False] * total
    carry = found.correct
    for i in range(total - 1, -1, -1):
        node = nodes[i]
        if i == total - 1:
            hard[i] = found.correct
        elif node is not None:
            hard[i] = node.wins > 0
        else:
            hard[i] = carry
        carry = hard[i]
    soft[-1] = 1.0 if found.correct else 0.0
    return TrajectoryLabels(hard, soft, rollouts, correct)
