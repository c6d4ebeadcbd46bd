"""``reverse-o1 difficulty``: pass rates per problem through the real Beam runner, with a scripted
policy (a test double) whose k replies are fixed, so pass@j can be computed by hand."""

from __future__ import annotations

import glob
import itertools
import json
import os
from math import comb
from pathlib import Path
from typing import Any

import datasets
import pyarrow.parquet as pq
import pytest

from generators.difficulty import pass_at_k
from generators.prompts import template
from schemas.seed_import import gsm8k_to_seed
from tests.pipelines.helpers import FIXTURES, assert_balanced, dead_letters, run, scripted, seed, write_jsonl

# Problem 1: 4 of every 16 replies state the gold 42; problem 2 never; problem 3 always.
FOUR_OF_SIXTEEN = ["The answer is 42."] * 4 + [f"The answer is {n}." for n in range(12)]
POLICY = scripted([("Problem 1?", FOUR_OF_SIXTEEN), ("Problem 2?", "I cannot tell."),
                   ("Problem 3?", "So it is 42.\nThe answer is 42.")], default="The answer is 0.")


def difficulty_rows(out: Path) -> dict[str, dict[str, Any]]:
    rows = [r for p in sorted(glob.glob(os.path.join(out, "difficulty", "*.parquet"))) for r in pq.read_table(p).to_pylist()]
    return {r["problem_id"]: r for r in rows}


def measure(tmp_path: Path, seeds: Path, out: str = "out", *extra: Any, policy: str = POLICY) -> Path:
    out_dir = tmp_path / out
    assert run(["difficulty", "--input", seeds, "--out", out_dir, "--backend", "scripted", "--model", policy, *extra]) == 0
    return out_dir


def three(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "s.jsonl", [seed(i, ["x."]) for i in (1, 2, 3)])


def by_hand(n: int, c: int, k: int) -> float:
    return 1 - comb(n - c, k) / comb(n, k)


def test_pass_at_k_is_chens_estimator() -> None:
    assert pass_at_k(16, 4, 1) == pytest.approx(0.25)
    assert pass_at_k(16, 4, 4) == pytest.approx(1 - comb(12, 4) / comb(16, 4))
    for n, c, k in itertools.product(range(1, 21), range(0, 21), (1, 2, 4, 8, 16)):
        if c <= n:
            expected = None if k > n else by_hand(n, c, k)
            assert pass_at_k(n, c, k) == pytest.approx(expected), (n, c, k)
    assert pass_at_k(1000, 3, 100) == pytest.approx(by_hand(1000, 3, 100))  # no overflow where C(n, k) is huge
    with pytest.raises(ValueError):
        pass_at_k(4, 5, 1)


def test_scripted_pass_rates_match_the_hand_count(tmp_path: Path) -> None:
    out = measure(tmp_path, three(tmp_path), "out", "--k", "16")
    rows = difficulty_rows(out)
    some, never, always = rows["s1"], rows["s2"], rows["s3"]
    assert some["k"] == 16 and some["correct"] == 4 and some["pass_rate"] == 0.25
    assert some["pass_at_1"] == pytest.approx(0.25)
    assert some["pass_at_4"] == pytest.approx(1 - comb(12, 4) / comb(16, 4))
    assert some["pass_at_k"] == 1.0
    assert some["outcomes"] == [True] * 4 + [False] * 12 and some["answers"][:5] == ["42"] * 4 + ["0"]
    assert some["completions"] == FOUR_OF_SIXTEEN and some["mean_tokens"] == 4.0
    assert never["correct"] == 0 and never["pass_at_1"] == never["pass_at_4"] == never["pass_at_k"] == 0.0
    assert never["answers"] == [None] * 16
    assert always["pass_rate"] == always["pass_at_k"] == 1.0
    assert {r["answer"] for r in rows.values()} == {"42"} and all(r["truncated"] == [False] * 16 for r in rows.values())
    assert some["generator"] == {"backend": "scripted", "model": "scripted", "temperature": 0.7, "seed": 0,
                                "prompt_version": template("solve").id}
    assert some["source_kind"] == "seed" and some["source"]["symbol"] == "s1"
    stats = assert_balanced(out)["stages"]["difficulty/difficulty"]["stats"]
    assert stats["samples"] == 48 and stats["correct"] == 20
    assert stats["problems_never_solved"] == 1 and stats["problems_always_solved"] == 1
    assert stats["samples_without_answer"] == 16
    loaded = datasets.load_dataset(str(out), "difficulty", split="train")
    assert len(loaded) == 3 and loaded.column_names[:2] == ["id", "problem_id"]


