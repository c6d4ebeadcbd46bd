"""Every bad input ends up filtered or dead-lettered with a reason; the counts add up."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tests.pipelines.helpers import assert_balanced, dead_letters, prm_rows, run, scripted, seed


def _label(tmp_path: Path, *inputs: Path) -> Path:
    out = tmp_path / "out"
    args = ["label", "--out", out, "--backend", "scripted", "--model", scripted(), "--n", "2", "--input", *inputs]
    assert run(args) == 0
    return out


def test_a_file_of_every_kind_of_bad_line(tmp_path: Path) -> None:
    good = seed("good", ["one", "two"])
    lines = [
        json.dumps(good).encode(),                                   # 1 written
        b'{"id": "trunc", "problem": "p", "answer": "1", "ste',      # 2 truncated JSON
        b"not json at all",                                          # 3 malformed
        b"",                                                         # 4 blank: filtered
        b"\xff\xfe\x00bad bytes",                                    # 5 not UTF-8
        json.dumps({"id": 5, "problem": ["p"], "answer": "1", "steps": "x"}).encode(),  # 6 wrong types
        json.dumps(seed("empty", [])).encode(),                      # 7 zero steps
        json.dumps({"problem": "p", "steps": [{"text": "a"}]}).encode(),  # 8 no id, no gold answer
        json.dumps(good).encode(),                                   # 9 duplicate id
        b'{"id": "big", "problem": "' + b"x" * 10_000_000 + b'"}',   # 10 a 10 MB line
        b"[1, 2, 3]",                                                # 11 not an object
        b'{"a": ' * 100_000 + b"1" + b"}" * 100_000,                 # 12 hostile nesting
    ]
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    out = _label(tmp_path, path)
    assert [r["completions"] for r in prm_rows(out)] == [["one", "two"]]
    by_line = {int(d["ref"].rsplit(":", 1)[1]): (d["stage"], d["reason"]) for d in dead_letters(out)}
    assert by_line == {
        2: ("read", "malformed_json"),
        3: ("read", "malformed_json"),
        5: ("read", "not_utf8"),
        6: ("seeds", by_line[6][1]),
        7: ("seeds", "invalid_steps"),
        8: ("seeds", by_line[8][1]),
        9: ("seeds", "duplicate_id"),
        10: ("read", "too_large"),
        11: ("seeds", "invalid_line"),
        12: ("read", "too_deep"),
    }
    assert by_line[6][1].startswith("invalid_") and by_line[8][1].startswith("invalid_")
    data = assert_balanced(out)
    assert data["stages"]["label/read"]["filtered"] == {"blank_line": 1}
    assert data["stages"]["label/read"]["read"] == 12
    assert all(len(d["input"]) < 1000 for d in dead_letters(out))  # previews are bounded


def test_missing_truncated_and_json_files(tmp_path: Path) -> None:
    array = tmp_path / "seeds.json"
    array.write_text(json.dumps([seed(1, ["a", "b"]), seed(2, ["c", "d"])]))
    table = pa.Table.from_pylist([seed(3, ["e", "f"])])
    pq.write_table(table, tmp_path / "good.parquet")
    broken = tmp_path / "broken.parquet"
    broken.write_bytes((tmp_path / "good.parquet").read_bytes()[:50])
    out = _label(tmp_path, array, tmp_path / "good.parquet", broken, tmp_path / "nope.jsonl")
    assert sorted(r["prompt"] for r in prm_rows(out)) == ["Problem 1?", "Problem 2?", "Problem 3?"]
    reasons = sorted((d["reason"], Path(d["ref"]).name) for d in dead_letters(out))
    assert reasons == [("missing_file", "nope.jsonl"), ("unreadable_file", "broken.parquet")]
    assert_balanced(out)


def test_trajectory_rows_without_gold_answer_are_dead_lettered(tmp_path: Path) -> None:
    rows = [
        {"id": "t1", "source_kind": "seed", "problem": "P?", "steps": [{"text": "a"}, {"text": "b"}], "answer": "42"},
        {"id": "t2", "source_kind": "seed", "problem": "P?", "steps": [{"text": "a"}]},
        {"id": "t3", "source_kind": "seed", "problem": "P?", "steps": "oops", "answer": "1"},
    ]
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = _label(tmp_path, path)
    assert len(prm_rows(out)) == 1
    assert sorted(d["reason"] for d in dead_letters(out)) == ["invalid_steps", "no_gold_answer"]
    assert_balanced(out)


def test_limit_takes_the_first_inputs(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text("".join(json.dumps(seed(i, ["a", "b"])) + "\n" for i in range(6)))
    out = tmp_path / "out"
    assert run(["label", "--input", path, "--out", out, "--backend", "scripted", "--model", scripted(), "--limit", "2"]) == 0
    assert sorted(r["source"]["symbol"] for r in prm_rows(out)) == ["s0", "s1"]
    assert_balanced(out)
