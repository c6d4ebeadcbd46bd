"""What the studio shows of an output folder: its PRM rows, and the MCTS trees ``expand`` left in them.

A folder is read once, when the studio starts (``reload`` reads it again); a damaged shard is
named in ``notes`` and skipped rather than stopping the app. Every path goes through FileSystems.
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


@dataclass
class DataFolder:
    path: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    by_id: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, path: str) -> DataFolder:
        folder = cls(path)
        folder.reload()
        return folder

    def reload(self) -> None:
        self.rows, self.notes = [], []
        for shard in shard_files(self.path, "prm"):
            rows = []
            try:  # one shard at a time: a damaged one is skipped, the others still shown
                for split, row in rows_with_split([shard], "prm", [], optional=tuple(COLUMNS) + ("nodes",)):
                    rows.append({**finite(row), "split": split})
            except (OSError, RuntimeError, pa.ArrowException) as exc:
                self.notes.append(f"{fs.basename(shard)}: unreadable shard, skipped ({type(exc).__name__})")
                continue
            self.rows.extend(rows)
        self.by_id = {str(r.get("id")): r for r in self.rows}

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

    steps = [{"index": i, "text": text, "label": at("labels", i), "soft": at("soft_labels", i),
              "rollouts": at("rollouts", i), "correct_rollouts": at("correct_rollouts", i)}
             for i, text in enumerate(completions)]
    generator = row.get("generator") or {}
    source = row.get("source") or {}
    return {"id": row.get("id"), "problem": row.get("prompt"), "steps": steps, "method": row.get("method"),
            "answer_correct": row.get("answer_correct"), "source_kind": row.get("source_kind"),
            "problem_id": source.get("symbol") or "", "source": source, "generator": generator,
            "has_tree": any(n for n in row.get("nodes") or []), "split": row.get("split")}


def root_of(row: dict[str, Any]) -> str | None:
    """The id of the tree's root a row's trajectory came from (None for rows without a tree)."""
    for node in row.get("nodes") or []:
        if node:
            return node["id"] if node.get("parent") is None else node["parent"]
    return None


def tree(folder: DataFolder, row_id: str) -> dict[str, Any] | None:
    """The search tree of the row's root, pieced together from every trajectory that passed through it.

    A node is ``terminal`` when a trajectory ends on it (its last step is a tree step) and
    ``verified`` when such a trajectory's answer was accepted; the trajectories are listed with it.
    """
    row = folder.by_id.get(row_id)
    root = root_of(row) if row else None
    if root is None:
        return None
    nodes: dict[str, dict[str, Any]] = {}
    trajectories = []
    for other in folder.rows:
        if other.get("method") != "mcts" or root_of(other) != root:
            continue
        steps = other.get("completions") or []
        marks = other.get("nodes") or []
        tree_steps = [i for i, n in enumerate(marks) if n]
        last = tree_steps[-1] if tree_steps else -1
        trajectories.append({"id": other.get("id"), "answer_correct": other.get("answer_correct"),
                             "steps": len(steps), "leaf": marks[last]["id"] if last >= 0 else root})
        for i in tree_steps:
            node = marks[i]
            entry = nodes.setdefault(node["id"], {
                "id": node["id"], "parent": node.get("parent"), "q": node.get("q"), "visits": node.get("visits"),
                "prior": node.get("prior"), "text": steps[i] if i < len(steps) else "", "terminal": False,
                "verified": False, "trajectories": []})
            entry["trajectories"].append(other.get("id"))
            if i == last and i == len(steps) - 1 and node.get("parent") is not None:
                entry["terminal"] = True
                entry["verified"] = entry["verified"] or bool(other.get("answer_correct"))
    if root not in nodes:  # a cut with no human step: the root is the bare problem
        nodes[root] = {"id": root, "parent": None, "q": None, "visits": None, "prior": None, "text": "",
                       "terminal": False, "verified": False, "trajectories": []}
    return {"root": root, "problem": row.get("prompt"), "nodes": list(nodes.values()), "trajectories": trajectories}
