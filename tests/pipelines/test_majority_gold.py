"""``reverse-o1 label --gold majority``: gold answers by majority vote, through the real Beam runner.

The solver is scripted (a test double, not a model): for a problem, its n samples cycle through a
list of replies, so the vote is known: 6 x ``12`` and 2 x ``14`` give gold 12 with share 0.75; 4 x
``12`` and 4 x ``14`` have no majority.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.pipelines.helpers import assert_balanced, dead_letters, prm_rows, run, scripted, seed, write_jsonl

TWELVE = ["The answer is 12."] * 6 + ["The answer is 14."] * 2
TIE = ["The answer is 12."] * 4 + ["The answer is 14."] * 4
POLICY = scripted([("BAD", "So the answer is 7."), ("Twelve?", TWELVE), ("Tie?", TIE)], default="The answer is 42.")


def unanswered(i: str, problem: str, steps: list[str]) -> dict[str, Any]:
    """A seed line without ``answer``: valid only where gold answers are found by majority vote."""
    return {"id": i, "problem": problem, "steps": [{"text": t} for t in steps]}


INPUTS = [
    unanswered("m1", "Twelve?", ["Six and six.", "The answer is 12."]),
    unanswered("m2", "Tie?", ["Four.", "The answer is 12."]),
    # a ProcessBench-like row: a model's solution with its answer, the gold named as none
    {"id": "r3", "source_kind": "seed", "problem": "Twelve? again", "steps": [{"text": "So 7 BAD"}, {"text": "14."}],
     "answer": "14", "gold_answer": None},
    seed(4, ["forty", "The answer is 42."]),  # a seed with its answer: unchanged, nothing sampled
]


def label(tmp_path: Path, *extra: str) -> Path:
    inputs = write_jsonl(tmp_path / "in.jsonl", INPUTS)
    out = tmp_path / "out"
    assert run(["label", "--method", "binary", "--input", inputs, "--out", out, "--backend", "scripted", "--model", POLICY,
                "--gold", "majority", "--n", "4", *extra]) == 0
    return out


def test_majority_gold_and_no_consensus_answer(tmp_path: Path) -> None:
    out = label(tmp_path, "--min-majority", "0.6")
    rows = {r["prompt"]: r for r in prm_rows(out)}
    assert set(rows) == {"Twelve?", "Twelve? again", "Problem 4?"}  # the tie is filtered
    twelve = rows["Twelve?"]
    assert (twelve["gold_answer"], twelve["gold_source"], twelve["gold_share"]) == ("12", "majority", 0.75)
    assert twelve["answer_correct"] is True and twelve["labels"] == [True, True]  # the seed's own answer: its last step
    again = rows["Twelve? again"]
    assert (again["gold_answer"], again["gold_share"]) == ("12", 0.75) and again["answer_correct"] is False
    assert again["labels"] == [False, False]  # labelled against the majority's 12, not the row's own 14
    given = rows["Problem 4?"]
    assert (given["gold_answer"], given["gold_source"], given["gold_share"]) == ("42", "given", None)
    data = assert_balanced(out)
    gold = data["stages"]["label-binary/gold"]
    assert (gold["read"], gold["written"], gold["filtered"]) == (4, 3, {"no_consensus_answer": 1})
    assert gold["stats"]["gold_given"] == 1 and gold["stats"]["gold_majority"] == 2 and gold["stats"]["gold_samples"] == 24
    assert not dead_letters(out)
    settings = data["runs"]["label-binary"]["settings"]
    assert (settings["gold"], settings["min_majority"], settings["gold_samples"]) == ("majority", 0.6, 8)
    assert "`no_consensus_answer`" in (out / "README.md").read_text(encoding="utf-8")


def test_a_tie_is_no_majority_at_the_default_bar_and_samples_are_counted(tmp_path: Path) -> None:
    out = label(tmp_path, "--gold-samples", "4")  # 4 samples: the first 4 of each list
    rows = {r["prompt"]: r for r in prm_rows(out)}
    assert rows["Twelve?"]["gold_share"] == 1.0  # 4 x 12
    assert rows["Tie?"]["gold_answer"] == "12" and rows["Tie?"]["gold_share"] == 1.0
    gold = assert_balanced(out)["stages"]["label-binary/gold"]
    assert gold["stats"]["gold_samples"] == 12 and gold["filtered"] == {}


def test_without_majority_an_input_without_gold_is_dead_lettered(tmp_path: Path) -> None:
    inputs = write_jsonl(tmp_path / "in.jsonl", INPUTS)
    out = tmp_path / "out"
    assert run(["label", "--method", "binary", "--input", inputs, "--out", out, "--backend", "scripted",
                "--model", POLICY, "--n", "4"]) == 0
    assert [r["prompt"] for r in prm_rows(out)] == ["Problem 4?"]
    reasons = sorted(d["reason"] for d in dead_letters(out))
    assert reasons == ["invalid_answer", "invalid_answer", "no_gold_answer"]
    assert_balanced(out)
    assert run(["label", "--input", inputs, "--out", out, "--backend", "scripted", "--model", POLICY,
                "--min-majority", "0.6"]) == 2  # a majority option without --gold majority
