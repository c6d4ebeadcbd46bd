"""``reverse-o1 expand`` through the real Beam runner, with a scripted policy (a test double)."""

from __future__ import annotations

import glob
import json
import os
from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest

from schemas.seed_import import gsm8k_to_seed
from schemas.tags import parse_think
from tests.pipelines.helpers import assert_balanced, dead_letters, manifest, prm_rows, run, scripted, seed, write_jsonl

# Expansion prompts ("Write the next step") get one fixed step; a rollout reaches 42 unless the
# solution so far holds a "BAD" step, then 7. The policy never fails unless told to.
POLICY = scripted(
    [("FAILME", "__FAIL__"), ("BAD", "So it is 7.\nThe answer is 7."), ("Write the", "Add the two numbers.")],
    default="So 40 + 2 = 42.\nThe answer is 42.",
)
SMALL = ["--simulations", "3", "--branching", "2", "--max-depth", "4"]


def sft_rows(out: Path) -> list[dict]:
    return [r for p in sorted(glob.glob(os.path.join(out, "sft", "*.parquet"))) for r in pq.read_table(p).to_pylist()]


def expand(tmp_path: Path, seeds: Path, out: str = "out", *extra: str) -> Path:
    out_dir = tmp_path / out
    args = ["expand", "--seeds", seeds, "--out", out_dir, "--backend", "scripted", "--model", POLICY, *SMALL, *extra]
    assert run(args) == 0
    return out_dir


def test_expand_writes_tagged_sft_rows_and_mcts_prm_rows(tmp_path: Path) -> None:
    seeds = write_jsonl(tmp_path / "s.jsonl", [
        seed(1, ["There are 40 apples.", "Tom buys 2 more.", "40 + 2 = 42."]),
        seed(2, ["Start.", "A BAD step.", "Conclude."]),
    ])
    out = expand(tmp_path, seeds)
    sft, prm = sft_rows(out), prm_rows(out)
    assert sft and len(sft) == len(prm)
    assert {r["verified"] for r in sft} == {True, False}  # right and wrong trajectories both kept
    for row in sft:
        assert row["source_kind"] == "seed" and row["verifier"] == "math-verify"
        assert row["verified"] == (row["answer"] == "42")
        user, assistant = row["messages"]
        assert user == {"role": "user", "content": row["problem"]} and assistant["role"] == "assistant"
        steps, answer = parse_think(assistant["content"])
        assert [(s.text, s.factor) for s in steps] == [(s["text"], s["factor"]) for s in row["steps"]]
        assert all(s["factor"] for s in row["steps"])
        assert row["generator"]["prompt_version"] == "mcts_step/v1+shepherd_continue/v1"
    for row in prm:
        k = len(row["completions"])
        assert row["method"] == "mcts" and k == len(row["labels"]) == len(row["soft_labels"]) == len(row["rollouts"])
        assert all(v is None or 0.0 <= v <= 1.0 for v in row["soft_labels"])
        assert row["labels"][-1] == row["answer_correct"]
        assert any(n > 0 for n in row["rollouts"])  # the root and tree nodes carry visit counts
    wrong = [r for r in prm if not r["answer_correct"]]
    assert wrong and all(any("BAD" in c for c in r["completions"]) for r in wrong)
    # the cut: a trajectory from seed 1 cut after one step starts with the annotator's first step
    assert any(r["completions"][:1] == ["There are 40 apples."] and r["completions"][1] != "Tom buys 2 more." for r in prm)
    data = assert_balanced(out)
    stats = data["stages"]["expand/expand"]["stats"]
    assert stats["roots"] == 4 and stats["simulations"] == 4 * 3
    assert stats["multi_prompt_calls"] >= 1
    assert data["stages"]["expand/trajectories"]["written"] == len(prm)
    trl = datasets.load_dataset("parquet", data_files=str(out / "prm" / "*.parquet"), split="train")
    assert trl.column_names[:3] == ["prompt", "completions", "labels"]
    assert len(datasets.load_dataset(str(out), "sft", split="train", cache_dir=str(tmp_path / "hf"))) == len(sft)


def test_cuts_first_and_random(tmp_path: Path) -> None:
    seeds = write_jsonl(tmp_path / "s.jsonl", [seed(1, ["a.", "b.", "c.", "d.", "e."])])
    first = assert_balanced(expand(tmp_path, seeds, "first", "--cuts", "first"))
    assert first["stages"]["expand/expand"]["stats"]["roots"] == 1
    some = assert_balanced(expand(tmp_path, seeds, "random", "--cuts", "random:2"))
    assert some["stages"]["expand/expand"]["stats"]["roots"] == 2
    assert run(["expand", "--seeds", seeds, "--out", tmp_path / "bad", "--cuts", "some"]) == 2


def test_same_seed_same_ids_and_resume_skips_done_seeds(tmp_path: Path) -> None:
    seeds = write_jsonl(tmp_path / "s.jsonl", [seed(i, ["x.", "y BAD.", "z."]) for i in range(3)])
    a, b = expand(tmp_path, seeds, "a"), expand(tmp_path, seeds, "b")
    assert sorted(r["id"] for r in prm_rows(a)) == sorted(r["id"] for r in prm_rows(b))
    before = sorted(r["id"] for r in sft_rows(a))
    expand(tmp_path, seeds, "a")  # the rerun: every seed is already done
    data = manifest(a)
    assert data["stages"]["expand/expand"]["resumed"] == 3
    assert data["stages"]["expand/expand"]["stats"].get("simulations", 0) == 0
    assert sorted(r["id"] for r in sft_rows(a)) == before  # nothing redone, no duplicates
    # a seed whose rows went missing (a crash before its shard landed) is searched again
    for path in glob.glob(str(a / "prm" / "*.parquet")):
        os.remove(path)
    expand(tmp_path, seeds, "a")
    assert sorted(r["id"] for r in prm_rows(a)) == sorted(r["id"] for r in prm_rows(b))
    assert manifest(a)["stages"]["expand/expand"]["resumed"] == 0


