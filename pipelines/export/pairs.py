"""``reverse-o1 export pairs DIR``: preference pairs in TRL's format, from the rows a run wrote.

Two configs of the dataset, each ``DIR/NAME/SPLIT.parquet``, in the split of the rows they came from:

- ``pairs_trajectory`` (conversational, as the SFT rows): for one prompt, a verified answer
  (``chosen``) against one its verifier found wrong (``rejected``; rows nothing checked are left
  out); at most ``--max-pairs-per-problem`` per prompt, every row used before any is used twice.
  Where the search gave a trajectory a Q (the ``mcts`` PRM row of the same problem and steps: the
  mean of its non-null ``q_values``), the verified rows go from the highest mean Q down and the
  unverified ones from the lowest up, so the first pairs are the best against the worst (rStar-Math's
  final-answer pairs: whole trajectories ranked by mean Q); rows without a Q follow, in id order.
- ``pairs_step`` (plain text): two candidate next steps of one search-tree node, the prompt the
  problem and the steps before (``pipelines.export.pairs_step``: ``--rule rstar``, rStar-Math's
  rule, or ``--rule q-gap``; ``--min-visits``).

Each row carries both sides' ids (SFT row ids, tree node ids) and values. Rows that cannot make a
pair faithfully are counted by reason on stderr and in the manifest (``exports.NAME.left_out``).
"""

from __future__ import annotations

import collections
import math
import sys
from typing import Any

import pyarrow as pa

from common.errors import ConfigError
from pipelines.export import files as exports
from pipelines.export.pairs_step import (
    PRM_NODE_COLUMNS,
    TREE_COLUMNS,
    Candidate,
    prm_candidates,
    read_trees,
    rstar_pairs,
    step_pairs,
    step_prompt,
    tree_candidates,
)
from pipelines.io import fs
from pipelines.io.resume import shard_files
from schemas.arrow import STEP_PAIR_SCHEMA, TRAJECTORY_PAIR_SCHEMA
from schemas.ids import content_id
from schemas.splits import SPLITS

__all__ = ["Candidate", "export_pairs", "step_pairs", "step_prompt", "trajectory_pairs"]

SFT_COLUMNS = ["id", "source_kind", "source", "problem", "messages", "verified", "verifier"]
UNCHECKED = "none"  # the verifier of rows nothing checked (Lean without a toolchain, tag): not wrong, unknown
PRM_COLUMNS = PRM_NODE_COLUMNS
RULES = ("rstar", "q-gap")
TRAJECTORY_DESCRIPTION = ("Preference pairs (TRL conversational): `prompt` (the user's problem), `chosen` (a verified "
                          "answer), `rejected` (an unverified one to the same problem), with both SFT row ids; where the "
                          "search gave them a Q, the highest mean Q verified against the lowest unverified first.")
STEP_DESCRIPTION = ("Step preference pairs from the MCTS trees (TRL standard text): `prompt` (problem and the steps so far), "
                    "`chosen`/`rejected` (two candidate next steps, higher Q chosen), with both node ids, Q and visits.")
STEP_HINT = "run `reverse-o1 expand` into it first (step pairs come from its search trees, DIR/trees)"
Key = tuple[Any, str, tuple[str, ...]]


def _turns(row: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]] | None:
    messages = row.get("messages") or []
    if len(messages) != 2 or messages[0].get("role") != "user" or messages[1].get("role") != "assistant":
        return None
    return messages[0], messages[1]


def trajectory_key(source_kind: Any, problem: str, steps: list[str]) -> Key:
    return source_kind, problem, tuple(steps)


