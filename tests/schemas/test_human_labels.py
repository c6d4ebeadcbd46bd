"""A human step label names its bad field; the latest line per (row, step, annotator) wins."""

from __future__ import annotations

import pytest

from schemas.human_labels import HumanLabel, HumanLabelError, human_label_from_obj, latest


def test_latest_keeps_the_last_line_per_row_step_and_annotator() -> None:
    a = human_label_from_obj({"row_id": "r", "step": 0, "label": "wrong", "annotator": "a"})
    b = human_label_from_obj({"row_id": "r", "step": 0, "label": "correct", "annotator": "a", "time": "t2"})
    c = human_label_from_obj({"row_id": "r", "step": 0, "label": "unsure", "annotator": "b"})
    assert latest([a, b, c]) == {("r", 0, "a"): b, ("r", 0, "b"): c}
    assert isinstance(b, HumanLabel) and b.problem_id == "" and b.time == "t2"


@pytest.mark.parametrize("obj, field", [
    ([], "JSON object"), ({"row_id": "r", "step": 0, "label": "ok", "annotator": "a"}, "label"),
    ({"row_id": "r", "step": -1, "label": "wrong", "annotator": "a"}, "step"),
    ({"row_id": "r", "step": True, "label": "wrong", "annotator": "a"}, "step"),
    ({"row_id": "", "step": 0, "label": "wrong", "annotator": "a"}, "row_id"),
    ({"row_id": "r", "step": 0, "label": "wrong", "annotator": "a", "extra": 1}, "extra"),
    ({"row_id": "r", "step": 0, "label": "wrong", "annotator": "a", "time": 5}, "time"),
])
def test_a_bad_label_names_its_field(obj: object, field: str) -> None:
    with pytest.raises(HumanLabelError, match=field):
        human_label_from_obj(obj)