def test_small_k_leaves_pass_at_4_null_and_many_problems_share_a_call(tmp_path: Path) -> None:
    seeds = write_jsonl(tmp_path / "s.jsonl", [seed(i, ["x."]) for i in range(1, 9)])
    out = measure(tmp_path, seeds, "out", "--k", "2", "--max-batch-sequences", "16")
    rows = difficulty_rows(out)
    assert len(rows) == 8 and all(r["k"] == 2 and r["pass_at_4"] is None for r in rows.values())
    assert rows["s1"]["outcomes"] == [True, True] and rows["s1"]["pass_at_1"] == 1.0  # the first 2 replies are right
    stats = assert_balanced(out)["stages"]["difficulty/difficulty"]["stats"]
    assert stats["engine_calls"] < 8  # one request of k samples per problem, several problems per backend call


def test_the_request_is_the_problem_alone_with_n_k(tmp_path: Path) -> None:
    from generators.difficulty import SampleSettings, sample_request
    from schemas.records import Source, Step, Trajectory

    trajectory = Trajectory("s1", "What is 6 * 7?", (Step("human step"),), "42", "42", "seed", Source("file:///s"))
    request = sample_request(trajectory, SampleSettings(k=16, seed=3))
    assert request.params.n == 16 and len(request.messages) == 1
    role, content = request.messages[0]
    assert role == "user" and content.startswith("What is 6 * 7?") and "human step" not in content
    assert "The answer is X" in content


def test_resume_and_ids(tmp_path: Path) -> None:
    seeds = three(tmp_path)
    out = measure(tmp_path, seeds, "out", "--k", "4")
    first = difficulty_rows(out)
    again = measure(tmp_path, seeds, "out", "--k", "4")
    entry = assert_balanced(again)["stages"]["difficulty/difficulty"]
    assert entry["resumed"] == 3 and difficulty_rows(out) == first
    other = difficulty_rows(measure(tmp_path, seeds, "other", "--k", "4", "--seed", "7"))
    assert not {r["id"] for r in other.values()} & {r["id"] for r in first.values()}
    more = difficulty_rows(measure(tmp_path, seeds, "more", "--k", "8"))
    assert not {r["id"] for r in more.values()} & {r["id"] for r in first.values()}


def test_cut_generations_are_marked_truncated(tmp_path: Path) -> None:
    policy = scripted([("Problem 1?", ["The answer is 42.", "one two three four five six seven eight The answer is 42."])],
                      length_cap=True)
    out = measure(tmp_path, write_jsonl(tmp_path / "s.jsonl", [seed(1, ["x."])]), "out", "--k", "2",
                  "--max-new-tokens", "6", policy=policy)
    row = difficulty_rows(out)["s1"]
    assert row["truncated"] == [False, True] and row["outcomes"] == [True, False]
    assert assert_balanced(out)["stages"]["difficulty/difficulty"]["stats"]["truncated"] == 1


def test_bad_input_is_dead_lettered_and_counts_add_up(tmp_path: Path) -> None:
    seeds = tmp_path / "s.jsonl"
    good = json.dumps(seed(1, ["x."]))
    lines = [good, "{not json", json.dumps({"id": "s2", "problem": "No gold?", "steps": [{"text": "x"}]}),
             json.dumps(seed(3, ["x."], problem="Problem FAIL?")), good]
    seeds.write_text("\n".join(lines) + "\n", encoding="utf-8")
    policy = scripted([("FAIL", "__FAIL__")], default="The answer is 42.")
    out = measure(tmp_path, seeds, "out", "--k", "2", policy=policy)
    assert set(difficulty_rows(out)) == {"s1"}
    reasons = {(d["stage"], d["reason"]) for d in dead_letters(out)}
    assert ("read", "malformed_json") in reasons and ("difficulty", "backend_error") in reasons
    assert any(stage == "seeds" and "answer" in reason for stage, reason in reasons)
    assert any(stage == "seeds" and "duplicate" in reason for stage, reason in reasons)
    assert len(dead_letters(out)) == 4
    assert_balanced(out)


@pytest.mark.model
def test_difficulty_with_the_embedded_model(tmp_path: Path) -> None:
    lines = (FIXTURES / "gsm8k_sample.jsonl").read_text(encoding="utf-8").splitlines()[:2]
    seeds = write_jsonl(tmp_path / "s.jsonl", [gsm8k_to_seed(json.loads(line)) for line in lines])
    out = tmp_path / "out"
    assert run(["difficulty", "--input", seeds, "--out", out, "--k", "2", "--max-new-tokens", "32", "--threads", "1"]) == 0
    rows = difficulty_rows(out)
    assert len(rows) == 2
    for row in rows.values():
        assert row["k"] == 2 and len(row["completions"]) == len(row["outcomes"]) == len(row["truncated"]) == 2
        assert row["pass_rate"] == row["correct"] / 2 and row["pass_at_4"] is None
        assert row["generator"]["model"] == "SmolLM2-135M-Instruct" and row["mean_tokens"] > 0
    stats = assert_balanced(out)["stages"]["difficulty/difficulty"]["stats"]
    assert stats["samples"] == 4 and stats["generated_tokens"] > 0