def test_bad_seeds_and_failing_policy_are_dead_lettered(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    good = seed(1, ["a.", "b."])
    lines = [
        '{"id": "nogold", "problem": "P?", "steps": [{"text": "a"}]}',
        '{"id": "nosteps", "problem": "P?", "answer": "1", "steps": []}',
        '{"id": "trunc", "problem": "P?", "ans',
        '{"id": "fail", "problem": "FAILME?", "answer": "1", "steps": [{"text": "a"}, {"text": "b"}]}',
        '["not", "an", "object"]',
    ]
    path.write_bytes((json.dumps(good) + "\n" + "\n".join(lines) + "\n").encode() + b'{"id": "\xff\xfe"}\n')
    out = expand(tmp_path, path)
    letters = dead_letters(out)
    reasons = {d["reason"] for d in letters}
    assert "backend_error" in reasons and "malformed_json" in reasons and "not_utf8" in reasons
    assert any("answer" in d["reason"] for d in letters) and any("steps" in d["reason"] for d in letters)
    assert len(letters) == 6
    assert {r["source"]["symbol"] for r in prm_rows(out)} == {"s1"}
    assert_balanced(out)


@pytest.mark.model
def test_expand_with_the_embedded_model(tmp_path: Path) -> None:
    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "gsm8k_sample.jsonl"
    lines = fixture.read_text(encoding="utf-8").splitlines()[:2]
    seeds = write_jsonl(tmp_path / "s.jsonl", [gsm8k_to_seed(json.loads(line)) for line in lines])
    out = tmp_path / "out"
    args = ["expand", "--seeds", seeds, "--out", out, "--cuts", "first", "--simulations", "2", "--branching", "2",
            "--max-new-tokens", "40", "--threads", "1"]
    assert run(args) == 0
    data = assert_balanced(out)
    stats = data["stages"]["expand/expand"]["stats"]
    assert data["stages"]["expand/expand"]["written"] == 2 and stats["roots"] == 2
    assert stats["simulations"] == 4 and stats["generated_tokens"] > 0
    assert stats["expansions"] >= 2 and stats["rollouts"] + stats["terminal_hits"] > 0
    trajectories = data["stages"]["expand/trajectories"]
    assert trajectories["read"] == trajectories["written"] + sum(trajectories["filtered"].values()) > 0
    for row in sft_rows(out):
        assert row["generator"]["model"] == "SmolLM2-135M-Instruct"
        steps, answer = parse_think(row["messages"][1]["content"])
        assert [s.text for s in steps] == [s["text"] for s in row["steps"]] and answer == row["answer"]
    assert len(prm_rows(out)) == len(sft_rows(out)) == trajectories["written"]


def test_factor_actions_put_the_chosen_factor_on_tree_steps(tmp_path: Path) -> None:
    seeds = write_jsonl(tmp_path / "s.jsonl", [seed(1, ["There are 40 apples.", "Tom buys 2 more."])])
    out = expand(tmp_path, seeds, "out", "--factor-actions")
    sft = sft_rows(out)
    assert sft and all(r["generator"]["prompt_version"] == "mcts_step_factor/v1+shepherd_continue/v1+factors:all" for r in sft)
    tree_factors = {s["factor"] for r in sft for s in r["steps"] if s["text"] == "Add the two numbers."}
    assert tree_factors and tree_factors <= {"RephraseTarget", "Decompose", "Proposer", "Compute", "Verify", "Refute",
                                             "SelfCorrect", "Conclude"}
    assert len(tree_factors) > 1  # the search chose among factors, not the rule tagger alone
    assert_balanced(out)


def test_bad_factors_file_fails_before_any_work(tmp_path: Path, capsys) -> None:
    seeds = write_jsonl(tmp_path / "s.jsonl", [seed(1, ["a.", "b."])])
    bad = tmp_path / "factors.yaml"
    bad.write_text("factors: [unclosed")
    args = ["expand", "--seeds", seeds, "--out", tmp_path / "o", "--factors", bad, "--factor-actions"]
    assert run(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "factors" in err


def test_seed_with_a_factor_outside_the_vocabulary_is_dead_lettered_before_search(tmp_path: Path) -> None:
    odd = seed(2, ["a.", "b."])
    odd["steps"][0]["factor"] = "Daydream"
    kept = seed(1, ["a.", "b."])
    kept["steps"][0]["factor"] = "Compute"
    out = expand(tmp_path, write_jsonl(tmp_path / "s.jsonl", [kept, odd]))
    [letter] = dead_letters(out)
    assert letter["reason"] == "unknown_factor" and "Daydream" in letter["error"] and letter["stage"] == "expand"
    data = assert_balanced(out)
    assert data["stages"]["expand/expand"]["stats"]["roots"] == 1  # the odd seed cost no search
    assert all(r["steps"][0]["factor"] == "Compute" for r in sft_rows(out))  # the human factor is kept
