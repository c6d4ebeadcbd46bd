"""Human step labels: what an annotator said of one step of one generated solution.

The studio writes them one JSON object a line; ``reverse-o1 eval labels`` reads them (and
PRM800K's ratings) to measure how the generated labels agree. A later line for the same
(row, step, annotator) replaces an earlier one, so the file is append-only and still editable.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

VERDICTS = ("correct", "wrong", "unsure")
FIELDS = ("row_id", "problem_id", "step", "label", "annotator", "time", "step_text")


class HumanLabelError(ValueError):
    """A line that is not a human label; the message names the field."""


@dataclass(frozen=True)
class HumanLabel:
    """``row_id``: the PRM row's ``id``; ``problem_id``: its source symbol (the seed id) when it has
    one; ``step``: 0-based index into ``completions``; ``time``: ISO 8601 UTC; ``step_text``: the
    step as the annotator saw it, so a label can be checked against the row it names."""

    row_id: str
    problem_id: str
    step: int
    label: str
    annotator: str
    time: str
    step_text: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @property
    def key(self) -> tuple[str, int, str]:
        return (self.row_id, self.step, self.annotator)


def human_label_from_obj(obj: Any) -> HumanLabel:
    """A validated HumanLabel, or HumanLabelError naming the first bad field."""
    if not isinstance(obj, dict):
        raise HumanLabelError(f"expected a JSON object, got {type(obj).__name__}")
    unknown = sorted(set(obj) - set(FIELDS))
    if unknown:
        raise HumanLabelError(f"{unknown[0]}: unknown field")
    for name in ("row_id", "label", "annotator"):
        if not isinstance(obj.get(name), str) or not obj[name].strip():
            raise HumanLabelError(f"{name}: missing or not a non-empty string")
    for name in ("problem_id", "time", "step_text"):
        if obj.get(name) is not None and not isinstance(obj[name], str):
            raise HumanLabelError(f"{name}: must be a string")
    step = obj.get("step")
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise HumanLabelError("step: must be a whole number >= 0")
    if obj["label"] not in VERDICTS:
        raise HumanLabelError(f"label: {obj['label']!r} is not one of {', '.join(VERDICTS)}")
    return HumanLabel(row_id=obj["row_id"], problem_id=obj.get("problem_id") or "", step=step, label=obj["label"],
                      annotator=obj["annotator"].strip(), time=obj.get("time") or "", step_text=obj.get("step_text") or "")


def latest(labels: list[HumanLabel]) -> dict[tuple[str, int, str], HumanLabel]:
    """The last label per (row, step, annotator), in file order."""
    out: dict[tuple[str, int, str], HumanLabel] = {}
    for label in labels:
        out[label.key] = label
    return out
