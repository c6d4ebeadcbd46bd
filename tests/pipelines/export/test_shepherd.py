"""``reverse-o1 export math-shepherd DIR`` after a scripted ``label`` run, and on bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.export.shepherd import to_math_shepherd
from schemas.arrow import PRM_SCHEMA
from tests.pipelines.export.prm_shards import ROWS, write_prm_shards
from tests.pipelines.helpers import prm_rows, run, scripted, seed, write_jsonl

POLICY = scripted([("BAD", "So the answer is 0.")], default="Continuing... The answer is 42.")


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def labelled(tmp_path: Path, seeds: list[dict], method: str = "shepherd") -> Path:
    out = tmp_path / "out"
    args = ["label", "--input", write_jsonl(tmp_path / "s.jsonl", seeds), "--out", out, "--backend", "scripted",
            "--model", POLICY, "--n", "2", "--method", method]
    assert run(args) == 0
    return out


def test_export_after_label_has_the_math_shepherd_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = labelled(tmp_path, [seed(1, ["Start here.", "A BAD step.", "Conclude: 42."]), seed(2, ["Only step."])])
    capsys.readouterr()
    assert run(["export", "math-shepherd", out]) == 0
    assert "2 rows" in capsys.readouterr().err
    records = {r["input"].split(" Step 1:")[0]: r for r in read_jsonl(out / "math_shepherd.jsonl")}
    assert set(records) == {"Problem 1?", "Problem 2?"}
    first = records["Problem 1?"]
    assert first["input"] == "Problem 1? Step 1: Start here. ки\nStep 2: A BAD step. ки\nStep 3: Conclude: 42. ки"
    assert first["label"] == "Problem 1? Step 1: Start here. +\nStep 2: A BAD step. -\nStep 3: Conclude: 42. +"
    assert first["task"] == "GSM8K"
    # the label is the input with each tag replaced, and the tags line up with the PRM labels
    row = next(r for r in prm_rows(out) if r["prompt"] == "Problem 1?")
    marks = [" +" if ok else " -" for ok in row["labels"]]
    rebuilt = first["input"]
    for mark in marks:
        rebuilt = rebuilt.replace(" ки", mark, 1)
    assert rebuilt == first["label"] and first["input"].count("ки") == len(row["completions"])
    assert records["Problem 2?"]["input"] == "Problem 2? Step 1: Only step. ки"


def test_binary_rows_export_to_stdout_and_another_task(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    row = {"id": "w", "source_kind": "seed", "problem": "P?", "steps": [{"text": t} for t in ["a", "b BAD", "c"]],
           "answer": "1", "gold_answer": "42"}
    out = labelled(tmp_path, [row], method="binary")
    capsys.readouterr()
    assert run(["export", "math-shepherd", out, "-o", "-", "--task", "MATH"]) == 0
    captured = capsys.readouterr()
    [record] = [json.loads(line) for line in captured.out.splitlines()]
    assert record == {"input": "P? Step 1: a ки\nStep 2: b BAD ки\nStep 3: c ки",
                      "label": "P? Step 1: a +\nStep 2: b BAD -\nStep 3: c -", "task": "MATH"}
    assert "-> stdout" in captured.err and not (out / "math_shepherd.jsonl").exists()


def test_tags_and_line_breaks_inside_texts_cannot_fake_steps() -> None:
    record = to_math_shepherd("Две руки, ки?", ["Берём руки.\nПотом  \r\n считаем ки", "Ответ: 3"], [True, False], "X")
    assert record["input"].count("ки") == 2 and record["input"].count(" ки") == 2
    assert record["input"].split("\n") == ["Две рук\u2060и, к\u2060и? Step 1: Берём рук\u2060и. Потом считаем к\u2060и ки",
                                           "Step 2: Ответ: 3 ки"]
    assert record["label"].endswith("к\u2060и +\nStep 2: Ответ: 3 -")
    # the reader sees the same words
    assert record["input"].replace("\u2060", "").startswith("Две руки, ки? Step 1: Берём руки. Потом")


def write_prm(out: Path, rows: list[dict], name: str = "part.parquet") -> None:
    base = {"soft_labels": None, "rollouts": None, "correct_rollouts": None, "method": "shepherd", "answer_correct": True,
            "source_kind": "seed", "source": None, "generator": None}
    os.makedirs(out / "prm", exist_ok=True)
    pq.write_table(pa.Table.from_pylist([base | r for r in rows], schema=PRM_SCHEMA), out / "prm" / name)


def test_unusable_rows_are_skipped_and_counted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    write_prm(out, [
        {"id": "ok", "prompt": "P?", "completions": ["a", "b"], "labels": [True, False]},
        {"id": "null", "prompt": "P?", "completions": ["a", "b"], "labels": None},
        {"id": "hole", "prompt": "P?", "completions": ["a", "b"], "labels": [True, None]},
        {"id": "short", "prompt": "P?", "completions": ["a", "b"], "labels": [True]},
        {"id": "none", "prompt": "P?", "completions": [], "labels": []},
        {"id": "ok", "prompt": "P?", "completions": ["a", "b"], "labels": [True, False]},
    ])
    target = tmp_path / "deep" / "ms.jsonl"
    assert run(["export", "math-shepherd", out, "--output", target]) == 0
    assert [r["label"] for r in read_jsonl(target)] == ["P? Step 1: a +\nStep 2: b -"]
    err = capsys.readouterr().err
    assert "1 rows of 6" in err and "left out 5" in err
    for reason in ("unlabelled 1", "unmeasured_steps 1", "length_mismatch 1", "no_steps 1", "duplicate_id 1"):
        assert reason in err
    assert not [p for p in os.listdir(target.parent) if p != "ms.jsonl"]  # no temporary left


@pytest.mark.parametrize("kind", ["missing", "empty", "corrupt"])
def test_a_dir_without_usable_shards_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str) -> None:
    out = tmp_path / "out"
    if kind != "missing":
        os.makedirs(out / "prm")
    if kind == "corrupt":
        write_prm(out, [{"id": "ok", "prompt": "P?", "completions": ["a"], "labels": [True]}])
        (out / "prm" / "bad.parquet").write_bytes(b"PAR1 not really")
    before = sorted(os.listdir(tmp_path))
    assert run(["export", "math-shepherd", out]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "error" in err and str(out) in err
    assert {"missing": "no such directory", "empty": "no PRM shards", "corrupt": "unreadable PRM shard"}[kind] in err
    assert not (out / "math_shepherd.jsonl").exists() and sorted(os.listdir(tmp_path)) == before
    if kind == "corrupt":
        assert os.listdir(out) == ["prm"]  # the partial file was removed


def exported(tmp_path: Path, capsys: pytest.CaptureFixture[str], *flags: str) -> tuple[dict[str, list[str]], str]:
    """Export the hand-made shards with ``flags``: per row id (its first step's text), its +/- marks; and stderr."""
    out = write_prm_shards(tmp_path / "out")
    capsys.readouterr()
    assert run(["export", "math-shepherd", out, *flags]) == 0
    err = capsys.readouterr().err
    marks = {}
    for record in read_jsonl(out / "math_shepherd.jsonl"):
        ident = record["input"].split("Step 1: ")[1].split(" ")[0]
        marks[ident] = [line.rsplit(" ", 1)[1] for line in record["label"].split("\n")]
        assert record["input"].count(" ки") == len(marks[ident])
    written = int(err.split(": ", 1)[1].split(" rows of ")[0])
    assert written == len(marks) and f"rows of {len(ROWS)} " in err
    return marks, err


def left_out(err: str) -> dict[str, int]:
    """The reasons and counts in stderr's "left out N (reason n, ...)"; N must be their sum."""
    if "left out" not in err:
        return {}
    total, detail = err.split("left out ", 1)[1].split(" (", 1)
    counts = {r: int(n) for r, n in (part.rsplit(" ", 1) for part in detail.split(")", 1)[0].split(", "))}
    assert sum(counts.values()) == int(total)
    return counts


def test_by_default_only_measured_methods_and_rows_without_a_null_label(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    marks, err = exported(tmp_path, capsys)
    assert marks == {"s1": ["+", "-", "-"], "s2": ["+", "+"], "b2": ["+", "+", "+"]}
    assert left_out(err) == {"method_not_chosen:mcts": 3, "unmeasured_steps": 1}
    assert len(marks) + sum(left_out(err).values()) == len(ROWS)
    assert "--method shepherd,binary,consensus" in err and "methods binary 1, shepherd 2" in err


def test_method_all_adds_the_fully_measured_mcts_rows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    marks, err = exported(tmp_path, capsys, "--method", "all")
    assert set(marks) == {"s1", "s2", "b2", "m1"} and marks["m1"] == ["+", "+", "+"]
    assert left_out(err) == {"unmeasured_steps": 3}
    marks, err = exported(tmp_path, capsys, "--method", "mcts")
    assert set(marks) == {"m1"} and left_out(err) == {"method_not_chosen:shepherd": 2, "method_not_chosen:binary": 2,
                                                      "unmeasured_steps": 2}


def test_unmeasured_cut_keeps_the_steps_before_the_first_null(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    marks, err = exported(tmp_path, capsys, "--method", "all", "--unmeasured", "cut")
    assert marks["b1"] == ["+", "-"] and marks["m2"] == ["+"] and "m3" not in marks
    assert left_out(err) == {"unmeasured_first_step": 1} and "cut_at_unmeasured 2" in err
    assert len(marks) + 1 == len(ROWS)


def test_an_unknown_method_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = write_prm_shards(tmp_path / "out")
    assert run(["export", "math-shepherd", out, "--method", "shepherd,guess"]) == 2
    err = capsys.readouterr().err
    assert "unknown method guess" in err and len(err.strip().splitlines()) == 1
    assert not (out / "math_shepherd.jsonl").exists()
