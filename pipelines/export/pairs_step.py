"""Step preference pairs (``pairs_step``) from ``expand``'s search trees: two candidate next steps of
one tree node, sharing the prompt (the problem and the steps so far).

The trees are read from ``DIR/trees`` (``schemas.arrow.TREE_SCHEMA``: one row per node, grouped by
``tree_id`` and rebuilt from the ``parent`` ids); a tree whose rows do not make one (no root or
several, a node detached from the root by a missing parent or a cycle, a row of the wrong types) is
counted by reason and paired only where it is sound, never a crash. A folder without trees shards
but with PRM rows carrying ``nodes`` (an ``expand`` run before 0.3) is still read for ``--rule
q-gap``, from those nodes (each trajectory's nodes, so only the candidates on a found trajectory);
``--rule rstar`` needs the trees' ``correct`` counts and counts such rows ``no_trees``.

Two rules. Candidates are the children of an expanded node with at least ``--min-visits`` visits
(a Q from one rollout is a coin toss, not a preference).

- ``rstar`` (default), rStar-Math's process preference pairs (Guan et al. 2025, arXiv:2501.04519,
  §3.3; microsoft/rStar, branch ``rStar-math``, ``extra_rm_file.py``, ``search_all_traces``, commit
  b3c1846; issue microsoft/rStar#32 on pairs sharing their preceding steps): per node, the ``K``
  (``--per-prefix``, default 2) highest-Q candidates with a correct evaluation below (``correct`` >
  0) against the ``K`` lowest-Q ones with a wrong evaluation below (``visits - correct`` > 0: a wrong
  answer or none; rStar-Math counts only wrong answers, its code errors apart), every chosen with
  every rejected; with one such candidate on a side, up to ``2K`` on the other (as the reference
  code does). A pair needs chosen Q > rejected Q, and, as in the reference code, the mean Q of the
  chosen step's best line below (following the highest-Q child with a correct evaluation) above the
  mean Q of the rejected step's worst line (the lowest-Q child with a wrong one). Final-answer
  steps are paired as whole trajectories by mean Q (``pairs_trajectory``), as rStar-Math does.
- ``q-gap``: the ``K`` highest-Q candidates against the ``K`` lowest, while the Q gap is at least
  ``--min-margin`` (0.2's rule, now with the visit floor).

A DPO loss on such a pair is the loss on prefix + chosen step against prefix + rejected step, the
shared prefix cancelling out.
"""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass
from typing import Any

from schemas.ids import content_id

TREE_COLUMNS = ["id", "tree_id", "parent", "text", "visits", "q", "correct", "problem", "prefix", "source_kind", "source"]
PRM_NODE_COLUMNS = ["id", "prompt", "completions", "source_kind", "source"]


@dataclass(frozen=True)
class Candidate:
    """One tree node as a candidate next step of its parent."""

    node: str
    parent: str
    text: str
    prefix: tuple[str, ...]
    problem: str
    q: float
    visits: int
    source_kind: str | None
    source: dict[str, Any] | None
    split: str
    correct: int | None = None  # evaluations below that reached the gold answer (trees only)
    best_line: float = 0.0  # mean Q of the line below through correct evaluations (rStar-Math's chosen_steps)
    worst_line: float = 0.0  # mean Q of the line below through wrong ones (its rejected_steps)
    checked: int | None = None  # evaluations below that the verifier judged (trees of 0.5+; None: all visits)

    @property
    def wrong(self) -> int:
        """Checked evaluations below that did not reach the gold answer (a value model's score alone is none)."""
        return (self.visits if self.checked is None else self.checked) - (self.correct or 0)


def step_prompt(problem: str, prefix: tuple[str, ...]) -> str:
    """The problem, a blank line, then each step so far on its own line."""
    return problem.strip() + "\n\n" + "".join(f"{step}\n" for step in prefix)


# -- trees ---------------------------------------------------------------------------------------

@dataclass
class Tree:
    """One root's tree rebuilt from its rows: the rows by id, the children by parent id."""

    root: str
    split: str
    rows: dict[str, dict[str, Any]]
    children: dict[str, list[str]]


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _sound(row: dict[str, Any]) -> bool:
    """The columns a pair reads have their types: ids text, counts whole and consistent, Q a finite number."""
    ids = isinstance(row.get("id"), str) and row["id"] and isinstance(row.get("tree_id"), str) and row["tree_id"]
    parent = row.get("parent")
    if not ids or not (parent is None or (isinstance(parent, str) and parent)):
        return False
    q, visits, correct = row.get("q"), row.get("visits"), row.get("correct")
    if not (_count(visits) and _count(correct) and correct <= visits):
        return False
    checked = row.get("checked")  # trees of 0.5+: the verifier's evaluations, between correct and visits
    if checked is not None and not (_count(checked) and correct <= checked <= visits):
        return False
    if isinstance(q, bool) or not isinstance(q, (int, float)) or not math.isfinite(q) or abs(q) > 1:
        return False
    if parent is not None:
        return isinstance(row.get("text"), str)
    prefix = row.get("prefix") or []
    return isinstance(row.get("problem"), str) and isinstance(prefix, list) and all(
        isinstance(s, dict) and isinstance(s.get("text"), str) for s in prefix)


