"""``seeds import --format processbench``: ProcessBench items to trajectory rows, gold answers joined from a reference,
every bad item named on stderr and counted (tests/fixtures/processbench is written here in ProcessBench's schema)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.pipelines.helpers import FIXTURES, run, write_jsonl

ITEMS = FIXTURES / "processbench" / "items.json"
ANSWERS = FIXTURES / "processbench" / "gsm8k_answers.jsonl"


def rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def item(i: int, label: int = -1, **changes: Any) -> dict[str, Any]:
    return {"id": f"math-{i}", "generator": "g", "problem": f"Problem {i}: what is {i} + {i}?",
            "steps": [f"{i} + {i} = {2 * i}.", f"The answer is \\boxed{{{2 * i}}}."], "final_answer_correct": True,
            "label": label, **changes}


def test_fixture_with_gsm8k_gold(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "rows.jsonl"
    assert run(["seeds", "import", "--format", "processbench", ITEMS, "--answers", ANSWERS, "--answers-format", "gsm8k",
                "-o", out]) == 0
    got = rows(out)
    assert [r["id"] for r in got] == [f"fixture-gsm8k-{i}" for i in range(7)]
    # the answer the steps state (the \boxed{}), and the gold from '#### N'; item 6 is not in the reference
    assert [r["answer"] for r in got] == ["12", "100", "57", "20", "180", "24", "36"]
    assert [r["gold_answer"] for r in got] == ["12", "110", "59", "20", "180", "23", None]
    assert [r["processbench_label"] for r in got] == [-1, 1, 0, 1, -1, 1, -1]
    items = json.loads(ITEMS.read_text(encoding="utf-8"))
    assert [[s["text"] for s in r["steps"]] for r in got] == [i["steps"] for i in items]
    assert got[0]["source"] == {"symbol": "fixture-gsm8k-0"} and got[0]["source_kind"] == "seed"
    assert got[0]["notes"] == f"imported from ProcessBench {ITEMS}#0, gold answer from {ANSWERS}"
    err = capsys.readouterr().err
    assert f"imported 7 ProcessBench item(s) from {ITEMS} as trajectory rows, 0 skipped" in err
    assert f"gold answers: 6 joined from {ANSWERS} (7 line(s), 0 skipped), 1 item(s) without one" in err
    assert "--decontaminate none" in err and "disagrees" not in err


def test_jsonl_items_to_stdout_without_answers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    items = write_jsonl(tmp_path / "items.jsonl", json.loads(ITEMS.read_text(encoding="utf-8")))
    assert run(["seeds", "import", "--format", "processbench", items]) == 0
    captured = capsys.readouterr()
    got = [json.loads(line) for line in captured.out.splitlines()]
    assert len(got) == 7 and all(r["gold_answer"] is None and "gold_answer" in r for r in got)
    assert got[3]["notes"] == f"imported from ProcessBench {items}:4"
    assert "gold answers: none given (--answers): the 7 row(s) have gold_answer null" in captured.err


def test_math_reference_boxed_or_answer_and_conflicts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # item 0 says its final answer is wrong, but it is the gold: reported (label would count its last step right)
    items = write_jsonl(tmp_path / "items.jsonl", [item(0, label=1, final_answer_correct=False)]
                        + [item(i) for i in range(1, 4)] + [item(4, steps=["No idea."])])
    reference = [
        {"problem": "Problem 0:  what is 0 + 0 ?", "solution": "Add: $0+0=\\boxed{0}$."},  # spacing differs: still found
        {"problem": "Problem 1: what is 1 + 1?", "solution": "\\boxed{3} no, \\boxed{\\frac{4}{2}}", "answer": "2"},
        {"problem": "Problem 2: what is 2 + 2?", "solution": "It is $\\boxed{4}$."},
        {"problem": "Problem 2: what is 2 + 2?", "answer": "5"},  # a second, different answer: neither is trusted
        {"problem": "Problem 3: what is 3 + 3?", "solution": "six"},  # no boxed answer: a bad line
    ]
    answers = tmp_path / "math.json"
    answers.write_text(json.dumps(reference, indent=1), encoding="utf-8")  # a JSON array, as HF files often are
    out = tmp_path / "rows.jsonl"
    assert run(["seeds", "import", "--format", "processbench", items, "--answers", answers, "--answers-format", "math",
                "-o", out]) == 0
    got = rows(out)
    assert [r["gold_answer"] for r in got] == ["0", "2", None, None, None]
    assert [r["answer"] for r in got] == ["0", "2", "4", "6", None]
    err = capsys.readouterr().err
    assert f"{answers}#4: answer: missing, and no \\boxed{{}} answer in solution" in err
    assert "gold answers: 2 joined" in err and "(5 line(s), 1 skipped), 3 item(s) without one" in err
    assert "1 item(s) state no final answer: label counts their last step wrong" in err
    assert "1 item(s) whose stated answer checked against the gold disagrees with their final_answer_correct" in err
    assert err.rstrip().splitlines()[-2].endswith(": math-0")


def test_a_reference_in_the_other_format_names_only_its_first_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    items = write_jsonl(tmp_path / "items.jsonl", [item(i) for i in range(3)])
    answers = write_jsonl(tmp_path / "math.jsonl", [{"problem": f"Problem {i}: what is {i} + {i}?", "answer": 2 * i}
                                                    for i in range(12)])
    assert run(["seeds", "import", "--format", "processbench", items, "--answers", answers, "--answers-format", "gsm8k"]) == 0
    captured = capsys.readouterr()
    assert sum(line.startswith(f"{answers}:") for line in captured.err.splitlines()) == 10
    assert "gold answers: 0 joined from" in captured.err and "(12 line(s), 12 skipped, the first 10 named)" in captured.err
    assert run(["seeds", "import", "--format", "processbench", items, "--answers", answers, "--answers-format", "math"]) == 0
    assert [json.loads(line)["gold_answer"] for line in capsys.readouterr().out.splitlines()] == ["0", "2", "4"]  # numbers too


def test_bad_items_are_named_per_line_and_nothing_is_lost(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = [
        json.dumps(item(1)),
        json.dumps({k: v for k, v in item(2).items() if k != "label"}),
        json.dumps(item(3, label=2)),
        json.dumps(item(4, steps="one step")),
        b'{"id": "math-5", "problem": "caf\xe9"}'.decode("latin-1"),  # written below as raw bytes
        "{broken",
        json.dumps(item(1, generator="other")),  # duplicate id
        json.dumps(["not", "an", "object"]),
        "",
        json.dumps(item(9, label=0, final_answer_correct=False)),
    ]
    path = tmp_path / "items.jsonl"
    path.write_bytes(b"\n".join(line.encode("latin-1") if i == 4 else line.encode() for i, line in enumerate(lines)) + b"\n")
    out = tmp_path / "rows.jsonl"
    assert run(["seeds", "import", "--format", "processbench", path, "-o", out]) == 0
    assert [r["id"] for r in rows(out)] == ["math-1", "math-9"]
    err = capsys.readouterr().err.splitlines()
    named = {line.split(": ", 1)[0]: line.split(": ", 1)[1] for line in err if line.startswith(f"{path}:")}
    assert named == {
        f"{path}:2": "label: missing",
        f"{path}:3": "label: 2 is out of range: -1 (no wrong step) or a step index 0..1",
        f"{path}:4": "steps: not a non-empty list of strings",
        f"{path}:5": "line: not_utf8 (invalid byte at 33)",
        f"{path}:6": "line: malformed_json (Expecting property name enclosed in double quotes: column 2)",
        f"{path}:7": f"id: duplicate 'math-1' (first at {path}:1), skipped",
        f"{path}:8": "item: expected an object with id, generator, problem, steps, final_answer_correct, label, got list",
    }
    assert f"imported 2 ProcessBench item(s) from {path} as trajectory rows, 7 skipped" in err  # 9 items, blank left out


def test_bad_items_of_an_array_are_named_by_index(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "items.json"
    path.write_text(json.dumps([item(0), item(1, label=5), 7]), encoding="utf-8")
    assert run(["seeds", "import", "--format", "processbench", path]) == 0
    err = capsys.readouterr().err
    assert f"{path}#1: label: 5 is out of range" in err and f"{path}#2: item: expected an object" in err
    assert "imported 1 ProcessBench item(s)" in err


def test_nothing_written_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_jsonl(tmp_path / "items.jsonl", [item(0, label=9)])
    assert run(["seeds", "import", "--format", "processbench", path]) == 1
    assert "imported 0 ProcessBench item(s)" in capsys.readouterr().err


@pytest.mark.parametrize(("content", "args", "words"), [
    (b"[{\"id\": 1,", [], "malformed JSON array: Expecting"),
    (b"[\"caf\xe9\"]", [], "not UTF-8 (byte 6)"),
    ("[1]".encode("utf-16"), [], "is UTF-16LE, not UTF-8"),
    (b"[]", ["--answers", "{answers}"], "--answers needs --answers-format gsm8k|math"),
])
def test_whole_file_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, args: list[str],
                                        words: str) -> None:
    path = tmp_path / "items.json"
    path.write_bytes(content)
    assert run(["seeds", "import", "--format", "processbench", path, *[a.format(answers=ANSWERS) for a in args]]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0]


def test_answers_only_with_processbench(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["seeds", "import", "--format", "gsm8k", FIXTURES / "gsm8k_sample.jsonl", "--answers", ANSWERS,
                "--answers-format", "gsm8k"]) == 2
    assert "only with --format processbench" in capsys.readouterr().err
