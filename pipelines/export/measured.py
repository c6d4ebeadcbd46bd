"""Which PRM rows a step-label export (``math-shepherd``, ``openrlhf``) takes: the chosen methods' rows,
with a measured label on every step.

A PRM row's label is null where nothing measured the step (``schemas.records.PRMRow``: an ``mcts``
row's rollout steps, a ``binary`` row's steps after the first error that no probe reached). A
trainer needs a label per step, and filling one in would teach outcomes, not steps, so a row with a
null step is left out (``--unmeasured drop``: ``unmeasured_steps``), or cut before its first null
step (``--unmeasured cut``: kept when a labelled step is left, counted ``cut_at_unmeasured``; a row
whose first step is null is left out as ``unmeasured_first_step``). Rows of a method not chosen
(``--method``; default the measured ones, ``shepherd``, ``binary`` and ``consensus``: MC labels a judge
agreed with; not ``judge``, a model's opinion, nor ``mcts``) are left out as
``method_not_chosen:METHOD``. With soft labels, a step's value is its soft label, or where that is
null (a binary row's steps before the first error) 1.0/0.0 from its hard label when that was
measured (counted ``soft_from_hard_label``, in steps). Every row read is written or left out for
exactly one reason, so the counts add up.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import Any

STEP_COLUMNS = ("completions", "labels", "soft_labels", "rollouts", "correct_rollouts", "nodes", "q_values", "mc_labels",
                "judge_labels")
UNMEASURED = ("drop", "cut")


@dataclass(frozen=True)
class Selection:
    """What an export takes: ``methods`` (PRM ``method`` values), ``unmeasured`` (drop or cut) and
    whether its step values are soft labels."""

    methods: tuple[str, ...]
    unmeasured: str = "drop"
    soft: bool = False

    def __post_init__(self) -> None:
        if self.unmeasured not in UNMEASURED:
            raise ValueError(f"unmeasured: {self.unmeasured!r}, not one of {', '.join(UNMEASURED)}")


@dataclass
class Tally:
    """Rows read, written and left out (by reason), rows cut, soft values taken from hard labels (steps),
    and rows written per method."""

    read: int = 0
    left_out: collections.Counter[str] = field(default_factory=collections.Counter)
    cut: int = 0
    soft_from_hard: int = 0
    written: collections.Counter[str] = field(default_factory=collections.Counter)

    def notes(self) -> str:
        """The tally as one clause for stderr."""
        held = ", ".join(f"{m} {n}" for m, n in sorted(self.written.items())) or "none"
        parts = [f"methods {held}"]
        if self.left_out:
            detail = ", ".join(f"{reason} {n}" for reason, n in sorted(self.left_out.items()))
            parts.append(f"left out {sum(self.left_out.values())} ({detail})")
        if any(reason.startswith("method_not_chosen:") for reason in self.left_out):
            parts.append("--method all takes every method's rows")
        if self.cut:
            parts.append(f"cut_at_unmeasured {self.cut}")
        if self.soft_from_hard:
            parts.append(f"soft_from_hard_label {self.soft_from_hard} steps")
        return "; ".join(parts)


def step_values(row: dict[str, Any], soft: bool) -> list[Any]:
    """Per step, what the export writes: the hard label, or (``soft``) the soft label, else the measured
    hard label as 1.0/0.0; None where nothing measured the step."""
    hard = row["labels"]
    if not soft:
        return [None if x is None else bool(x) for x in hard]
    softs = row.get("soft_labels") or [None] * len(hard)
    return [float(p) if p is not None else (None if h is None else float(bool(h))) for h, p in zip(hard, softs, strict=True)]


def _shape_reason(row: dict[str, Any], soft: bool) -> str | None:
    steps, labels = row.get("completions"), row.get("labels")
    if not isinstance(row.get("prompt"), str) or not row["prompt"].strip():
        return "no_problem"
    if not steps:
        return "no_steps"
    if labels is None:
        return "unlabelled"
    if len(labels) != len(steps):
        return "length_mismatch"
    softs = row.get("soft_labels")
    if soft and softs is not None and len(softs) != len(labels):
        return "soft_length_mismatch"
    return None


def cut_row(row: dict[str, Any], keep: int) -> dict[str, Any]:
    """``row`` with its first ``keep`` steps only (every per-step column cut alike)."""
    return {k: (v[:keep] if k in STEP_COLUMNS and isinstance(v, list) else v) for k, v in row.items()}


def select(row: dict[str, Any], selection: Selection, seen: set[str], tally: Tally) -> tuple[dict[str, Any], list[Any]] | None:
    """The row to write (cut if it must be) and its step values, or None with the reason counted in ``tally``."""
    tally.read += 1
    method = row.get("method")
    reason = f"method_not_chosen:{method}" if method not in selection.methods else _shape_reason(row, selection.soft)
    values: list[Any] = []
    keep = 0
    if reason is None:
        values = step_values(row, selection.soft)
        keep = next((i for i, v in enumerate(values) if v is None), len(values))
        if keep < len(values):
            reason = "unmeasured_steps" if selection.unmeasured == "drop" else "unmeasured_first_step" if keep == 0 else None
    if reason is None and row.get("id") in seen:
        reason = "duplicate_id"
    if reason is not None:
        tally.left_out[reason] += 1
        return None
    if keep < len(values):
        row, values = cut_row(row, keep), values[:keep]
        tally.cut += 1
    if selection.soft:
        softs = row.get("soft_labels") or [None] * len(values)
        tally.soft_from_hard += sum(p is None for p in softs)
    seen.add(row["id"])
    tally.written[str(method)] += 1
    return row, values