def read_trees(rows: Any, skipped: collections.Counter[str]) -> list[Tree]:
    """The trees of ``(split, row)`` pairs. Left out and counted: rows of the wrong types
    (``malformed_tree_row``), a second row of one id with other content (``conflicting_node``), a
    tree without exactly one root (``malformed_tree``, its rows with it), and nodes the root does
    not reach (``detached_node``: a parent missing from the tree, or a cycle)."""
    by_tree: dict[str, dict[str, tuple[str, dict[str, Any]]]] = collections.defaultdict(dict)
    for split, row in rows:
        if not _sound(row):
            skipped["malformed_tree_row"] += 1
            continue
        nodes = by_tree[row["tree_id"]]
        seen = nodes.get(row["id"])
        if seen is not None:
            if seen[1] != row:
                skipped["conflicting_node"] += 1
            continue
        nodes[row["id"]] = (split, row)
    trees = []
    for tree_id in sorted(by_tree):
        nodes = by_tree[tree_id]
        roots = [ident for ident, (_, row) in nodes.items() if row["parent"] is None]
        if len(roots) != 1:
            skipped["malformed_tree"] += 1
            continue
        children: dict[str, list[str]] = collections.defaultdict(list)
        for ident, (_, row) in nodes.items():
            if row["parent"] is not None:
                children[row["parent"]].append(ident)
        reached, todo = {roots[0]}, [roots[0]]
        while todo:
            for child in children.get(todo.pop(), []):
                if child not in reached:
                    reached.add(child)
                    todo.append(child)
        if len(reached) < len(nodes):
            skipped["detached_node"] += len(nodes) - len(reached)
        kept = {ident: row for ident, (_, row) in nodes.items() if ident in reached}
        kids = {p: sorted(c for c in cs if c in reached) for p, cs in children.items() if p in reached}
        trees.append(Tree(roots[0], nodes[roots[0]][0], kept, kids))
    return trees


def checked(row: dict[str, Any]) -> int:
    """A tree row's evaluations the verifier judged: ``checked`` where the row has it, else its visits."""
    return row["visits"] if row.get("checked") is None else int(row["checked"])


def _line(tree: Tree, start: str, best: bool) -> float:
    """Mean Q of the line from ``start`` down: each time the highest-Q child with a correct evaluation
    below (``best``), or the lowest-Q child with a wrong one (rStar-Math's ``build_partial_solution``)."""
    qs, node = [], start
    while True:
        qs.append(float(tree.rows[node]["q"]))
        rows = [tree.rows[c] for c in tree.children.get(node, [])]
        rows = [r for r in rows if (r["correct"] > 0 if best else checked(r) > r["correct"])]
        if not rows:
            return sum(qs) / len(qs)
        node = (max if best else min)(rows, key=lambda r: float(r["q"]))["id"]  # ties: the first child by id


def tree_candidates(trees: list[Tree], min_visits: int,
                    skipped: collections.Counter[str]) -> dict[str, dict[str, Candidate]]:
    """``TREE_ID/PARENT_ID`` → node id → candidate: the children of every expanded node with at least
    ``min_visits`` visits (the others counted ``below_min_visits``)."""
    groups: dict[str, dict[str, Candidate]] = {}
    for tree in trees:
        root = tree.rows[tree.root]
        name = f"{root['tree_id']}/"
        head = tuple(s["text"] for s in root.get("prefix") or [])
        todo: list[tuple[str, tuple[str, ...]]] = [(tree.root, head)]
        while todo:
            parent, prefix = todo.pop()
            for child in tree.children.get(parent, []):
                row = tree.rows[child]
                todo.append((child, prefix + (row["text"],)))
                if row["visits"] < min_visits:
                    skipped["below_min_visits"] += 1
                    continue
                groups.setdefault(name + parent, {})[child] = Candidate(
                    child, parent, row["text"], prefix, root["problem"], float(row["q"]), row["visits"],
                    root.get("source_kind"), root.get("source"), tree.split, row["correct"],
                    _line(tree, child, True), _line(tree, child, False), row.get("checked"))
    return groups


