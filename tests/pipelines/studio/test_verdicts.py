"""The studio's review of ``label --method judge|consensus`` rows: each step's Monte Carlo and judge verdicts side by
side, the judge's model on the row; a shard written before those columns still loads, and a saved label is the
same HumanLabel line as for any row."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from fastapi.testclient import TestClient

from generators.labelling.consensus import combine
from pipelines.io.shards import write_rows
from pipelines.studio.app import StudioSettings, create_app
from pipelines.studio.data_view import VERDICT_COLUMNS, disagree
from schemas.arrow import PRM_SCHEMA
from schemas.human_labels import HumanLabel
from tests.pipelines.studio.conftest import XSS

STEPS = ["Start with 40.", "Multiply: 40 * 2 = 80.", "The answer is 80."]


def base_row(row_id: str, method: str) -> dict[str, Any]:
    return {"prompt": "What is 40 plus 2?", "completions": STEPS, "labels": [True, None, False],
            "soft_labels": [1.0, None, 0.0], "rollouts": [4, 4, 4], "correct_rollouts": [4, 1, 0], "method": method,
            "answer_correct": False, "id": row_id, "source_kind": "seed", "source": {"uri": "seeds.jsonl", "symbol": "s7"},
            "generator": {"model": "completer-7b", "prompt_version": "label-v1+judge-v1"}}


def consensus_row(row_id: str = "c1") -> dict[str, Any]:
    """MC says step 1 is right, the judge wrong: that label is null; they agree on step 0 (agreement 1 of 2); the judge
    stopped at its first wrong step, so step 2 has MC's label only (a consensus label needs both: null)."""
    return {**base_row(row_id, "consensus"), "labels": [True, None, None], "soft_labels": [1.0, None, None],
            "mc_labels": [True, True, False], "judge_labels": [True, False, None], "agreement": 0.5,
            "judge_model": f"judge-{XSS}"}


def judge_row(row_id: str = "j1") -> dict[str, Any]:
    return {**base_row(row_id, "judge"), "labels": [True, False, None], "judge_labels": [True, False, None],
            "judge_model": "judge-72b"}


def write_folder(path: Path, rows: list[dict[str, Any]]) -> Path:
    (path / "prm").mkdir(parents=True)
    write_rows(rows, "prm", str(path / "prm" / "run-0001.parquet"))
    return path


def write_old_folder(path: Path, rows: list[dict[str, Any]]) -> Path:
    """A shard as 0.2 wrote it: no ``nodes``, ``q_values`` nor any of 0.4's columns."""
    (path / "prm").mkdir(parents=True)
    old = pa.schema([f for f in PRM_SCHEMA if f.name not in ("nodes", "q_values", *VERDICT_COLUMNS)
                     and not f.name.startswith("gold_")])
    assert "mc_labels" not in old.names and "judge_model" not in old.names
    pq.write_table(pa.Table.from_pylist(rows, schema=old), path / "prm" / "run-0001.parquet")
    return path


def client(tmp_path: Path, data: list[Path]) -> TestClient:
    settings = StudioSettings(data=[str(d) for d in data], labels=str(tmp_path / "labels.jsonl"), port=8765)
    return TestClient(create_app(settings), base_url="http://127.0.0.1:8765")


def test_the_hand_made_consensus_row_is_what_the_labeller_would_write() -> None:
    row = consensus_row()
    agreed = combine(row["mc_labels"], row["judge_labels"])
    assert agreed.labels == row["labels"] and agreed.agreement == row["agreement"]


def test_disagree_only_where_both_gave_a_verdict() -> None:
    assert disagree(True, False) and disagree(False, True)
    assert not disagree(True, True) and not disagree(None, False) and not disagree(True, None) and not disagree(None, None)


