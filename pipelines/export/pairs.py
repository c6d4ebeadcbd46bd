"""``reverse-o1 export pairs DIR``: preference pairs in TRL's format, from the rows a run wrote.

Two configs of the dataset, each ``DIR/NAME/SPLIT.parquet``, in the split of the rows they came from:

- ``pairs_trajectory`` (conversational, as the SFT rows): for one prompt, a verified answer
  (``chosen``) against one its verifier found wrong (``rejected``; rows nothing checked are left
  out); at most ``--max-pairs-per-problem`` per prompt, every row used before any is used twice.
- ``pairs_step`` (plain text): from ``expand``'s search trees (the PRM rows' ``nodes``), two
  candidate next steps of one node, the one with the higher Q ``chosen``, when their Q differs by
  at least ``--min-margin``; the problem and the steps before as the prompt (rStar-Math's process
  preference pairs: highest against lowest Q; ``--per-prefix K`` takes the K best against the K
  worst). A DPO loss on such a pair is the loss on prefix + chosen step against prefix + rejected
  step, the shared prefix cancelling out.

Each row carries both sides' ids (SFT row ids, tree node ids) and values. Rows that cannot make a
pair faithfully are counted by reason on stderr and in the manifest (``exports.NAME.left_out``).
"""

from __future__ import annotations

import collections
import sys
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from common.errors import ConfigError
from pipelines.export import files as exports
from pipelines.io import fs
from pipelines.io.resume import shard_files
from schemas.arrow import STEP_PAIR_SCHEMA, TRAJECTORY_PAIR_SCHEMA
from schemas.ids import content_id
from schemas.splits import SPLITS

SFT_COLUMNS = ["id", "source_kind", "source", "problem", "messages", "verified", "verifier"]
UNCHECKED = "none"  # the verifier of rows nothing checked (Lean without a toolchain, tag): not wrong, unknown
PRM_COLUMNS = ["id", "prompt", "completions", "source_kind", "source"]
TRAJECTORY_DESCRIPTION = ("Preference pairs (TRL conversational): `prompt` (the user's problem), `chosen` (a verified "
                          "answer), `rejected` (an unverified one to the same problem), with both SFT row ids.")
STEP_DESCRIPTION = ("Step preference pairs from the MCTS trees (TRL standard text): `prompt` (problem and the steps so far), "
                    "`chosen`/`rejected` (two candidate next steps, higher Q chosen), with both node ids, Q and visits.")


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


def step_prompt(problem: str, prefix: tuple[str, ...]) -> str:
    """The problem, a blank line, then each step so far on its own line."""
    return problem.strip() + "\n\n" + "".join(f"{step}\n" for step in prefix)


def candidates(rows: Any, skipped: collections.Counter[str]) -> dict[str, dict[str, Candidate]]:
    """parent id → node id → candidate, from PRM rows with ``nodes`` (each node once, however many
    trajectories pass through it)."""
    groups: dict[str, dict[str, Candidate]] = collections.defaultdict(dict)
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
            seen = groups[cand.parent].get(cand.node)
            if seen is not None and (seen.text, seen.prefix) != (cand.text, cand.prefix):
                skipped["conflicting_node"] += 1
                continue
            groups[cand.parent][cand.node] = cand
    return groups


