"""ProcessBench (Zheng et al., 2024, arXiv 2412.06559): model solutions split into steps, each with the
human-annotated index of its earliest wrong step (``label``; -1 when every step is right).

Public schema, one object per item: ``id``, ``generator``, ``problem``, ``steps`` (list of str),
``final_answer_correct`` (bool), ``label`` (int). ``item_from_obj`` checks one and names the first bad
field; ``to_row`` turns it into the trajectory row ``label`` reads (``pipelines.trajectories``): the
model's own steps, the final answer they reach and the gold answer apart, so that the labeller judges
the solution's last step against the gold and not against itself (a seed's ``answer`` is its gold).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from schemas.seed_import import SeedImportError

FIELDS = ("id", "generator", "problem", "steps", "final_answer_correct", "label")


class ProcessBenchError(SeedImportError):
    """An item that is not a ProcessBench item; ``field`` is the first bad one."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class ProcessBenchItem:
    """One item; ``label`` is the index into ``steps`` of the earliest wrong step, -1 for none."""

    id: str
    generator: str
    problem: str
    steps: tuple[str, ...]
    final_answer_correct: bool
    label: int

    @property
    def erroneous(self) -> bool:
        return self.label >= 0


def item_from_obj(obj: Any) -> ProcessBenchItem:
    """A checked item, or ProcessBenchError naming the first bad field (fields beyond the six are ignored)."""
    if not isinstance(obj, dict):
        raise ProcessBenchError("item", f"expected an object with {', '.join(FIELDS)}, got {type(obj).__name__}")
    missing = [name for name in FIELDS if name not in obj]
    if missing:
        raise ProcessBenchError(missing[0], "missing")
    for name in ("id", "problem"):
        if not isinstance(obj[name], str) or not obj[name].strip():
            raise ProcessBenchError(name, "not a non-empty string")
    if not isinstance(obj["generator"], str):
        raise ProcessBenchError("generator", "not a string")
    steps = obj["steps"]
    if not isinstance(steps, list) or not steps:
        raise ProcessBenchError("steps", "not a non-empty list of strings")
    for i, step in enumerate(steps):
        if not isinstance(step, str):
            raise ProcessBenchError(f"steps[{i}]", f"not a string ({type(step).__name__})")
    if not isinstance(obj["final_answer_correct"], bool):
        raise ProcessBenchError("final_answer_correct", "not true or false")
    label = obj["label"]
    if not isinstance(label, int) or isinstance(label, bool):
        raise ProcessBenchError("label", f"{label!r} is not a whole number")
    if not -1 <= label < len(steps):
        raise ProcessBenchError("label", f"{label} is out of range: -1 (no wrong step) or a step index 0..{len(steps) - 1}")
    if label == -1 and not obj["final_answer_correct"]:
        raise ProcessBenchError("final_answer_correct", "false, but label -1 says every step is right")
    return ProcessBenchItem(obj["id"].strip(), obj["generator"], obj["problem"], tuple(steps), obj["final_answer_correct"],
                            label)


def to_row(item: ProcessBenchItem, answer: str | None, gold: str | None, notes: str = "") -> dict[str, Any]:
    """The trajectory row of an item: its steps as they are (indices stay the human label's), the final
    answer they state (``answer``, None when they state none: ``label`` then counts the last step wrong)
    and ``gold_answer`` (None when no reference gave one: ``label`` does not fall back to ``answer``).
    ``source.symbol`` and ``id`` are the ProcessBench id, which the PRM row keeps in ``source``."""
    return {
        "id": item.id,
        "source_kind": "seed",
        "problem": item.problem,
        "steps": [{"text": step} for step in item.steps],
        "answer": answer,
        "gold_answer": gold,
        "source": {"symbol": item.id},
        "processbench_label": item.label,
        "processbench_generator": item.generator,
        "final_answer_correct": item.final_answer_correct,
        "notes": notes,
    }