def trajectory_q(rows: Any) -> dict[Key, float]:
    """(source kind, problem, step texts) → mean Q of the search's PRM rows of that trajectory: the
    mean of each row's non-null ``q_values`` (``mcts`` rows; other methods have none)."""
    means: dict[Key, list[float]] = collections.defaultdict(list)
    for _split, row in rows:
        qs = [float(q) for q in row.get("q_values") or []
              if isinstance(q, (int, float)) and not isinstance(q, bool) and math.isfinite(q)]
        steps = row.get("completions") or []
        if qs and isinstance(row.get("prompt"), str) and all(isinstance(t, str) for t in steps):
            means[trajectory_key(row.get("source_kind"), row["prompt"], steps)].append(sum(qs) / len(qs))
    return {key: sum(v) / len(v) for key, v in means.items()}


def _row_q(row: dict[str, Any], q: dict[Key, float]) -> float | None:
    steps = row.get("steps") or []
    if not q or not isinstance(row.get("problem"), str) or not all(isinstance(s, dict) for s in steps):
        return None
    return q.get(trajectory_key(row.get("source_kind"), row["problem"], [s.get("text") for s in steps]))


def trajectory_pairs(rows: Any, max_per_problem: int, skipped: collections.Counter[str],
                     q: dict[Key, float] | None = None) -> list[tuple[str, dict[str, Any]]]:
    """``(split, row)`` per pair of a verified and an unverified SFT row with the same user turn (the
    same prompt, exactly); a row nothing checked (verifier ``none``) is neither side. With ``q``
    (``trajectory_q``), the verified rows by mean Q from the highest, the unverified from the lowest,
    rows without a Q after them (by id)."""
    q = q or {}
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
        means = {id(r): _row_q(r, q) for r in good + bad}
        good.sort(key=lambda r: (0, -means[id(r)], r["id"]) if means[id(r)] is not None else (1, 0.0, r["id"]))
        bad.sort(key=lambda r: (0, means[id(r)], r["id"]) if means[id(r)] is not None else (1, 0.0, r["id"]))
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


def _trajectory_export(out_dir: str, kinds: str, max_per_problem: int,
                       skipped: collections.Counter[str]) -> tuple[exports.Export, str] | None:
    hint = "run a command that writes SFT rows (expand, code-cot, lean-cot, tag) into it first"
    if kinds != "trajectory" and not shard_files(out_dir, "sft"):
        return None
    shards = exports.checked_shards(out_dir, "sft", SFT_COLUMNS, hint)
    q: dict[Key, float] = {}
    if shard_files(out_dir, "prm"):
        prm = exports.checked_shards(out_dir, "prm", PRM_COLUMNS, STEP_HINT)
        q = trajectory_q(exports.rows_with_split(prm, "prm", PRM_COLUMNS, optional=("q_values",)))
    rows = exports.rows_with_split(shards, "sft", SFT_COLUMNS, optional=("steps",))
    pairs = trajectory_pairs(rows, max_per_problem, skipped, q)
    export = exports.Export("pairs_trajectory", _tables(pairs, TRAJECTORY_PAIR_SCHEMA), TRAJECTORY_PAIR_SCHEMA,
                            TRAJECTORY_DESCRIPTION, {"max_pairs_per_problem": max_per_problem, "order": "mean_q"},
                            dict(skipped))
    line = f"{len(pairs)} trajectory pairs ({_split_text(pairs)}) -> {fs.join(out_dir, 'pairs_trajectory')}"
    return export, line


def _step_groups(out_dir: str, rule: str, min_visits: int, skipped: collections.Counter[str]) -> dict[str, dict[str, Candidate]]:
    """The candidates per tree node: from ``DIR/trees``; where a folder has none but PRM rows (an
    ``expand`` before 0.3), from their ``nodes`` for ``q-gap``, none for ``rstar`` (``no_trees``)."""
    if shard_files(out_dir, "trees") or not shard_files(out_dir, "prm"):
        shards = exports.checked_shards(out_dir, "trees", TREE_COLUMNS, STEP_HINT)
        trees = read_trees(exports.rows_with_split(shards, "trees", TREE_COLUMNS, optional=("checked",)), skipped)
        return tree_candidates(trees, min_visits, skipped)
    shards = exports.checked_shards(out_dir, "prm", PRM_COLUMNS, STEP_HINT)
    rows = exports.rows_with_split(shards, "prm", PRM_COLUMNS, optional=("nodes",))
    if rule == "rstar":
        skipped["no_trees"] += sum(1 for _, row in rows if row.get("nodes"))
        return {}
    return prm_candidates(rows, min_visits, skipped)


