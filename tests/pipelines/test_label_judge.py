"""``reverse-o1 label --method judge`` through the real Beam runner: scripted (a test double, not a
model) for the exact labels, and once with the embedded model end to end."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from tests.pipelines.helpers import FIXTURES, assert_balanced, manifest, prm_rows, run, scripted, seed, write_jsonl

QUESTION = "\n\nIs the step"  # what follows the judged step in the judge's prompt
JUDGE = scripted([("BAD" + QUESTION, "incorrect"), ("MAYBE" + QUESTION, "Well, it depends.")], default="correct")


def wrong(i: int, steps: list[str]) -> dict[str, Any]:
    return {"id": f"w{i}", "source_kind": "seed", "problem": f"Wrong {i}?", "steps": [{"text": t} for t in steps],
            "answer": "7", "gold_answer": "42"}


def label(tmp_path: Path, rows: list[dict[str, Any]], *extra: str) -> Path:
    inputs = write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out"
    assert run(["label", "--method", "judge", "--input", inputs, "--out", out, "--backend", "scripted", "--model", JUDGE,
                *extra]) == 0
    return out


def test_judge_rows_label_up_to_the_first_step_judged_wrong(tmp_path: Path) -> None:
    out = label(tmp_path, [wrong(1, ["a", "b BAD", "c", "d BAD"]), wrong(2, ["x MAYBE", "y"]), seed(3, ["p", "q"])])
    rows = {r["prompt"]: r for r in prm_rows(out)}
    first = rows["Wrong 1?"]
    assert first["method"] == "judge" and first["labels"] == [True, False, None, None]
    assert first["judge_labels"] == first["labels"] and first["mc_labels"] is None
    p = math.exp(-1)  # the scripted backend's log-prob of a first completion
    assert first["soft_labels"] == [pytest.approx(p), pytest.approx(1 - p), None, None]
    assert first["rollouts"] == [0] * 4 and first["answer_correct"] is False
    assert rows["Wrong 2?"]["labels"] == [None, True] and rows["Wrong 2?"]["soft_labels"] == [None, pytest.approx(p)]
    assert rows["Problem 3?"]["labels"] == [True, True] and rows["Problem 3?"]["answer_correct"] is True
    generator = first["generator"]
    assert (generator["backend"], generator["model"], generator["temperature"], generator["prompt_version"]) == (
        "scripted", "scripted", 0.0, "judge_step/v1")
    assert first["judge_model"] == "scripted" and first["gold_source"] == "given"
    data = assert_balanced(out)
    stats = data["stages"]["label-judge/label"]["stats"]
    assert stats["judged_steps"] == 8 and stats["judge_unparsed"] == 1 and stats["judge_backend_calls"] == 3
    assert data["runs"]["label-judge"]["settings"]["method"] == "judge"
    assert "an LLM judge" in (out / "README.md").read_text(encoding="utf-8")
    ids = sorted(r["id"] for r in prm_rows(out))
    label(tmp_path, [wrong(1, ["a", "b BAD", "c", "d BAD"]), wrong(2, ["x MAYBE", "y"]), seed(3, ["p", "q"])])
    assert manifest(out)["stages"]["label-judge/label"]["resumed"] == 3 and sorted(r["id"] for r in prm_rows(out)) == ids


def test_a_judge_model_apart_from_the_completer(tmp_path: Path) -> None:
    completer = scripted([], default="The answer is 42.")  # never asked: the judge alone labels
    out = label(tmp_path, [wrong(1, ["a", "b BAD"])], "--judge-model", JUDGE)
    [row] = prm_rows(out)
    assert row["labels"] == [True, False]
    other = tmp_path / "other"
    inputs = write_jsonl(tmp_path / "in2.jsonl", [wrong(1, ["a", "b BAD"])])
    assert run(["label", "--method", "judge", "--input", inputs, "--out", other, "--backend", "scripted",
                "--model", completer, "--judge-model", JUDGE]) == 0
    [same] = prm_rows(other)
    assert same["labels"] == [True, False] and same["id"] == row["id"]  # the judge's model makes the row, not --model


@pytest.mark.parametrize("flags", [["--method", "binary", "--judge-model", "m"],
                                   ["--method", "judge", "--consensus", "drop-solution"],
                                   ["--method", "judge", "--mc-method", "shepherd"], ["--gold-samples", "4"]])
def test_options_without_their_method_are_errors(tmp_path: Path, flags: list[str],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    inputs = write_jsonl(tmp_path / "in.jsonl", [seed(1, ["a"])])
    assert run(["label", "--input", inputs, "--out", tmp_path / "out", "--backend", "scripted", *flags]) == 2
    assert "appl" in capsys.readouterr().err  # "applies to", "apply to"


@pytest.mark.model
def test_judge_with_the_embedded_model(tmp_path: Path) -> None:
    """One GSM8K problem of two steps, judged by the embedded model (16 new tokens a verdict)."""
    problems = [json.loads(line) for line in (FIXTURES / "gsm8k_sample.jsonl").read_text(encoding="utf-8").splitlines()]
    for i, item in enumerate(problems):
        lines = [ln for ln in item["answer"].split("\n") if not ln.startswith("####")]
        if len(lines) == 2:
            gold = item["answer"].rsplit("####", 1)[1].strip()
            chosen = {"id": f"g{i}", "problem": item["question"], "answer": gold, "steps": [{"text": t} for t in lines]}
            break
    inputs = write_jsonl(tmp_path / "in.jsonl", [chosen])
    out = tmp_path / "out"
    assert run(["label", "--method", "judge", "--input", inputs, "--out", out, "--max-new-tokens", "16",
                "--threads", "1"]) == 0
    [row] = prm_rows(out)
    assert row["method"] == "judge" and len(row["labels"]) == 2 and row["judge_labels"] == row["labels"]
    assert row["generator"]["backend"] == "transformers" and row["generator"]["prompt_version"] == "judge_step/v1"
    assert row["answer_correct"] is True and row["rollouts"] == [0, 0]
    for hard, soft in zip(row["labels"], row["soft_labels"], strict=True):
        assert soft is None or (0.0 <= soft <= 1.0 and hard is not None)
    stats = assert_balanced(out)["stages"]["label-judge/label"]["stats"]
    assert stats["judged_steps"] == 2 and stats["judge_backend_calls"] == 1
