"""``reverse-o1 export prm DIR``: TRL stepwise supervision with a measured label on every step."""

from __future__ import annotations

from pathlib import Path

import datasets
import pyarrow.parquet as pq

from tests.pipelines.export.prm_shards import ROWS, TEST_SPLIT, write_prm_shards
from tests.pipelines.helpers import manifest, run


def exported(out: Path, *flags: str) -> dict[str, list]:
    assert run(["export", "prm", out, *flags]) == 0
    labels = {}
    for split in ("train", "test"):
        path = out / "prm_trl" / f"{split}.parquet"
        for row in pq.read_table(path).to_pylist() if path.exists() else []:
            assert len(row["completions"]) == len(row["labels"]) and None not in row["labels"]
            assert (row["id"] in TEST_SPLIT) == (split == "test")
            labels[row["id"]] = row["labels"]
    entry = manifest(out)["exports"]["prm_trl"]
    assert len(labels) + sum(entry["left_out"].values()) == len(ROWS)  # every row written or left out with a reason
    return labels


def test_measured_methods_by_default_and_cut_on_request(tmp_path: Path) -> None:
    out = write_prm_shards(tmp_path / "out")
    assert exported(out) == {"s1": [True, False, False], "s2": [True, True], "b2": [True, True, True]}
    assert manifest(out)["exports"]["prm_trl"]["left_out"] == {"method_not_chosen:mcts": 3, "unmeasured_steps": 1}
    cut = exported(out, "--method", "all", "--unmeasured", "cut")
    assert cut["b1"] == [True, False] and cut["m1"] == [True, True, True] and cut["m2"] == [True]
    assert "m3" not in cut  # its first step unmeasured: nothing left
    data = datasets.load_dataset(str(out), "prm_trl", split="train", cache_dir=str(tmp_path / "hf"))
    assert data.column_names[:3] == ["prompt", "completions", "labels"]


def test_an_unknown_method_is_a_one_line_error(tmp_path: Path) -> None:
    out = write_prm_shards(tmp_path / "out")
    assert run(["export", "prm", out, "--method", "shepherd,guess"]) == 2
