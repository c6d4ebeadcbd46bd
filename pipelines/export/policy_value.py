"""``reverse-o1 export policy-value DIR``: AlphaZero targets over thought factors from ``expand``'s trees.

One row per expanded state of a search run with ``--factor-actions`` (``DIR/trees``): the policy
target ``pi`` is the share of the state's children's visits per thought factor, over the whole
vocabulary in its order (``factors``), zeros included, summing to 1 (AlphaZero's π(a|s) ∝ N(s, a),
the actions being factors); the value targets are ``value_target``, the outcome (+1 reached the gold
answer, -1 did not) of the line the search would play from the state (the most visited child at each
step down to a leaf, the leaf's own evaluation), and ``value_mean``, the state's Q. ``prompt`` is the
problem and the steps so far in the tag format, as the policy sees its own partial CoT.

States of a search without factor actions (children without a factor) have no target over factors
and are left out (``no_factor_actions``), as are states under ``--min-visits`` and trees whose rows
do not make a tree (``broken_tree``: a node whose parent is missing, or no root row); every reason is
counted in the manifest (``exports.policy_value.left_out``).
"""

from __future__ import annotations

import collections
import sys
from typing import Any

import pyarrow as pa

from generators.tagging.rules import RuleTagger
from pipelines.export import files as exports
from pipelines.io import fs, manifest
from schemas.arrow import POLICY_VALUE_SCHEMA, TREE_SCHEMA
from schemas.factors import FactorVocabulary, load_factors
from schemas.records import Step
from schemas.splits import SPLITS
from schemas.tags import THINK_START, render_step

NAME = "policy_value"
DESCRIPTION = ("AlphaZero policy/value targets over thought factors, one row per expanded search state: `prompt` "
               "(problem + tagged steps so far), `pi` (visit share per factor, indexed by `factors`, sums to 1), "
               "`value_target` (+-1), `value_mean` (Q), `visits`, `chosen_factor`. Load: "
               "`load_dataset(DIR, \"policy_value\", split=\"train\")`; policy loss: cross-entropy of the head's "
               "softmax over `factors` against `pi`; value loss: MSE against `value_target`.")
MAX_DEPTH = 10_000  # a longer parent chain is a cycle in hand-made rows


def export_policy_value(out_dir: str, min_visits: int = 1) -> int:
    shards = exports.checked_shards(out_dir, "trees", ["id", "tree_id", "parent", "visits", "q"],
                                    "run `reverse-o1 expand --factor-actions` into it first (0.3 or later)")
    trees: dict[str, list[tuple[str, dict[str, Any]]]] = collections.defaultdict(list)
    optional = tuple(c for c in TREE_SCHEMA.names if c not in ("id", "tree_id", "parent", "visits", "q"))
    for split, row in exports.rows_with_split(shards, "trees", ["id", "tree_id", "parent", "visits", "q"], optional):
        trees[str(row.get("tree_id"))].append((split, row))
    vocabulary = load_factors((manifest.load(out_dir).get("config") or {}).get("factors"))
    tagger = RuleTagger(vocabulary)  # one for every tree: tags the human prefix steps that came without a factor
    left: collections.Counter[str] = collections.Counter()
    rows: dict[str, list[dict[str, Any]]] = {s: [] for s in SPLITS}
    for tree_rows in trees.values():
        for split, row in tree_targets(tree_rows, tagger, min_visits, left):
            rows[split].append(row)
    tables = {s: pa.Table.from_pylist(sorted(r, key=lambda x: x["id"]), schema=POLICY_VALUE_SCHEMA) for s, r in rows.items()}
    export = exports.Export(NAME, tables, POLICY_VALUE_SCHEMA, DESCRIPTION,
                            {"min_visits": min_visits, "factors": list(vocabulary.names)}, dict(left))
    exports.publish(out_dir, export)
    total = sum(export.rows().values())
    skipped = ", ".join(f"{k} {v}" for k, v in sorted(left.items()))
    print(f"export policy-value: {total} states from {len(trees)} trees -> {fs.join(out_dir, NAME)}"
          + (f"; left out: {skipped}" if skipped else ""), file=sys.stderr)
    return 0


def tree_targets(tree_rows: list[tuple[str, dict[str, Any]]], tagger: RuleTagger, min_visits: int,
                 left: collections.Counter[str]) -> list[tuple[str, dict[str, Any]]]:
    """The rows of one tree's expanded states, in the split of its root."""
    vocabulary = tagger.vocabulary
    nodes = {row["id"]: row for _, row in tree_rows}
    children: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    roots = [(split, row) for split, row in tree_rows if row.get("parent") is None]
    for _, row in tree_rows:
        if row.get("parent") is not None:
            children[row["parent"]].append(row)
    if len(roots) != 1 or any(p not in nodes for p in children):
        left["broken_tree"] += 1
        return []
    split, root = roots[0]
    prefix = tagged_prefix(root, tagger)
    out = []
    for row in nodes.values():
        kids = sorted(children.get(row["id"], []), key=lambda r: tuple(r.get("path") or ()))
        if not kids:
            continue
        target = state_target(row, kids, nodes, children, vocabulary, min_visits, left)
        if target is not None:
            steps = path_steps(row, nodes)
            if steps is None:
                left["broken_tree"] += 1
                continue
            out.append((split, target | {"prompt": render_prompt(root.get("problem") or "", prefix + steps)}))
    return out


