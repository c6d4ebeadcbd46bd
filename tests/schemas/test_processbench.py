"""ProcessBench items (schemas/processbench.py): the six public fields checked, and the row ``label`` reads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from schemas.processbench import FIELDS, ProcessBenchError, item_from_obj, to_row
from schemas.seed_import import SeedImportError

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "processbench" / "items.json"


def item(**changes: Any) -> dict[str, Any]:
    base = {"id": "gsm8k-0", "generator": "Qwen2-7B-Instruct", "problem": "What is 2 + 3?",
            "steps": ["2 + 3 = 6.", "The answer is \\boxed{6}."], "final_answer_correct": False, "label": 0}
    return {**base, **changes}


def test_the_fixture_items_are_valid_and_cover_both_kinds() -> None:
    items = [item_from_obj(obj) for obj in json.loads(FIXTURE.read_text(encoding="utf-8"))]
    assert len(items) == 7 and len({i.id for i in items}) == 7
    assert sorted(i.label for i in items) == [-1, -1, -1, 0, 1, 1, 1]
    assert [i.erroneous for i in items].count(True) == 4


def test_a_valid_item() -> None:
    parsed = item_from_obj(item(id=" gsm8k-0 ", extra="ignored"))
    assert parsed.id == "gsm8k-0" and parsed.steps == ("2 + 3 = 6.", "The answer is \\boxed{6}.")
    assert parsed.label == 0 and parsed.erroneous and parsed.final_answer_correct is False
    assert item_from_obj(item(label=-1, final_answer_correct=True)).erroneous is False


@pytest.mark.parametrize(("obj", "field", "words"), [
    ([1, 2], "item", "expected an object"),
    ({k: v for k, v in item().items() if k != "label"}, "label", "missing"),
    ({k: v for k, v in item().items() if k != "generator"}, "generator", "missing"),
    (item(id=""), "id", "non-empty string"),
    (item(problem=7), "problem", "non-empty string"),
    (item(generator=None), "generator", "not a string"),
    (item(steps="2 + 3 = 5"), "steps", "non-empty list"),
    (item(steps=[]), "steps", "non-empty list"),
    (item(steps=["ok", {"text": "no"}]), "steps[1]", "not a string (dict)"),
    (item(final_answer_correct="yes"), "final_answer_correct", "true or false"),
    (item(label=True), "label", "whole number"),
    (item(label=1.0), "label", "whole number"),
    (item(label=2), "label", "out of range: -1 (no wrong step) or a step index 0..1"),
    (item(label=-2), "label", "out of range"),
    (item(label=-1, final_answer_correct=False), "final_answer_correct", "label -1 says every step is right"),
])
def test_bad_items_name_the_field(obj: Any, field: str, words: str) -> None:
    with pytest.raises(ProcessBenchError) as err:
        item_from_obj(obj)
    assert err.value.field == field and str(err.value).startswith(f"{field}: ") and words in str(err.value)
    assert isinstance(err.value, SeedImportError)  # seeds import reports it as any importer's error


def test_every_public_field_is_required() -> None:
    for name in FIELDS:
        with pytest.raises(ProcessBenchError, match=f"^{name}: missing$"):
            item_from_obj({k: v for k, v in item().items() if k != name})


def test_the_row_keeps_the_steps_as_they_are_and_the_gold_apart() -> None:
    parsed = item_from_obj(item(steps=["  2 + 3 = 6.", "", "The answer is \\boxed{6}."], label=0))
    row = to_row(parsed, "6", "5", notes="n")
    assert row["steps"] == [{"text": "  2 + 3 = 6."}, {"text": ""}, {"text": "The answer is \\boxed{6}."}]  # indices kept
    assert (row["id"], row["source_kind"], row["answer"], row["gold_answer"]) == ("gsm8k-0", "seed", "6", "5")
    assert row["source"] == {"symbol": "gsm8k-0"}
    assert (row["processbench_label"], row["processbench_generator"], row["final_answer_correct"]) == (0, "Qwen2-7B-Instruct",
                                                                                                      False)
    assert to_row(parsed, None, None)["gold_answer"] is None and "gold_answer" in to_row(parsed, None, None)
