"""``reverse-o1 export rl|orm DIR`` after a scripted ``difficulty`` run (a test double whose replies fix
each problem's pass rate), and on bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import datasets
import pyarrow.parquet as pq
import pytest

from generators.difficulty import solve_messages
from tests.pipelines.helpers import manifest, run, scripted, seed, write_jsonl

# Problem 1: 1 of 4 replies right (pass rate 0.25); 2: never; 3: always; 4: 3 of 4 (0.75).
POLICY = scripted([("Problem 1?", ["The answer is 42.", "The answer is 1.", "The answer is 2.", "No idea."]),
                   ("Problem 2?", "The answer is 7."), ("Problem 3?", "The answer is 42."),
                   ("Problem 4?", ["The answer is 42.", "The answer is 42.", "The answer is 42.", "The answer is 5."])])


def measured(tmp_path: Path, n: int = 4, *extra: str) -> Path:
    seeds = write_jsonl(tmp_path / "s.jsonl", [seed(i, ["x."]) for i in range(1, n + 1)])
    out = tmp_path / "out"
    args = ["difficulty", "--input", seeds, "--out", out, "--backend", "scripted", "--model", POLICY, "--k", "4", *extra]
    assert run(args) == 0
    return out


def rows(out: Path, name: str) -> list[dict[str, Any]]:
    return [r for p in sorted((out / name).glob("*.parquet")) for r in pq.read_table(p).to_pylist()]


def test_rl_keeps_problems_sometimes_solved_in_trl_columns(tmp_path: Path) -> None:
    out = measured(tmp_path)
    assert run(["export", "rl", out]) == 0
    got = {r["problem_id"]: r for r in rows(out, "rl")}
    assert set(got) == {"s1", "s4"}
    one = got["s1"]
    assert one["prompt"] == solve_messages("Problem 1?") and one["prompt"][0]["role"] == "user"
    assert one["ground_truth"] == one["answer"] == "42" and one["pass_rate"] == 0.25 and one["k"] == 4
    assert manifest(out)["exports"]["rl"]["left_out"] == {"too_easy": 1, "too_hard": 1}
    loaded = datasets.load_dataset(str(out), "rl", split="train")
    assert loaded.column_names[:3] == ["prompt", "ground_truth", "answer"] and len(loaded) == 2
    assert loaded[0]["prompt"] == [{"role": "user", "content": loaded[0]["prompt"][0]["content"]}]


@pytest.mark.parametrize(("band", "kept", "left"), [
    (["--min-pass", "0", "--max-pass", "1"], {"s1", "s2", "s3", "s4"}, {}),
    (["--min-pass", "0.5"], {"s4"}, {"too_hard": 2, "too_easy": 1}),
    (["--max-pass", "0.25"], {"s1"}, {"too_hard": 1, "too_easy": 2}),
    (["--min-pass", "0.25", "--max-pass", "1"], {"s1", "s3", "s4"}, {"too_hard": 1}),
])
def test_rl_band(tmp_path: Path, band: list[str], kept: set[str], left: dict[str, int]) -> None:
    out = measured(tmp_path)
    assert run(["export", "rl", out, *band]) == 0
    assert {r["problem_id"] for r in rows(out, "rl")} == kept
    assert manifest(out)["exports"]["rl"]["left_out"] == left


def test_rl_keeps_the_split_and_the_row_of_most_samples(tmp_path: Path) -> None:
    out = measured(tmp_path, 12, "--test-fraction", "0.5")
    splits = {r["problem_id"]: ("test" if ".test." in p.name else "train")
              for p in (out / "difficulty").glob("*.parquet") for r in pq.read_table(p).to_pylist()}
    assert set(splits.values()) == {"train", "test"}
    assert run(["export", "rl", out, "--min-pass", "0", "--max-pass", "1"]) == 0
    for split in ("train", "test"):
        assert {r["problem_id"] for r in pq.read_table(out / "rl" / f"{split}.parquet").to_pylist()} == \
            {p for p, s in splits.items() if s == split}
    seeds = tmp_path / "s.jsonl"  # the same problems measured again with more samples, into the same folder
    assert run(["difficulty", "--input", seeds, "--out", out, "--backend", "scripted", "--model", POLICY, "--k", "8"]) == 0
    assert run(["export", "rl", out, "--min-pass", "0", "--max-pass", "1"]) == 0
    got = [r for s in ("train", "test") for r in pq.read_table(out / "rl" / f"{s}.parquet").to_pylist()]
    assert len(got) == 12 and {r["k"] for r in got} == {8}
    assert manifest(out)["exports"]["rl"]["left_out"] == {"duplicate_problem": 12}


def test_orm_has_one_labelled_row_per_completion(tmp_path: Path) -> None:
    out = measured(tmp_path)
    assert run(["export", "orm", out]) == 0
    got = rows(out, "orm")
    assert len(got) == 16
    labels = {p: [r["label"] for r in got if r["problem_id"] == p] for p in ("s1", "s2", "s3", "s4")}
    assert labels == {"s1": [True, False, False, False], "s2": [False] * 4, "s3": [True] * 4, "s4": [True, True, True, False]}
    first = got[0]
    assert first["prompt"] == solve_messages("Problem 1?")
    assert first["completion"] == [{"role": "assistant", "content": "The answer is 42."}]
    assert first["answer"] == "42" and first["stated_answer"] == "42" and first["truncated"] is False
    assert [r["stated_answer"] for r in got if r["problem_id"] == "s1"][3] is None
    assert len({r["id"] for r in got}) == 16
    loaded = datasets.load_dataset(str(out), "orm", split="train")
    assert loaded.column_names[:3] == ["prompt", "completion", "label"] and len(loaded) == 16
    assert manifest(out)["exports"]["orm"]["rows"] == {"train": 16, "test": 0}


def test_no_difficulty_rows_and_a_bad_band_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run(["export", "rl", empty]) != 0
    assert "no DIFFICULTY shards" in capsys.readouterr().err
    assert run(["export", "orm", empty]) != 0
    out = measured(tmp_path)
    assert run(["export", "rl", out, "--min-pass", "0.8", "--max-pass", "0.2"]) != 0
    assert "above --max-pass" in capsys.readouterr().err
    assert not (out / "rl").exists()