def test_a_consensus_row_shows_both_verdicts_per_step_and_the_judge_model(tmp_path: Path) -> None:
    c = client(tmp_path, [write_folder(tmp_path / "data", [consensus_row(), judge_row()])])
    row = c.get("/api/data/0/rows/c1").json()
    assert row["mc_labels"] == [True, True, False] and row["judge_labels"] == [True, False, None]
    assert row["agreement"] == 0.5 and row["judge_model"] == f"judge-{XSS}"  # as it is: the page puts it in as text
    assert [(s["label"], s["mc"], s["judge"], s["disagree"]) for s in row["steps"]] == [
        (True, True, True, False), (None, True, False, True), (None, False, None, False)]
    judged = c.get("/api/data/0/rows/j1").json()
    assert judged["mc_labels"] is None and judged["agreement"] is None and judged["judge_model"] == "judge-72b"
    assert [(s["mc"], s["judge"], s["disagree"]) for s in judged["steps"]] == [(None, True, False), (None, False, False),
                                                                             (None, None, False)]
    assert c.get("/api/info").json()["data"][0]["notes"] == []


def test_an_old_shard_without_the_columns_loads_with_nulls(tmp_path: Path) -> None:
    old = base_row("o1", "binary")
    c = client(tmp_path, [write_old_folder(tmp_path / "old", [old])])
    assert c.get("/api/info").json()["data"][0] == {"index": 0, "path": str(tmp_path / "old"), "rows": 1, "trees": 0,
                                                    "notes": []}
    row = c.get("/api/data/0/rows/o1").json()
    assert {k: row[k] for k in VERDICT_COLUMNS} == dict.fromkeys(VERDICT_COLUMNS)
    assert [(s["label"], s["mc"], s["judge"], s["disagree"]) for s in row["steps"]] == [
        (True, None, None, False), (None, None, None, False), (False, None, None, False)]
    assert [s["q"] for s in row["steps"]] == [None, None, None] and row["has_tree"] is False


def test_old_and_new_shards_in_one_folder_both_load(tmp_path: Path) -> None:
    folder = write_old_folder(tmp_path / "mixed", [base_row("o1", "binary")])
    write_rows([consensus_row()], "prm", str(folder / "prm" / "run-0002.parquet"))
    c = client(tmp_path, [folder])
    assert c.get("/api/data/0/rows").json()["total"] == 2
    assert c.get("/api/data/0/rows/o1").json()["judge_model"] is None
    assert c.get("/api/data/0/rows/c1").json()["steps"][1]["disagree"] is True


def test_a_label_saved_on_a_consensus_row_is_the_same_human_label_line(tmp_path: Path) -> None:
    """The same step of the same row, once from an old shard and once from a consensus one: the same line but its time."""
    old = write_old_folder(tmp_path / "old", [base_row("r1", "binary")])
    new = write_folder(tmp_path / "new", [consensus_row("r1")])
    c = client(tmp_path, [old, new])
    lines = []
    for data in (0, 1):
        c.get(f"/api/data/{data}/rows/r1")  # viewed first, as the page does
        written = c.post("/api/labels", json={"data": data, "row_id": "r1", "annotator": "ann",
                                              "labels": {"1": "wrong", "2": "unsure"}}).json()["written"]
        lines.extend(written)
    assert (tmp_path / "labels.jsonl").read_text() == "".join(line + "\n" for line in lines)
    parsed = [json.loads(line) for line in lines]
    for got in parsed:
        assert list(got) == ["row_id", "problem_id", "step", "label", "annotator", "time", "step_text"]
    expected = [HumanLabel(row_id="r1", problem_id="s7", step=step, label=label, annotator="ann", time=got["time"],
                           step_text=STEPS[step]).to_json() for (step, label), got in
                zip([(1, "wrong"), (2, "unsure")] * 2, parsed, strict=True)]
    assert lines == expected
    strip = [{k: v for k, v in p.items() if k != "time"} for p in parsed]
    assert strip[:2] == strip[2:]
    assert c.get("/api/data/1/rows/r1").json()["human"] == {"1": {"ann": "wrong"}, "2": {"ann": "unsure"}}