def _step_export(out_dir: str, kinds: str, rule: str, min_visits: int, min_margin: float,
                 per_prefix: int) -> tuple[exports.Export, str, dict[str, int]] | None:
    if kinds != "step" and not (shard_files(out_dir, "trees") or shard_files(out_dir, "prm")):
        return None
    skipped: collections.Counter[str] = collections.Counter()
    groups = _step_groups(out_dir, rule, min_visits, skipped)
    pairs = rstar_pairs(groups, per_prefix, skipped) if rule == "rstar" else step_pairs(groups, min_margin, per_prefix)
    settings: dict[str, Any] = {"rule": rule, "min_visits": min_visits, "per_prefix": per_prefix}
    if rule == "q-gap":
        settings["min_margin"] = min_margin
    export = exports.Export("pairs_step", _tables(pairs, STEP_PAIR_SCHEMA), STEP_PAIR_SCHEMA, STEP_DESCRIPTION,
                            settings, dict(skipped))
    line = (f"{len(pairs)} step pairs ({_split_text(pairs)}, rule {rule}, min visits {min_visits}) from {len(groups)} "
            f"tree nodes with candidates -> {fs.join(out_dir, 'pairs_step')}")
    if skipped["no_trees"]:
        line += (f" (no search trees in {fs.join(out_dir, 'trees')}: rerun expand to write them, or --rule q-gap "
                 "pairs the PRM rows' nodes)")
    return export, line, dict(skipped)


def export_pairs(out_dir: str, kinds: str, min_margin: float, per_prefix: int, max_per_problem: int,
                 rule: str = "q-gap", min_visits: int = 1) -> int:
    """Write ``pairs_trajectory`` and/or ``pairs_step`` into DIR and add them to its card. The
    keyword defaults keep a caller's earlier results (the rule of 0.2, no visit floor); the command's
    defaults are ``--rule rstar --min-visits 2``."""
    if not fs.is_folder(out_dir):
        raise ConfigError(f"{out_dir}: no such directory")
    if min_margin < 0 or per_prefix < 1 or max_per_problem < 1 or min_visits < 1:
        raise ConfigError("--min-margin must be >= 0, --per-prefix, --max-pairs-per-problem and --min-visits >= 1")
    if rule not in RULES:
        raise ConfigError(f"--rule {rule}: choose from {', '.join(RULES)}")
    skipped: collections.Counter[str] = collections.Counter()
    lines: list[str] = []
    done: list[exports.Export] = []
    if kinds in ("both", "trajectory"):
        trajectory = _trajectory_export(out_dir, kinds, max_per_problem, skipped)
        if trajectory:
            done.append(trajectory[0])
            lines.append(trajectory[1])
    if kinds in ("both", "step"):
        step = _step_export(out_dir, kinds, rule, min_visits, min_margin, per_prefix)
        if step:
            done.append(step[0])
            lines.append(step[1])
            skipped.update(step[2])
    if not lines:
        raise ConfigError(f"{out_dir}: no SFT, PRM or trees shards to pair; run expand (or another command) into it first")
    exports.publish(out_dir, *done)
    detail = ", ".join(f"{reason} {n}" for reason, n in sorted(skipped.items()) if n)
    print("export pairs: " + "; ".join(lines) + (f"; left out: {detail}" if detail else ""), file=sys.stderr)
    return 0


def _split_text(pairs: list[tuple[str, dict[str, Any]]]) -> str:
    counts = _counts(pairs)
    return ", ".join(f"{s} {counts[s]}" for s in SPLITS if counts[s] or s == "train")
