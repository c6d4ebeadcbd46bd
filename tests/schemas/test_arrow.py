"""Records to Arrow and Parquet (schemas/records.py, schemas/arrow.py; SPEC "Rows")."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from schemas import PRM_SCHEMA, SFT_SCHEMA, GeneratorInfo, PRMRow, SFTRow, Source, Step
from schemas.arrow import DIFFICULTY_SCHEMA, SCHEMAS, SUMMARY_SCHEMA, TREE_SCHEMA

SOURCE = Source(uri="seeds.jsonl", path="seeds.jsonl:3", symbol="t-1", license="MIT")
GENERATOR = GeneratorInfo(backend="transformers", model="SmolLM2-135M-Instruct", temperature=0.7, seed=1,
                          prompt_version="v1")

SFT_COLUMNS = ["id", "source_kind", "source", "problem", "steps", "answer", "messages", "verified", "verifier",
               "verifier_detail", "generator", "truncated"]
PRM_COLUMNS = ["prompt", "completions", "labels", "soft_labels", "rollouts", "correct_rollouts", "method",
               "answer_correct", "id", "source_kind", "source", "generator", "nodes", "q_values", "mc_labels",
               "judge_labels", "agreement", "judge_model", "gold_answer", "gold_source", "gold_share",
               "value_model", "value_mix"]


def prm_row(**changes) -> PRMRow:
    fields = dict(
        prompt="What is 2 + 3?",
        completions=["2 + 3 = 6.", "The answer is 6."],
        labels=[False, False],
        soft_labels=[0.0, 0.125],
        rollouts=[8, 8],
        correct_rollouts=[0, 1],
        method="shepherd",
        answer_correct=False,
        id="prm-1",
        source_kind="seed",
        source=SOURCE,
        generator=GENERATOR,
    )
    fields.update(changes)
    return PRMRow(**fields)


def sft_row(**changes) -> SFTRow:
    fields = dict(
        id="sft-1",
        source_kind="seed",
        source=SOURCE,
        problem="What is 2 + 3?",
        steps=[Step("We need 2 + 3.", "RephraseTarget"), Step("2 + 3 = 5.")],
        answer="5",
        messages=[{"role": "user", "content": "What is 2 + 3?"},
                  {"role": "assistant", "content": "<Think_Start>\n...\n<Think_End>\n5"}],
        verified=True,
        verifier="math-verify",
        verifier_detail="",
        generator=GENERATOR,
    )
    fields.update(changes)
    return SFTRow(**fields)


def parquet_round_trip(tmp_path, rows: list[dict], schema: pa.Schema) -> pa.Table:
    table = pa.Table.from_pylist(rows, schema=schema)
    pq.write_table(table, tmp_path / "shard.parquet")
    back = pq.read_table(tmp_path / "shard.parquet")
    assert back.schema.equals(schema)
    assert back.to_pylist() == rows
    return back


def test_column_orders_are_the_contract():
    assert PRM_SCHEMA.names == PRM_COLUMNS
    assert PRM_SCHEMA.names[:3] == ["prompt", "completions", "labels"]  # TRL stepwise supervision
    assert SFT_SCHEMA.names == SFT_COLUMNS
    assert SCHEMAS == {"sft": SFT_SCHEMA, "prm": PRM_SCHEMA, "trees": TREE_SCHEMA, "difficulty": DIFFICULTY_SCHEMA,
                       "summaries": SUMMARY_SCHEMA}
    assert SUMMARY_SCHEMA.names[:5] == ["prompt", "cot", "summary", "answer", "messages"]
    assert TREE_SCHEMA.names[:4] == ["id", "tree_id", "parent", "depth"]
    assert PRM_SCHEMA.field("labels").type == pa.list_(pa.bool_())
    assert PRM_SCHEMA.field("soft_labels").type == pa.list_(pa.float64())


def test_to_dict_gives_exactly_the_columns_in_order():
    assert list(prm_row().to_dict()) == PRM_COLUMNS
    assert list(sft_row().to_dict()) == SFT_COLUMNS


def test_prm_rows_round_trip_through_parquet(tmp_path):
    rows = [prm_row().to_dict(), prm_row(id="prm-2", method="binary", answer_correct=True,
                                         labels=[True, True], soft_labels=[1.0, 0.5]).to_dict()]
    back = parquet_round_trip(tmp_path, rows, PRM_SCHEMA)
    assert back.column("source").to_pylist()[0]["license"] == "MIT"
    assert back.column("generator").to_pylist()[0]["temperature"] == 0.7


def test_sft_rows_round_trip_through_parquet(tmp_path):
    rows = [sft_row().to_dict(), sft_row(id="sft-2", steps=(Step("5."),), verified=False).to_dict()]
    back = parquet_round_trip(tmp_path, rows, SFT_SCHEMA)
    assert back.column("steps").to_pylist()[0] == [{"text": "We need 2 + 3.", "factor": "RephraseTarget"},
                                                  {"text": "2 + 3 = 5.", "factor": None}]
    assert back.column("messages").to_pylist()[0][0] == {"role": "user", "content": "What is 2 + 3?"}


def test_labels_are_cast_to_bool(tmp_path):
    row = prm_row(labels=[1, 0], answer_correct=1).to_dict()
    assert row["labels"] == [True, False] and all(type(x) is bool for x in row["labels"])
    assert row["answer_correct"] is True
    back = parquet_round_trip(tmp_path, [row], PRM_SCHEMA)
    assert back.column("labels").to_pylist() == [[True, False]]


def test_arrow_refuses_int_labels_without_the_cast():
    with pytest.raises((pa.ArrowInvalid, pa.ArrowTypeError)):
        pa.Table.from_pylist([{**prm_row().to_dict(), "labels": [1, 0]}], schema=PRM_SCHEMA)


def test_soft_labels_allow_none(tmp_path):
    row = prm_row(soft_labels=[None, 0.25], rollouts=[0, 8], correct_rollouts=[0, 2]).to_dict()
    back = parquet_round_trip(tmp_path, [row], PRM_SCHEMA)
    assert back.column("soft_labels").to_pylist() == [[None, 0.25]]
