"""Where a search tree shows a mistake and its fix: the sites ``export self-correction`` writes rows from.

Trees are rebuilt from ``expand``'s ``trees`` rows (``schemas.arrow.TREE_SCHEMA``: grouped by
``tree_id``, linked by ``parent`` ids; the root's row holds the problem, the human prefix and the
gold answer). A *site* is

- a located wrong step W: a node below the root none of whose evaluations reached the gold answer
  (``correct == 0``, ``visits >= 1``), whose parent P has another child G with ``correct > 0``,
  so that P's path is the last good prefix;
- a correct continuation from P through G: G's path down to the shallowest node N whose own
  evaluation reached the gold (a terminal step stating a right answer, or a node whose own rollout
  did), then N's rollout.

Rows that cannot make a tree faithfully are counted by reason, never guessed at.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from schemas.records import Step

TREE_COLUMNS = ["id", "tree_id", "parent", "depth", "path", "text", "factor", "visits", "q", "correct", "value",
                "terminal_reason", "answer", "answer_correct", "rollout", "problem", "prefix", "gold_answer",
                "source_kind", "source"]


@dataclass
class TreeNode:
    """One node of a rebuilt tree (the columns this export reads)."""

    id: str
    parent: str | None
    order: tuple[int, ...]  # its path: child order
    text: str
    factor: str | None
    visits: int
    q: float
    correct: int
    terminal_reason: str | None
    answer_correct: bool | None
    rollout: tuple[str, ...] | None
    children: list[TreeNode] = field(default_factory=list)
    up: TreeNode | None = None

    def reached_gold(self) -> bool:
        """Whether the node's own evaluation reached the gold: its step states a right answer, or its rollout did."""
        if self.answer_correct is not True:
            return False
        return self.terminal_reason == "answer" or self.rollout is not None

    def lineage(self) -> list[TreeNode]:
        """The nodes from the root's child down to this one (the root excluded)."""
        out, node = [], self
        while node.up is not None:
            out.append(node)
            node = node.up
        return out[::-1]


@dataclass
class Tree:
    """One root's search tree and what its root row says of the problem."""

    id: str
    root: TreeNode
    problem: str
    prefix: list[Step]
    gold: str
    split: str
    source_kind: str | None
    source: dict[str, Any] | None


@dataclass(frozen=True)
class Site:
    """A located wrong step and a correct continuation from its parent's prefix."""

    tree: Tree
    wrong: TreeNode  # W
    fix: TreeNode  # G, W's sibling
    end: TreeNode  # N, in G's subtree (G itself included): the node whose own evaluation reached the gold

    def prefix(self) -> list[Step]:
        """The root's human steps, then the tree steps down to W's parent."""
        return list(self.tree.prefix) + [Step(n.text, n.factor) for n in self.wrong.lineage()[:-1]]

    def continuation(self) -> list[Step]:
        """G ... N with their tree factors, then N's rollout (untagged), if its evaluation was one."""
        path = self.end.lineage()[len(self.fix.lineage()) - 1:]
        steps = [Step(n.text, n.factor) for n in path]
        if self.end.terminal_reason != "answer":
            steps += [Step(text) for text in self.end.rollout or ()]
        return steps


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _node(row: dict[str, Any]) -> TreeNode | None:
    """The row as a node, or None when it is malformed (a non-root row without its step or statistics)."""
    visits, correct, root = _int(row.get("visits")), _int(row.get("correct")), row.get("parent") is None
    checked = _int(row.get("checked"))
    if row.get("checked") is not None:  # trees of 0.5+: a value model's evaluations alone call no step wrong
        if checked is None or visits is None or correct is None or not correct <= checked <= visits:
            return None
        visits = checked
    rollout = row.get("rollout")
    if visits is None or correct is None or (not root and not isinstance(row.get("text"), str)):
        return None
    if rollout is not None and not all(isinstance(s, str) for s in rollout):
        return None
    return TreeNode(row["id"], row.get("parent"), tuple(row.get("path") or ()), row.get("text") or "", row.get("factor"),
                    visits, float(row.get("q") or 0.0), correct, row.get("terminal_reason"), row.get("answer_correct"),
                    tuple(rollout) if rollout is not None else None)