def state_target(row: dict[str, Any], kids: list[dict[str, Any]], nodes: dict[str, dict[str, Any]],
                 children: dict[str, list[dict[str, Any]]], vocabulary: FactorVocabulary, min_visits: int,
                 left: collections.Counter[str]) -> dict[str, Any] | None:
    """π over the vocabulary, the visits, Q and the value targets of one expanded state (None: left out)."""
    if any(k.get("factor") is None for k in kids):
        left["no_factor_actions"] += 1
        return None
    if any(k["factor"] not in vocabulary for k in kids):
        left["unknown_factor"] += 1
        return None
    if int(row.get("visits") or 0) < min_visits:
        left["under_min_visits"] += 1
        return None
    counts = collections.Counter()
    for k in kids:
        counts[k["factor"]] += max(int(k.get("visits") or 0), 0)
    total = sum(counts.values())
    if total <= 0:
        left["unvisited_children"] += 1
        return None
    best = most_visited(kids)
    outcome = line_outcome(best, children)
    if outcome is None:
        left["unmeasured_outcome"] += 1
        return None
    return {"factors": list(vocabulary.names), "pi": [counts[f] / total for f in vocabulary.names],
            "visits": int(row.get("visits") or 0), "q": float(row.get("q") or 0.0),
            "value_target": outcome, "value_mean": float(row.get("q") or 0.0),
            "chosen_factor": best["factor"], "id": row["id"], "tree_id": row["tree_id"], "depth": row.get("depth"),
            "source_kind": row.get("source_kind"), "source": row.get("source")}


def most_visited(kids: list[dict[str, Any]]) -> dict[str, Any]:
    """The child the search would play: most visits, then higher Q, then the earlier child."""
    return max(kids, key=lambda k: (int(k.get("visits") or 0), float(k.get("q") or 0.0), [-x for x in k.get("path") or []]))


def line_outcome(node: dict[str, Any], children: dict[str, list[dict[str, Any]]]) -> float | None:
    """+1 when the line of most visited children from ``node`` ends at a leaf whose own evaluation reached
    the gold answer, else -1 (no evaluation: -1, as the search scored it); None when only a value model
    evaluated the leaf (``checked`` 0: ``expand --value-model``): a guess, not an outcome."""
    for _ in range(MAX_DEPTH):
        kids = children.get(node["id"])
        if not kids:
            break
        node = most_visited(kids)
    checked = node.get("checked")
    if isinstance(checked, int) and not isinstance(checked, bool):  # trees of 0.5+
        if checked <= 0:
            return None
        return 1.0 if node.get("answer_correct") is True else -1.0  # the verifier's, whatever a value model said
    value = node.get("value")
    return 1.0 if value is not None and value > 0 else -1.0


def path_steps(row: dict[str, Any], nodes: dict[str, dict[str, Any]]) -> list[Step] | None:
    """The tree's steps from the root down to ``row`` (None: the chain is broken or loops)."""
    steps: list[Step] = []
    for _ in range(MAX_DEPTH):
        if row.get("parent") is None:
            return steps[::-1]
        steps.append(Step(str(row.get("text") or ""), row.get("factor")))
        row = nodes.get(row["parent"])  # type: ignore[assignment]
        if row is None:
            return None
    return None


def tagged_prefix(root: dict[str, Any], tagger: RuleTagger) -> list[Step]:
    """The cut's human steps, each with its factor, or the rule tagger's where the annotator gave none."""
    steps = [Step(str(s.get("text") or ""), s.get("factor")) for s in root.get("prefix") or [] if isinstance(s, dict)]
    if all(s.factor in tagger.vocabulary for s in steps):
        return steps
    decisions = tagger.tag(steps, root.get("problem") or "")
    return [s if s.factor in tagger.vocabulary else Step(s.text, d.factor) for s, d in zip(steps, decisions, strict=True)]


def render_prompt(problem: str, steps: list[Step]) -> str:
    """The problem, a blank line, then the CoT so far in the tag format (open: the next step is the action)."""
    body = "".join(render_step(step, i) + "\n" for i, step in enumerate(steps))
    return f"{problem.strip()}\n\n{THINK_START}\n{body}"
