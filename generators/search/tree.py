"""The search tree of MCTS: one node per reasoning step, with PUCT selection and backup.

Values are rewards in [-1, 1] (+1: the verifier accepts the final answer, -1: it does not or
no answer came; with a value model, 2 * P(correct) - 1 mixed with a rollout's); ``soft`` maps a node's
mean value to [0, 1] for PRM rows. ``hits`` counts the evaluations below a node whose answer the
verifier accepted, whatever the values were.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from schemas.records import Step


@dataclass(eq=False)
class Node:
    """A state = the root's prefix plus the steps on the path here; ``step`` is the last one."""

    step: Step | None  # None at the root
    parent: Node | None = None
    prior: float = 1.0
    depth: int = 0  # steps below the root
    path: tuple[int, ...] = ()  # child indexes from the root: a stable name for seeds and ids
    children: list[Node] = field(default_factory=list)
    visits: int = 0
    value_sum: float = 0.0
    virtual: int = 0  # virtual losses on this node now (parallel leaves selected in one round)
    expanded: bool = False
    terminal: bool = False
    answer: str | None = None  # terminal nodes whose step states a final answer
    reward: float | None = None  # terminal nodes: the verdict on their answer
    reason: str = ""  # why a node is terminal: answer | dead_end
    factor_prior: float | None = None  # factor actions: the probability the search gave this node's factor
    value: float | None = None  # the node's own evaluation (terminal verdict or rollout), the first backed up
    rollout: tuple[str, ...] | None = None  # the steps of the node's own rollout, when it had one
    rollout_answer: str | None = None  # the answer that rollout stated
    rollout_correct: bool | None = None
    hits: int = 0  # evaluations backed up through this node that reached the gold answer (verifier)
    checks: int = 0  # evaluations backed up through this node that the verifier checked (not a value model's alone)
    score: float | None = None  # the value model's P(correct) for this node's step (``--value-model``)
    candidates: tuple[tuple[str, float, bool], ...] | None = None  # ``--best-of``: (text, score, kept) it was chosen from

    def walk(self) -> list[Node]:
        """This node and every node below it, parents before children (depth first, in child order)."""
        out: list[Node] = []
        stack: list[Node] = [self]
        while stack:
            node = stack.pop()
            out.append(node)
            stack.extend(reversed(node.children))
        return out

    @property
    def q(self) -> float:
        return self.value_sum / self.visits if self.visits else 0.0

    @property
    def soft(self) -> float:
        return (self.q + 1.0) / 2.0

    @property
    def wins(self) -> int:
        """Evaluations below this node that reached the gold answer (the verifier's, not a value model's)."""
        return self.hits

    def steps(self) -> list[Step]:
        """The steps from the root down to this node (the root's prefix not included)."""
        out: list[Step] = []
        node: Node | None = self
        while node is not None and node.step is not None:
            out.append(node.step)
            node = node.parent
        return out[::-1]

    def lineage(self) -> list[Node]:
        """The nodes from the root's first child down to this one."""
        out: list[Node] = []
        node: Node | None = self
        while node is not None and node.parent is not None:
            out.append(node)
            node = node.parent
        return out[::-1]

    def add_child(self, step: Step, prior: float, factor_prior: float | None = None) -> Node:
        child = Node(step, parent=self, prior=prior, depth=self.depth + 1, path=self.path + (len(self.children),),
                     factor_prior=factor_prior)
        self.children.append(child)
        return child

    def add_virtual_loss(self) -> None:
        """Count a pending evaluation as a loss on this node and its ancestors, so that the next
        selection of the same round prefers another path (AlphaZero's virtual loss)."""
        node: Node | None = self
        while node is not None:
            node.visits += 1
            node.value_sum -= 1.0
            node.virtual += 1
            node = node.parent

    def revert_virtual_loss(self, applied: bool = True) -> None:
        """Take back one virtual loss of this node's path (before its real value is backed up)."""
        node: Node | None = self
        while applied and node is not None and node.virtual > 0:
            node.visits -= 1
            node.value_sum += 1.0
            node.virtual -= 1
            node = node.parent

    def backup(self, value: float, hit: bool | None = None, checked: bool = True) -> None:
        """Add one evaluation's value to this node and every ancestor; ``hit``: it reached the gold answer
        (default: a positive value, as for the +-1 of rollouts and verdicts); ``checked``: the verifier
        judged it (a rollout or a stated answer), not a value model alone."""
        reached = value > 0 if hit is None else hit
        node: Node | None = self
        while node is not None:
            node.visits += 1
            node.value_sum += value
            node.hits += reached
            node.checks += checked
            node = node.parent


def puct(child: Node, parent_visits: int, c_puct: float) -> float:
    """Q + c · P · sqrt(N_parent) / (1 + N_child), AlphaZero's selection score."""
    return child.q + c_puct * child.prior * math.sqrt(max(parent_visits, 1)) / (1 + child.visits)


def select(root: Node, c_puct: float) -> Node:
    """Walk from the root by highest PUCT (ties: the earlier child) to a leaf."""
    node = root
    while node.expanded and node.children:
        node = max(node.children, key=lambda c: (puct(c, node.visits, c_puct), -c.path[-1]))
    return node


def select_leaves(root: Node, c_puct: float, k: int) -> list[Node]:
    """Up to ``k`` distinct leaves for one round. Each is chosen as ``select`` would, skipping leaves
    already chosen this round (their subtree's next best is taken instead), and adds a virtual loss
    to its path, so that the next choice prefers elsewhere; ``k`` = 1 is ``select``, no virtual loss."""
    if k <= 1:
        return [select(root, c_puct)]
    leaves: list[Node] = []
    taken: set[int] = set()
    for _ in range(k):
        leaf = _free_leaf(root, c_puct, taken)
        if leaf is None:  # every leaf of the tree is taken this round
            break
        taken.add(id(leaf))
        leaf.add_virtual_loss()
        leaves.append(leaf)
    return leaves


def _free_leaf(node: Node, c_puct: float, taken: set[int]) -> Node | None:
    """The best leaf below ``node`` by PUCT that is not in ``taken``; None when there is none."""
    if not (node.expanded and node.children):
        return None if id(node) in taken else node
    for child in sorted(node.children, key=lambda c: (-puct(c, node.visits, c_puct), c.path[-1])):
        leaf = _free_leaf(child, c_puct, taken)
        if leaf is not None:
            return leaf
    return None