def prm_candidates(rows: Any, min_visits: int, skipped: collections.Counter[str]) -> dict[str, dict[str, Candidate]]:
    """parent id → node id → candidate, from PRM rows with ``nodes`` (each node once, however many
    trajectories pass through it): the reading of folders written before ``trees`` existed."""
    groups: dict[str, dict[str, Candidate]] = collections.defaultdict(dict)
    low: set[str] = set()
    for split, row in rows:
        nodes, steps = row.get("nodes"), row.get("completions") or []
        if not nodes:
            continue  # not a tree search's row (label's)
        if len(nodes) != len(steps) or not isinstance(row.get("prompt"), str):
            skipped["malformed_tree_row"] += 1
            continue
        for i, node in enumerate(nodes):
            if not node or not node.get("parent") or not node.get("id") or node.get("q") is None:
                continue  # a human prefix step, a rollout step, or the root
            cand = Candidate(node["id"], node["parent"], steps[i] or "", tuple(s or "" for s in steps[:i]), row["prompt"],
                             float(node["q"]), int(node.get("visits") or 0), row.get("source_kind"), row.get("source"), split)
            if cand.visits < min_visits:
                low.add(cand.node)
                continue
            seen = groups[cand.parent].get(cand.node)
            if seen is not None and (seen.text, seen.prefix) != (cand.text, cand.prefix):
                skipped["conflicting_node"] += 1
                continue
            groups[cand.parent][cand.node] = cand
    if low:
        skipped["below_min_visits"] += len(low)
    return groups


# -- the rules -----------------------------------------------------------------------------------

def _pair(hi: Candidate, lo: Candidate) -> tuple[str, dict[str, Any]]:
    return hi.split, {
        "prompt": step_prompt(hi.problem, hi.prefix), "chosen": hi.text, "rejected": lo.text,
        "id": content_id("step_pair", hi.node, lo.node), "chosen_id": hi.node, "rejected_id": lo.node,
        "parent_id": hi.parent, "chosen_value": hi.q, "rejected_value": lo.q, "chosen_visits": hi.visits,
        "rejected_visits": lo.visits, "margin": hi.q - lo.q, "source_kind": hi.source_kind, "source": hi.source,
    }


def step_pairs(groups: dict[str, dict[str, Candidate]], min_margin: float, per_prefix: int) -> list[tuple[str, dict[str, Any]]]:
    """``--rule q-gap``: ``(split, row)`` per pair: for each parent, the ``per_prefix`` best against as
    many worst candidates, while the Q gap is at least ``min_margin``."""
    out = []
    for parent in sorted(groups):
        ranked = sorted(groups[parent].values(), key=lambda c: (-c.q, -c.visits, c.node))
        for i in range(min(per_prefix, len(ranked) // 2)):
            hi, lo = ranked[i], ranked[-1 - i]
            if hi.q <= lo.q or hi.q - lo.q < min_margin:
                break  # the gaps only shrink from here; a tie is never a preference
            if hi.text != lo.text:
                out.append(_pair(hi, lo))
    return out


def rstar_pairs(groups: dict[str, dict[str, Candidate]], per_prefix: int,
                skipped: collections.Counter[str]) -> list[tuple[str, dict[str, Any]]]:
    """``--rule rstar``: ``(split, row)`` per pair (see the module's docstring). Counted: nodes whose
    candidates never reached the gold answer (``node_without_correct``) or never missed it
    (``node_without_wrong``), and candidate pairs that fail a condition (``not_higher_q``,
    ``line_not_higher``, ``same_text``)."""
    out = []
    for parent in sorted(groups):
        cands = groups[parent].values()
        good = sorted((c for c in cands if c.correct), key=lambda c: (-c.q, -c.visits, c.node))
        bad = sorted((c for c in cands if c.correct is not None and c.wrong > 0),
                     key=lambda c: (c.q, -c.visits, c.node))
        if not good or not bad:
            skipped["node_without_correct" if not good else "node_without_wrong"] += 1
            continue
        chosen, rejected = good[:per_prefix], bad[:per_prefix]
        if len(chosen) == 1:
            rejected = bad[:2 * per_prefix]
        if len(rejected) == 1:
            chosen = good[:2 * per_prefix]
        for hi in chosen:
            for lo in rejected:
                if hi.node == lo.node:
                    continue  # one candidate with both outcomes below is on both sides: no pair with itself
                reason = ("not_higher_q" if hi.q <= lo.q else "line_not_higher" if hi.best_line <= lo.worst_line
                          else "same_text" if hi.text == lo.text else None)
                if reason:
                    skipped[reason] += 1
                else:
                    out.append(_pair(hi, lo))
    return out
