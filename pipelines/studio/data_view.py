"""What the studio shows of an output folder: its PRM rows, and the search trees ``expand`` wrote.

A folder is read once, when the studio starts (``reload`` reads it again); a damaged shard is
named in ``notes`` and skipped rather than stopping the app. Every path goes through FileSystems.
The trees (``DIR/trees``, one row per node) are grouped by ``tree_id`` here and drawn by
``pipelines.studio.tree_view``; a folder written before 0.3 has none (its PRM rows' ``nodes`` stand in).
A ``judge`` or ``consensus`` row (0.4) also shows, per step, the Monte Carlo and the judge's verdicts side by side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from pipelines.export.files import rows_with_split
from pipelines.io import fs
from pipelines.io.resume import shard_files

COLUMNS = ["prompt", "completions", "labels", "soft_labels", "rollouts", "correct_rollouts", "method",
           "answer_correct", "id", "source_kind", "source", "generator"]
VERDICT_COLUMNS = ("mc_labels", "judge_labels", "agreement", "judge_model")  # 0.4: ``label --method judge|consensus``
PRM_OPTIONAL = (*COLUMNS, "nodes", "q_values", *VERDICT_COLUMNS)  # read where a shard has them (older shards lack these)
TREE_COLUMNS = ("id", "tree_id", "parent", "depth", "path", "text", "factor", "prior", "factor_prior", "visits", "value_sum",
                "q", "correct", "value", "expanded", "terminal_reason", "answer", "answer_correct", "rollout", "problem",
                "prefix", "gold_answer", "seed_id", "cut", "score", "candidates", "checked", "value_model", "value_mix")


@dataclass
class DataFolder:
    path: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    by_id: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    trees: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # tree_id -> its node rows, as written
    tree_of: dict[str, str] = field(default_factory=dict)  # node id -> tree_id

    @classmethod
    def load(cls, path: str) -> DataFolder:
        folder = cls(path)
        folder.reload()
        return folder

    def reload(self) -> None:
        self.notes = []
        self.rows = self._read("prm", PRM_OPTIONAL)
        self.by_id = {str(r.get("id")): r for r in self.rows}
        self.trees, self.tree_of = {}, {}
        for node in self._read("trees", TREE_COLUMNS):
            ident, tree_id = node.get("id"), node.get("tree_id")
            if ident is None or tree_id is None or ident in self.tree_of:  # a node written twice is shown once
                continue
            self.tree_of[ident] = tree_id
            self.trees.setdefault(tree_id, []).append(node)

    def _read(self, kind: str, columns: tuple[str, ...]) -> list[dict[str, Any]]:
        out = []
        for shard in shard_files(self.path, kind):
            rows = []
            try:  # one shard at a time: a damaged one is skipped, the others still shown
                for split, row in rows_with_split([shard], kind, [], optional=columns):
                    rows.append({**finite(row), "split": split})
            except (OSError, RuntimeError, pa.ArrowException) as exc:
                where = fs.basename(shard) if kind == "prm" else f"{kind}/{fs.basename(shard)}"
                self.notes.append(f"{where}: unreadable shard, skipped ({type(exc).__name__})")
                continue
            out.extend(rows)
        return out

    def summaries(self, query: str = "", offset: int = 0, limit: int = 50) -> dict[str, Any]:
        """One line per row for the list (filtered by ``query`` in the problem, the id or the method)."""
        needle = query.strip().lower()
        hits = [r for r in self.rows if not needle or needle in (r.get("prompt") or "").lower()
                or needle in str(r.get("id")) or needle == (r.get("method") or "")]
        page = hits[offset: offset + limit]
        return {"total": len(hits), "offset": offset, "rows": [summary(r) for r in page]}


def finite(value: Any) -> Any:
    """NaN and infinities as None, anywhere in a row: JSON has no such numbers (a hostile shard may)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value


def summary(row: dict[str, Any]) -> dict[str, Any]:
    soft = [s for s in row.get("soft_labels") or [] if s is not None]
    return {"id": row.get("id"), "problem": (row.get("prompt") or "")[:200], "method": row.get("method"),
            "steps": len(row.get("completions") or []), "answer_correct": row.get("answer_correct"),
            "mean_soft": sum(soft) / len(soft) if soft else None, "model": (row.get("generator") or {}).get("model"),
            "has_tree": any(n for n in row.get("nodes") or []), "split": row.get("split")}


def detail(row: dict[str, Any]) -> dict[str, Any]:
    """Everything the review page shows of one row, step by step."""
    completions = row.get("completions") or []

    def at(column: str, i: int) -> Any:
        values = row.get(column) or []
        return values[i] if i < len(values) else None

    def verdicts(i: int) -> dict[str, Any]:  # a judge or consensus row's two sides; None on other rows
        mc, judge = at("mc_labels", i), at("judge_labels", i)
        return {"mc": mc, "judge": judge, "disagree": disagree(mc, judge)}

    steps = [{"index": i, "text": text, "label": at("labels", i), "soft": at("soft_labels", i), "q": at("q_values", i),
              "rollouts": at("rollouts", i), "correct_rollouts": at("correct_rollouts", i), **verdicts(i)}
             for i, text in enumerate(completions)]
    generator = row.get("generator") or {}
    source = row.get("source") or {}
    return {"id": row.get("id"), "problem": row.get("prompt"), "steps": steps, "method": row.get("method"),
            "answer_correct": row.get("answer_correct"), "source_kind": row.get("source_kind"),
            "problem_id": source.get("symbol") or "", "source": source, "generator": generator,
            "has_tree": any(n for n in row.get("nodes") or []), "split": row.get("split"),
            **{column: row.get(column) for column in VERDICT_COLUMNS}}


def disagree(mc: bool | None, judge: bool | None) -> bool:
    """Monte Carlo and the judge both gave a step a verdict, and not the same one (a consensus row's label is null there)."""
    return mc is not None and judge is not None and mc != judge


def root_of(row: dict[str, Any]) -> str | None:
    """The id of the tree's root a row's trajectory came from (None for rows without a tree)."""
    for node in row.get("nodes") or []:
        if node:
            return node["id"] if node.get("parent") is None else node["parent"]
    return None