def step_pairs(groups: dict[str, dict[str, Candidate]], min_margin: float, per_prefix: int) -> list[tuple[str, dict[str, Any]]]:
    """``(split, row)`` per pair: for each parent, the ``per_prefix`` best against as many worst
    candidates, while the Q gap is at least ``min_margin``."""
    out = []
    for parent in sorted(groups):
        ranked = sorted(groups[parent].values(), key=lambda c: (-c.q, -c.visits, c.node))
        for i in range(min(per_prefix, len(ranked) // 2)):
            hi, lo = ranked[i], ranked[-1 - i]
            if hi.q <= lo.q or hi.q - lo.q < min_margin:
                break  # the gaps only shrink from here; a tie is never a preference
            if hi.text == lo.text:
                continue
            out.append((hi.split, {
                "prompt": step_prompt(hi.problem, hi.prefix), "chosen": hi.text, "rejected": lo.text,
                "id": content_id("step_pair", hi.node, lo.node), "chosen_id": hi.node, "rejected_id": lo.node,
                "parent_id": parent, "chosen_value": hi.q, "rejected_value": lo.q, "chosen_visits": hi.visits,
                "rejected_visits": lo.visits, "margin": hi.q - lo.q, "source_kind": hi.source_kind, "source": hi.source,
            }))
    return out


def _turns(row: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]] | None:
    messages = row.get("messages") or []
    if len(messages) != 2 or messages[0].get("role") != "user" or messages[1].get("role") != "assistant":
        return None
    return messages[0], messages[1]


def trajectory_pairs(rows: Any, max_per_problem: int, skipped: collections.Counter[str]) -> list[tuple[str, dict[str, Any]]]:
    """``(split, row)`` per pair of a verified and an unverified SFT row with the same user turn (the
    same prompt, exactly); a row nothing checked (verifier ``none``) is neither side."""
    by_problem: dict[tuple[str, str], tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {}
    for split, row in rows:
        turns = _turns(row)
        if turns is None:
            skipped["no_messages"] += 1
            continue
        if row.get("verified") is not True and row.get("verifier") in (UNCHECKED, None):
            skipped["unchecked"] += 1
            continue
        good, bad = by_problem.setdefault((split, turns[0]["content"]), ([], []))
        (good if row.get("verified") is True else bad).append(row)
    out = []
    for (split, _key), (good, bad) in sorted(by_problem.items()):
        if not good or not bad:
            skipped["one_sided_problem"] += 1
            continue
        good.sort(key=lambda r: r["id"])
        bad.sort(key=lambda r: r["id"])
        for i in range(min(max_per_problem, max(len(good), len(bad)))):
            win, lose = good[i % len(good)], bad[i % len(bad)]
            user, chosen = _turns(win)  # type: ignore[misc]
            _, rejected = _turns(lose)  # type: ignore[misc]
            out.append((split, {
                "prompt": [user], "chosen": [chosen], "rejected": [rejected],
                "id": content_id("trajectory_pair", win["id"], lose["id"]), "chosen_id": win["id"], "rejected_id": lose["id"],
                "chosen_value": 1.0, "rejected_value": 0.0, "source_kind": win.get("source_kind"), "source": win.get("source"),
            }))
    return out


def _tables(pairs: list[tuple[str, dict[str, Any]]], schema: pa.Schema) -> dict[str, pa.Table]:
    by_split: dict[str, list[dict[str, Any]]] = {s: [] for s in SPLITS}
    for split, row in pairs:
        by_split[split].append(row)
    return {s: pa.Table.from_pylist(sorted(rows, key=lambda r: r["id"]), schema=schema) for s, rows in by_split.items()}


def _counts(pairs: list[tuple[str, dict[str, Any]]]) -> dict[str, int]:
    counter = collections.Counter(split for split, _ in pairs)
    return {s: counter[s] for s in SPLITS}


def export_pairs(out_dir: str, kinds: str, min_margin: float, per_prefix: int, max_per_problem: int) -> int:
    """Write ``pairs_trajectory`` and/or ``pairs_step`` into DIR and add them to its card."""
    if not fs.is_folder(out_dir):
        raise ConfigError(f"{out_dir}: no such directory")
    if min_margin < 0 or per_prefix < 1 or max_per_problem < 1:
        raise ConfigError("--min-margin must be >= 0, --per-prefix and --max-pairs-per-problem >= 1")
    skipped: collections.Counter[str] = collections.Counter()
    lines: list[str] = []
    done: list[exports.Export] = []
    if kinds in ("both", "trajectory"):
        hint = "run a command that writes SFT rows (expand, code-cot, lean-cot, tag) into it first"
        if kinds == "trajectory" or shard_files(out_dir, "sft"):
            shards = exports.checked_shards(out_dir, "sft", SFT_COLUMNS, hint)
            pairs = trajectory_pairs(exports.rows_with_split(shards, "sft", SFT_COLUMNS), max_per_problem, skipped)
            done.append(exports.Export("pairs_trajectory", _tables(pairs, TRAJECTORY_PAIR_SCHEMA), TRAJECTORY_PAIR_SCHEMA,
                                       TRAJECTORY_DESCRIPTION, {"max_pairs_per_problem": max_per_problem}, dict(skipped)))
            lines.append(f"{len(pairs)} trajectory pairs ({_split_text(pairs)}) -> {fs.join(out_dir, 'pairs_trajectory')}")
    if kinds in ("both", "step"):
        hint = "run `reverse-o1 expand` into it first (step pairs come from its search trees)"
        if kinds == "step" or shard_files(out_dir, "prm"):
            shards = exports.checked_shards(out_dir, "prm", PRM_COLUMNS, hint)
            step_skipped: collections.Counter[str] = collections.Counter()
            groups = candidates(exports.rows_with_split(shards, "prm", PRM_COLUMNS, optional=("nodes",)), step_skipped)
            skipped.update(step_skipped)
            pairs = step_pairs(groups, min_margin, per_prefix)
            done.append(exports.Export("pairs_step", _tables(pairs, STEP_PAIR_SCHEMA), STEP_PAIR_SCHEMA, STEP_DESCRIPTION,
                                       {"min_margin": min_margin, "per_prefix": per_prefix}, dict(step_skipped)))
            lines.append(f"{len(pairs)} step pairs ({_split_text(pairs)}) from {len(groups)} tree nodes with candidates "
                         f"-> {fs.join(out_dir, 'pairs_step')}")
    if not lines:
        raise ConfigError(f"{out_dir}: no SFT or PRM shards to pair; run expand (or another command) into it first")
    exports.publish(out_dir, *done)
    detail = ", ".join(f"{reason} {n}" for reason, n in sorted(skipped.items()))
    print("export pairs: " + "; ".join(lines) + (f"; left out: {detail}" if skipped else ""), file=sys.stderr)
    return 0


def _split_text(pairs: list[tuple[str, dict[str, Any]]]) -> str:
    counts = _counts(pairs)
    return ", ".join(f"{s} {counts[s]}" for s in SPLITS if counts[s] or s == "train")
