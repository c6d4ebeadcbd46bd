"""``--test-fraction`` / ``--split-seed`` through the real Beam runner: whole problems per split, kept on
resume and by every command that writes into the folder, refused when changed."""

from __future__ import annotations

from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest

from tests.pipelines.helpers import manifest, run, scripted, seed, write_jsonl

POLICY = scripted([("BAD", "So the answer is 0.")], default="Continuing... The answer is 42.")
LABEL = ["--backend", "scripted", "--model", POLICY, "--n", "2"]


def seeds(tmp_path: Path, n: int = 12) -> Path:
    return write_jsonl(tmp_path / "seeds.jsonl", [seed(i, ["Start.", "The answer is 42."]) for i in range(n)])


def problems(out: Path, kind: str, split: str) -> set[str]:
    column = "problem" if kind == "sft" else "prompt"
    return {r[column] for p in (out / kind).glob(f"*.{split}.parquet") for r in pq.read_table(p).to_pylist()}


def test_label_and_tag_into_one_folder_share_the_split(tmp_path: Path) -> None:
    out = tmp_path / "out"
    file = seeds(tmp_path)
    assert run(["label", "--input", file, "--out", out, *LABEL, "--test-fraction", "0.4", "--split-seed", "5"]) == 0
    train, test = problems(out, "prm", "train"), problems(out, "prm", "test")
    assert train and test and not train & test and len(train | test) == 12
    assert not list((out / "prm").glob("*-????????????????.parquet"))  # every shard names its split
    # a second command into the folder, without the options, takes the folder's split
    rows = [{"problem": f"Problem {i}?", "cot": "First add.\nThen the answer is 42.", "answer": "42"} for i in range(12)]
    assert run(["tag", "--input", write_jsonl(tmp_path / "cot.jsonl", rows), "--column", "cot", "--out", out]) == 0
    assert problems(out, "sft", "train") == train and problems(out, "sft", "test") == test
    data = manifest(out)
    assert data["split"] == {"test_fraction": 0.4, "seed": 5}
    assert data["splits"]["prm"] == {"test": len(test), "train": len(train)}
    loaded = datasets.load_dataset(str(out), "prm")
    assert {k: len(v) for k, v in loaded.items()} == {"train": len(train), "test": len(test)}


def test_a_rerun_keeps_the_assignment_and_a_change_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    file = seeds(tmp_path, 6)
    assert run(["label", "--input", file, "--out", out, *LABEL, "--test-fraction", "0.5"]) == 0
    before = {s: problems(out, "prm", s) for s in ("train", "test")}
    more = write_jsonl(tmp_path / "more.jsonl", [seed(i, ["Start.", "The answer is 42."])
                                                                                       for i in range(10)])
    assert run(["label", "--input", more, "--out", out, *LABEL]) == 0  # resumes the first 6, adds 4
    after = {s: problems(out, "prm", s) for s in ("train", "test")}
    assert before["train"] <= after["train"] and before["test"] <= after["test"]
    assert not after["train"] & after["test"] and len(after["train"] | after["test"]) == 10
    capsys.readouterr()
    assert run(["label", "--input", more, "--out", out, *LABEL, "--test-fraction", "0.2"]) == 2
    err = capsys.readouterr().err
    assert "already holds rows split with --test-fraction 0.5" in err and len(err.strip().splitlines()) == 1
    assert run(["label", "--input", more, "--out", out, *LABEL, "--split-seed", "9"]) == 2


def test_bad_fractions_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for value in ("1", "-0.1"):
        code = run(["label", "--input", seeds(tmp_path, 1), "--out", tmp_path / "o", *LABEL, "--test-fraction", value])
        assert code == 2
    assert "test_fraction" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        run(["label", "--input", seeds(tmp_path, 1), "--out", tmp_path / "o", *LABEL, "--test-fraction", "half"])
    assert exit_.value.code == 2 and "invalid float value: 'half'" in capsys.readouterr().err