def _root_ok(row: dict[str, Any]) -> bool:
    prefix = row.get("prefix")
    return (isinstance(row.get("problem"), str) and bool(row["problem"].strip()) and isinstance(row.get("gold_answer"), str)
            and bool(row["gold_answer"].strip()) and isinstance(prefix, list)
            and all(isinstance(s, dict) and isinstance(s.get("text"), str) for s in prefix))


def trees_from_rows(rows: Iterable[tuple[str, dict[str, Any]]], left: collections.Counter[str]) -> list[Tree]:
    """The trees of ``(split, row)`` pairs, in tree id order; a malformed row or tree is counted in ``left``."""
    grouped: dict[str, list[tuple[str, dict[str, Any]]]] = collections.defaultdict(list)
    for split, row in rows:
        if not isinstance(row.get("id"), str) or not isinstance(row.get("tree_id"), str):
            left["malformed_row"] += 1
            continue
        grouped[row["tree_id"]].append((split, row))
    trees = []
    for tree_id in sorted(grouped):
        tree = _tree(tree_id, grouped[tree_id], left)
        if tree is not None:
            trees.append(tree)
    return trees


def _tree(tree_id: str, rows: list[tuple[str, dict[str, Any]]], left: collections.Counter[str]) -> Tree | None:
    roots = [(split, row) for split, row in rows if row.get("parent") is None]
    if len(roots) != 1 or not _root_ok(roots[0][1]):
        left["malformed_tree"] += 1
        return None
    nodes: dict[str, TreeNode] = {}
    for _, row in rows:
        node = _node(row)
        if node is None or node.id in nodes:
            left["malformed_row"] += 1
            continue
        nodes[node.id] = node
    split, top = roots[0]
    if top["id"] not in nodes:
        left["malformed_tree"] += 1
        return None
    for node in nodes.values():
        if node.parent is None:
            continue
        parent = nodes.get(node.parent)
        if parent is None:
            left["orphan_node"] += 1  # its subtree is unreachable from the root: left out with it
            continue
        node.up = parent
        parent.children.append(node)
    for node in nodes.values():
        node.children.sort(key=lambda n: (n.order, n.id))
    prefix = [Step(s["text"], s.get("factor")) for s in top["prefix"]]
    return Tree(tree_id, nodes[top["id"]], top["problem"], prefix, top["gold_answer"], split, top.get("source_kind"),
                top.get("source"))


def _walk(root: TreeNode) -> list[TreeNode]:
    out, stack = [], [root]
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(reversed(node.children))
    return out


def wrong_steps(tree: Tree) -> list[tuple[TreeNode, list[TreeNode]]]:
    """Each located wrong step W with its siblings G that reached the gold (best Q first); shallowest W first."""
    out = []
    for node in _walk(tree.root):
        for child in node.children:
            if child.visits < 1 or child.correct != 0:
                continue
            fixes = sorted((g for g in node.children if g is not child and g.correct > 0),
                           key=lambda g: (-g.q, -g.visits, g.order, g.id))
            if fixes:
                out.append((child, fixes))
    return sorted(out, key=lambda pair: (len(pair[0].order), pair[0].order, pair[0].id))


def correct_end(fix: TreeNode) -> TreeNode | None:
    """The shallowest node of ``fix``'s subtree (``fix`` first) whose own evaluation reached the gold."""
    queue = collections.deque([fix])
    while queue:
        node = queue.popleft()
        if node.reached_gold():
            return node
        queue.extend(node.children)
    return None


def sites(tree: Tree, left: collections.Counter[str]) -> list[Site]:
    """One site per located wrong step of the tree (its best sibling with a correct continuation), shallowest first."""
    out = []
    for wrong, fixes in wrong_steps(tree):
        found = next(((g, end) for g in fixes if (end := correct_end(g)) is not None), None)
        if found is None:
            left["no_continuation"] += 1
            continue
        out.append(Site(tree, wrong, *found))
    return out
