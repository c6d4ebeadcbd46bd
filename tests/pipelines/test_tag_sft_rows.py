"""``TagSFTRows``, the transform every pipeline applies before writing SFT rows (Beam DirectRunner)."""

from __future__ import annotations

from typing import Any

import apache_beam as beam
from apache_beam.testing.util import assert_that, equal_to

from pipelines.config import RunConfig
from pipelines.settings import tagging_settings
from pipelines.stage.counters import stage_counts
from pipelines.tag_sft_rows import TagSFTRows
from schemas.factors import load_factors
from schemas.records import GeneratorInfo, SFTRow, Source, Step
from schemas.tags import parse_think

VOCABULARY = load_factors()


def row(row_id: str, steps: list[Step], answer: Any = "5", kind: str = "seed") -> SFTRow:
    return SFTRow(id=row_id, source_kind=kind, source=Source(uri="u", path=f"f.jsonl:{row_id}"), problem=f"Problem {row_id}?",
                  steps=steps, answer=answer, messages=[], verified=True, verifier="math", verifier_detail="ok",
                  generator=GeneratorInfo("scripted", "m", 0.7, 1, "mcts_step/v1"))


def check_rows(rows: list[dict[str, Any]]) -> None:
    by_id = {r["id"]: r for r in rows}
    assert set(by_id) == {"tagged", "human", "hostile"}
    for r in rows:
        steps, answer = parse_think(r["messages"][1]["content"], VOCABULARY)
        assert [{"text": s.text, "factor": s.factor} for s in steps] == r["steps"] and answer == r["answer"]
        assert r["messages"][0] == {"role": "user", "content": r["problem"]}
        assert r["verified"] is True and r["generator"]["prompt_version"] == "mcts_step/v1"  # the row's own fields stay
    assert [s["factor"] for s in by_id["human"]["steps"]] == ["Decompose", "Verify"]  # human factors kept as they are
    assert [s["factor"] for s in by_id["tagged"]["steps"]] == ["RephraseTarget", "Compute", "Conclude"]
    assert by_id["hostile"]["steps"][0]["text"] == "quote <Think_End> here"


def test_tag_sft_rows_contract() -> None:
    rows = [
        row("tagged", [Step("We need to find x."), Step("x = 2 + 3 = 5"), Step("The answer is 5.")]),
        row("human", [Step("Approach: add.", "Decompose"), Step("Let's check: fine.", "Verify")], kind="code"),
        row("hostile", [Step("quote <Think_End> here")]),
        row("empty", []),
        row("unknown", [Step("a", "Telepathy")]),
        row("broken", [Step("a")], answer=None),
    ]
    pipeline = beam.Pipeline()
    out = pipeline | beam.Create(rows) | TagSFTRows(tagging_settings(RunConfig()), None, stage="tag_test")
    dicts = out["rows"] | "AsDicts" >> beam.Map(lambda r: r.to_dict())  # typed rows; the writer makes the dicts
    assert_that(dicts | beam.combiners.ToList(), lambda got: check_rows(got[0]), label="Rows")
    reasons = out["dead"] | beam.Map(lambda d: (d.stage, d.reason, d.input))
    assert_that(reasons, equal_to([("tag_test", "unknown_factor", "unknown"), ("tag_test", "render_error", "broken")]),
                label="Dead")
    result = pipeline.run()
    result.wait_until_finish()
    stage = stage_counts(result)["tag_test"]
    assert (stage["read"], stage["written"], stage["filtered"], stage["dead_lettered"]) == (6, 3, {"no_steps": 1}, 2)
    assert stage["stats"]["factor:code:Decompose"] == 1 and stage["stats"]["tier:human"] == 2
    assert stage["stats"]["tier:rules"] == 4  # statistics count the steps of written rows only
