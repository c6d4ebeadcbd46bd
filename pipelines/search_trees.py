"""``expand``'s search trees as rows: every node of every root's tree (``DIR/trees``, ``TREE_SCHEMA``).

Stage ``trees``: one read per searched seed, written as all its nodes' rows (parents first), the
roots, dead ends and children never selected included, so that the tree can be rebuilt from the
rows (``parent`` ids) and read by ``export policy-value``, ``export pairs``, the studio and ``report``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from generators.search.mcts import SearchResult, SearchRoot
from generators.search.tree import Node
from pipelines.stage.kernel import Emit, Stage
from schemas.ids import content_id
from schemas.records import GeneratorInfo, Trajectory


@dataclass(frozen=True)
class SearchDone:
    """One seed's finished search, on its way to rows: what ``TrajectoryRowsFn`` needs."""

    seed: Trajectory
    key: str  # the seed's resume key (its state file under ``DIR/.state/expand/``)
    cuts: list[int]
    roots: list[SearchRoot]
    results: list[SearchResult]
    generator: GeneratorInfo
    value_model: str = ""  # the search's value model (``MCTSSettings.value_model``), "" for none
    value_mix: float = 1.0


def node_id(key: str, cut: int, node: Node) -> str:
    """A tree node's id: the seed's search (``key`` hashes seed and settings), the cut, the node's path."""
    return content_id("node", key, cut, list(node.path), length=16)


def tree_id(key: str, cut: int) -> str:
    return content_id("tree", key, cut, length=16)


def tree_node_ids(done: SearchDone) -> list[str]:
    return [node_id(done.key, cut, node) for cut, result in zip(done.cuts, done.results, strict=True)
            for node in result.root.walk()]


def tree_node_rows(done: SearchDone) -> list[dict[str, Any]]:
    """Every node of every root's tree as a ``trees`` row (``schemas.arrow.TREE_SCHEMA``), parents first."""
    seed, generator = done.seed, done.generator
    common = {"seed_id": seed.id, "source_kind": seed.source_kind, "source": dataclasses.asdict(seed.source),
              "generator": dataclasses.asdict(generator), "value_model": done.value_model or None,
              "value_mix": done.value_mix if done.value_model else None}
    rows: list[dict[str, Any]] = []
    for cut, root, result in zip(done.cuts, done.roots, done.results, strict=True):
        tree = tree_id(done.key, cut)
        for node in result.root.walk():
            rows.append(node_row(node, done.key, cut, tree) | root_fields(node, seed, root.prefix) | {"cut": cut} | common)
    return rows


def node_row(node: Node, key: str, cut: int, tree: str) -> dict[str, Any]:
    """The node's own columns: ids, the step, the search's statistics, its own evaluation."""
    step, parent = node.step, node.parent
    stated = node.reason == "answer"
    return {
        "id": node_id(key, cut, node), "tree_id": tree, "parent": node_id(key, cut, parent) if parent else None,
        "depth": node.depth, "path": list(node.path), "text": step.text if step else None,
        "factor": step.factor if step else None, "prior": node.prior if parent else None,
        "factor_prior": node.factor_prior, "visits": node.visits, "value_sum": node.value_sum, "q": node.q,
        "correct": node.wins, "value": node.value, "expanded": node.expanded, "terminal_reason": node.reason or None,
        "answer": node.answer if stated else node.rollout_answer,
        "answer_correct": (node.reward is not None and node.reward > 0) if stated else node.rollout_correct,
        "rollout": list(node.rollout) if node.rollout is not None else None, "score": node.score, "checked": node.checks,
        "candidates": None if node.candidates is None else [{"text": t, "score": sc, "kept": k} for t, sc, k in node.candidates],
    }


def root_fields(node: Node, seed: Trajectory, prefix: Any) -> dict[str, Any]:
    """What only a root's row carries: the problem, the cut's human steps and the gold answer."""
    if node.parent is not None:
        return {"problem": None, "prefix": None, "gold_answer": None}
    return {"problem": seed.problem, "prefix": [dataclasses.asdict(s) for s in prefix], "gold_answer": seed.gold_answer}


class TreeRowsFn(Stage):
    """A finished search → the rows of its trees (stage ``trees``); rows already written are not again."""

    def __init__(self, stage: str = "trees"):
        super().__init__(stage)

    def ref(self, done: SearchDone) -> str:
        return done.seed.ref

    def run(self, done: SearchDone, trees_done: frozenset[str] = frozenset()) -> Any:
        rows = tree_node_rows(done)
        self.stat("nodes", len(rows))
        return Emit(*[r for r in rows if r["id"] not in trees_done])
