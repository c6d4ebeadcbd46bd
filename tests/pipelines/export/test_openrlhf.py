"""``reverse-o1 export openrlhf DIR`` on hand-made PRM shards: which rows, which values, and what the manifest says."""

from __future__ import annotations

from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest

from tests.pipelines.export.prm_shards import ROWS, TEST_SPLIT, write_prm_shards
from tests.pipelines.helpers import manifest, run


def exported(out: Path, *flags: str) -> tuple[dict[str, list], dict]:
    """Export with ``flags``: per row id, its ``value``; and the manifest's entry, whose counts must add up."""
    assert run(["export", "openrlhf", out, *flags]) == 0
    values = {}
    for split in ("train", "test"):
        path = out / "openrlhf" / f"{split}.parquet"
        for row in pq.read_table(path).to_pylist() if path.exists() else []:
            assert row["input"].count(" ки") == len(row["value"]) and None not in row["value"]
            assert (row["id"] in TEST_SPLIT) == (split == "test")  # the split of the shard it came from
            values[row["id"]] = row["value"]
    entry = manifest(out)["exports"]["openrlhf"]
    assert sum(entry["rows"].values()) == len(values) and len(values) + sum(entry["left_out"].values()) == len(ROWS)
    assert sum(entry["settings"]["rows_by_method"].values()) == len(values)
    return values, entry


def test_by_default_hard_labels_of_measured_rows_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = write_prm_shards(tmp_path / "out")
    values, entry = exported(out)
    assert values == {"s1": ["+", "-", "-"], "s2": ["+", "+"], "b2": ["+", "+", "+"]}
    assert entry["left_out"] == {"method_not_chosen:mcts": 3, "unmeasured_steps": 1}
    assert entry["settings"] | {"rows_by_method": None} == {
        "soft": False, "methods": ["shepherd", "binary", "consensus"], "unmeasured": "drop", "rows_by_method": None,
        "cut_at_unmeasured": 0, "soft_from_hard_label": 0}
    err = capsys.readouterr().err
    assert "3 rows of 7 (train 2, test 1)" in err and "method_not_chosen:mcts 3" in err
    loaded = datasets.load_dataset(str(out), "openrlhf", split="train", cache_dir=str(tmp_path / "hf"))
    assert loaded.column_names == ["input", "value", "id"] and sorted(loaded["id"]) == ["b2", "s1"]


def test_method_all_and_cut(tmp_path: Path) -> None:
    out = write_prm_shards(tmp_path / "out")
    values, entry = exported(out, "--method", "all")
    assert set(values) == {"s1", "s2", "b2", "m1"} and entry["left_out"] == {"unmeasured_steps": 3}
    values, entry = exported(out, "--method", "binary,mcts", "--unmeasured", "cut")
    assert values == {"b1": ["+", "-"], "b2": ["+", "+", "+"], "m1": ["+", "+", "+"], "m2": ["+"]}
    assert entry["left_out"] == {"method_not_chosen:shepherd": 2, "unmeasured_first_step": 1}
    assert entry["settings"]["cut_at_unmeasured"] == 2 and entry["settings"]["methods"] == ["binary", "mcts"]
    assert entry["settings"]["rows_by_method"] == {"binary": 2, "mcts": 2}


def test_soft_values_are_never_filled_where_nothing_measured(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = write_prm_shards(tmp_path / "out")
    values, entry = exported(out, "--soft")
    # a null soft label takes its measured hard label (b2's steps before the answer); b1's unmeasured step drops it
    assert values == {"s1": [0.5, 0.0, 0.0], "s2": [1.0, 1.0], "b2": [1.0, 1.0, 1.0]}
    assert entry["left_out"] == {"method_not_chosen:mcts": 3, "unmeasured_steps": 1}
    assert entry["settings"]["soft"] is True and entry["settings"]["soft_from_hard_label"] == 2
    assert "soft_from_hard_label 2 steps" in capsys.readouterr().err
    values, entry = exported(out, "--soft", "--method", "all", "--unmeasured", "cut")
    assert values["b1"] == [1.0, 0.0] and values["m2"] == [1.0] and "m3" not in values
    assert entry["settings"]["soft_from_hard_label"] == 6


def test_no_row_left_removes_the_export_and_says_why(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = write_prm_shards(tmp_path / "out")
    exported(out)
    assert run(["export", "openrlhf", out, "--method", "mcts", "--unmeasured", "drop"]) == 0
    assert (out / "openrlhf" / "test.parquet").exists()  # m1 is measured throughout
    for path in (out / "prm").glob("*.test.parquet"):
        path.unlink()
    assert run(["export", "openrlhf", out, "--method", "mcts"]) == 0
    assert "openrlhf" not in manifest(out)["exports"] and not list((out / "openrlhf").glob("*.parquet"))
    assert "0 rows of 5" in capsys.readouterr().err
