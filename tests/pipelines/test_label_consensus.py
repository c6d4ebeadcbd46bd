"""``reverse-o1 label --method consensus`` through the real Beam runner, scripted (test doubles, not models).

The completer answers wrongly whenever the prefix it continues holds a "BAD" step (so the binary
search finds the first BAD step, or the last step where the final answer is wrong without one); the
judge, a second scripted policy given as ``--judge-model``, calls a step incorrect where it holds
"BAD" or "JUNK". So MC and the judge agree on a BAD step and disagree on a JUNK one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.pipelines.helpers import assert_balanced, dead_letters, prm_rows, run, scripted, seed, write_jsonl

COMPLETER = scripted([("BAD", "So the answer is 7.")], default="The answer is 42.")
QUESTION = "\n\nIs the step"  # what follows the judged step in the judge's prompt
JUDGE = scripted([("BAD" + QUESTION, "incorrect"), ("JUNK" + QUESTION, "Incorrect.")], default="correct")


def wrong(i: int, steps: list[str]) -> dict[str, Any]:
    return {"id": f"w{i}", "source_kind": "seed", "problem": f"Wrong {i}?", "steps": [{"text": t} for t in steps],
            "answer": "7", "gold_answer": "42"}


INPUTS = [
    wrong(1, ["a", "b BAD", "c"]),  # both: the first error is step 1
    wrong(2, ["x", "y JUNK", "z"]),  # MC: the answer is wrong, nothing before it (step 2); the judge: step 1
    seed(3, ["p", "q"]),  # a correct seed: every step true for both
]


def label(tmp_path: Path, *extra: str, out: str = "out") -> Path:
    inputs = write_jsonl(tmp_path / "in.jsonl", INPUTS)
    out_dir = tmp_path / out
    assert run(["label", "--method", "consensus", "--input", inputs, "--out", out_dir, "--backend", "scripted",
                "--model", COMPLETER, "--judge-model", JUDGE, "--n", "4", *extra]) == 0
    return out_dir


def by_prompt(out: Path) -> dict[str, dict[str, Any]]:
    return {r["prompt"]: r for r in prm_rows(out)}


def test_keep_agreeing_nulls_the_steps_mc_and_the_judge_disagree_on(tmp_path: Path) -> None:
    out = label(tmp_path)
    rows = by_prompt(out)
    assert {r["method"] for r in rows.values()} == {"consensus"}
    agree = rows["Wrong 1?"]
    assert agree["mc_labels"] == [True, False, False] and agree["judge_labels"] == [True, False, None]
    assert agree["labels"] == [True, False, None] and agree["agreement"] == 1.0  # after the first error: unmeasured
    assert agree["soft_labels"][:2] == [1.0, 0.0] and agree["soft_labels"][2] is None
    lucky = rows["Wrong 2?"]
    assert lucky["mc_labels"] == [True, True, False] and lucky["judge_labels"] == [True, False, None]
    assert lucky["labels"] == [True, None, None] and lucky["agreement"] == 0.5
    assert rows["Problem 3?"]["labels"] == [True, True] and rows["Problem 3?"]["agreement"] == 1.0
    for row in rows.values():
        assert row["judge_model"] == "scripted" and row["gold_source"] == "given" and row["gold_answer"] == "42"
        assert row["generator"]["prompt_version"] == "shepherd_continue/v1+judge_step/v1"
    data = assert_balanced(out)
    judge = data["stages"]["label-consensus/judge"]
    assert (judge["read"], judge["written"], judge["filtered"]) == (3, 3, {})
    assert judge["stats"]["solutions_disagreeing"] == 1 and judge["stats"]["steps_disagreeing"] == 1
    assert judge["stats"]["judged_steps"] == 8
    settings = data["runs"]["label-consensus"]["settings"]
    assert settings["consensus"] == "keep-agreeing" and settings["mc_method"] == "binary"
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "consensus=keep-agreeing" in card and "`judge_disagrees`" in card


def test_drop_solution_filters_a_disagreement_on_the_first_error(tmp_path: Path) -> None:
    out = label(tmp_path, "--consensus", "drop-solution")
    assert set(by_prompt(out)) == {"Wrong 1?", "Problem 3?"}
    data = assert_balanced(out)
    label_stage, judge = data["stages"]["label-consensus/label"], data["stages"]["label-consensus/judge"]
    assert (label_stage["read"], label_stage["written"]) == (3, 3)
    assert (judge["read"], judge["written"], judge["filtered"]) == (3, 2, {"judge_disagrees": 1})
    assert not dead_letters(out)
    assert "consensus=drop-solution" in (out / "README.md").read_text(encoding="utf-8")


def test_shepherd_beside_the_judge_and_a_rerun_resumes(tmp_path: Path) -> None:
    out = label(tmp_path, "--mc-method", "shepherd")
    rows = by_prompt(out)
    # Math-Shepherd rolls out from every prefix: after BAD every rollout is wrong
    assert rows["Wrong 1?"]["mc_labels"] == [True, False, False] and rows["Wrong 1?"]["labels"] == [True, False, None]
    assert rows["Wrong 2?"]["mc_labels"] == [True, True, False] and rows["Wrong 2?"]["labels"] == [True, None, None]
    first = sorted(r["id"] for r in prm_rows(out))
    label(tmp_path, "--mc-method", "shepherd")
    data = assert_balanced(out)
    assert data["stages"]["label-consensus/label"]["resumed"] == 3 and sorted(r["id"] for r in prm_rows(out)) == first
    other = label(tmp_path, out="binary")  # another MC method: other rows
    assert not {r["id"] for r in prm_rows(other)} & set(first)


def test_the_default_exports_take_consensus_rows_but_not_judge_rows(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = label(tmp_path)
    inputs = write_jsonl(tmp_path / "judge.jsonl", INPUTS)
    assert run(["label", "--method", "judge", "--input", inputs, "--out", out, "--backend", "scripted",
                "--model", JUDGE]) == 0
    capsys.readouterr()
    assert run(["export", "math-shepherd", out, "-o", "-", "--unmeasured", "cut"]) == 0
    captured = capsys.readouterr()
    exported = [json.loads(line) for line in captured.out.splitlines()]
    assert len(exported) == 3 and "method_not_chosen:judge 3" in captured.err
    assert run(["export", "math-shepherd", out, "-o", "-", "--method", "judge", "--unmeasured", "cut"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3
