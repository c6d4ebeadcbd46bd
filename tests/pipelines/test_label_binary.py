"""``reverse-o1 label --method binary`` through the real Beam runner.

The policy is scripted (a test double, not a model): it answers wrongly whenever the prefix it
continues holds a "BAD" step. Solutions to search are trajectory rows whose ``answer`` differs
from their ``gold_answer``; seeds (answer = gold) are labelled true without rollouts.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.pipelines.helpers import FIXTURES, assert_balanced, dead_letters, prm_rows, run, scripted, seed, write_jsonl

POLICY = scripted([("BAD", "So the answer is 0.")], default="Continuing... The answer is 42.")
TRL_COLUMNS = ["prompt", "completions", "labels"]


def wrong(i: int, steps: list[str], answer: str = "7", gold: str = "42") -> dict[str, Any]:
    """A trajectory row whose final answer is wrong (what a policy model's failed attempt looks like)."""
    return {"id": f"w{i}", "source_kind": "seed", "problem": f"Wrong {i}?", "steps": [{"text": t} for t in steps],
            "answer": answer, "gold_answer": gold}


def label(tmp_path: Path, inputs: Path, out: str = "out", *extra: str, policy: str = POLICY) -> Path:
    out_dir = tmp_path / out
    args = ["label", "--method", "binary", "--input", inputs, "--out", out_dir, "--backend", "scripted", "--model", policy,
            "--n", "8", *extra]
    assert run(args) == 0
    return out_dir


def by_prompt(out: Path) -> dict[str, dict[str, Any]]:
    return {r["prompt"]: r for r in prm_rows(out)}


def test_binary_labels_the_first_error_and_spends_little(tmp_path: Path) -> None:
    steps = [f"step {i}" if i != 5 else "step 5 BAD" for i in range(8)]
    inputs = write_jsonl(tmp_path / "in.jsonl", [wrong(1, steps), seed(2, ["a", "BAD b", "c"]), wrong(3, ["x", "y", "z"])])
    out = label(tmp_path, inputs)
    rows = by_prompt(out)
    assert {r["method"] for r in rows.values()} == {"binary"}

    searched = rows["Wrong 1?"]
    # probes 3 (+), 5 (-), 4 (+): step 6 is after the first error and nothing measured it; step 7 is the answer
    assert searched["labels"] == [True] * 5 + [False, None, False]
    assert searched["answer_correct"] is False
    probed = [i for i, n in enumerate(searched["rollouts"]) if n]
    assert len(probed) == 3  # ⌈log2 8⌉
    assert searched["rollouts"][4] == 2 and searched["soft_labels"][4] == 1.0  # a positive probe: one chunk of 2
    assert searched["rollouts"][5] == 8 and searched["soft_labels"][5] == 0.0  # the first error: all k spent
    assert all(searched["soft_labels"][i] is None for i in range(7) if i not in probed)
    assert searched["soft_labels"][7] == 0.0 and searched["rollouts"][7] == 0

    # a seed's answer is its gold answer: every prefix has a correct completion, nothing is spent
    assert rows["Problem 2?"]["labels"] == [True] * 3 and rows["Problem 2?"]["rollouts"] == [0] * 3
    assert rows["Problem 2?"]["soft_labels"] == [None, None, 1.0]
    # no bad step but a wrong answer: the last step is the first error
    assert rows["Wrong 3?"]["labels"] == [True, True, False]

    stats = assert_balanced(out)["stages"]["label-binary/label"]["stats"]
    assert stats["completions"] == sum(sum(r["rollouts"]) for r in rows.values())
    assert stats["probes"] == sum(sum(1 for n in r["rollouts"] if n) for r in rows.values())
    assert stats["completions"] < 8 * (7 + 2)  # what Math-Shepherd would spend on the two wrong solutions


def test_trl_columns_load_with_datasets(tmp_path: Path) -> None:
    from datasets import load_dataset

    inputs = write_jsonl(tmp_path / "in.jsonl", [wrong(i, ["a", "b BAD", "c", "d"]) for i in range(3)])
    out = label(tmp_path, inputs)
    data = load_dataset("parquet", data_files=str(out / "prm" / "*.parquet"), split="train",
                        cache_dir=str(tmp_path / "hf"))
    assert data.column_names[:3] == TRL_COLUMNS and len(data) == 3
    for row in data:
        assert row["labels"] == [True, False, None, False] and row["method"] == "binary"  # step 2: nothing measured it
        assert row["soft_labels"][2] is None and row["soft_labels"][1] == 0.0


def test_probe_chunk_at_least_n_spends_n_per_probe(tmp_path: Path) -> None:
    inputs = write_jsonl(tmp_path / "in.jsonl", [wrong(1, ["a", "b", "c BAD", "d"])])
    [row] = prm_rows(label(tmp_path, inputs, "out", "--probe-chunk", "8"))
    assert row["labels"] == [True, True, False, False]
    assert sorted(n for n in row["rollouts"] if n) == [8, 8]  # probes of steps 1 (positive) and 2 (negative)


def test_same_input_and_seed_give_same_ids_and_rerun_resumes(tmp_path: Path) -> None:
    inputs = write_jsonl(tmp_path / "in.jsonl", [wrong(i, ["a", "b", "c BAD", "d", "e"]) for i in range(4)])
    out = label(tmp_path, inputs)
    shards = sorted(os.listdir(out / "prm"))
    first = prm_rows(out)
    label(tmp_path, inputs)
    assert sorted(os.listdir(out / "prm")) == shards
    data = assert_balanced(out)
    assert data["stages"]["label-binary/label"]["resumed"] == 4
    assert len({r["id"] for r in prm_rows(out)}) == len(prm_rows(out)) == 4
    other = prm_rows(label(tmp_path, inputs, "other"))
    assert sorted(map(str, other)) == sorted(map(str, first))
    shepherd_out = tmp_path / "shepherd"
    assert run(["label", "--input", inputs, "--out", shepherd_out, "--backend", "scripted", "--model", POLICY]) == 0
    assert not {r["id"] for r in prm_rows(shepherd_out)} & {r["id"] for r in first}  # the method is part of the id


def test_bad_inputs_are_dead_lettered_with_a_reason(tmp_path: Path) -> None:
    rows = [
        wrong(1, ["a", "BAD", "c"]),
        {"id": "nogold", "source_kind": "seed", "problem": "P?", "steps": [{"text": "a"}]},
        {"id": "nosteps", "source_kind": "seed", "problem": "P?", "steps": [], "answer": "1", "gold_answer": "2"},
        seed("empty", []),
        {"id": "s-nogold", "problem": "P?", "steps": [{"text": "a"}]},
        wrong(5, ["FAILHERE", "b"]),
    ]
    inputs = write_jsonl(tmp_path / "in.jsonl", rows)
    out = label(tmp_path, inputs, policy=scripted([("FAILHERE", "__FAIL__"), ("BAD", "The answer is 0.")]))
    assert [r["labels"] for r in prm_rows(out)] == [[True, False, False]]
    reasons = {int(d["ref"].rsplit(":", 1)[1]): (d["stage"], d["reason"]) for d in dead_letters(out)}
    assert reasons[2] == ("seeds", "no_gold_answer")
    assert reasons[3] == ("seeds", "invalid_steps") and reasons[4] == ("seeds", "invalid_steps")
    assert reasons[5][0] == "seeds" and reasons[5][1].startswith("invalid_")
    assert reasons[6] == ("label", "backend_error")
    assert len(reasons) == 5
    assert_balanced(out)


@pytest.mark.model
def test_binary_with_the_embedded_model(tmp_path: Path) -> None:
    """Two GSM8K problems with a wrong final answer: the real model is asked at each probe."""
    problems = [json.loads(line) for line in (FIXTURES / "gsm8k_sample.jsonl").read_text(encoding="utf-8").splitlines()]
    chosen = []
    for i, item in enumerate(problems):
        lines = [ln for ln in item["answer"].split("\n") if not ln.startswith("####")]
        gold = item["answer"].rsplit("####", 1)[1].strip()
        if len(lines) == 2:
            chosen.append({"id": f"g{i}", "source_kind": "seed", "problem": item["question"],
                           "steps": [{"text": t} for t in lines], "answer": str(int(gold) + 1), "gold_answer": gold})
    inputs = write_jsonl(tmp_path / "in.jsonl", chosen[:2])
    out = tmp_path / "out"
    code = run(["label", "--method", "binary", "--input", inputs, "--out", out, "--n", "2", "--max-new-tokens", "48",
                "--threads", "1"])
    assert code == 0
    rows = prm_rows(out)
    assert len(rows) == 2
    for row in rows:
        assert row["method"] == "binary" and row["answer_correct"] is False
        assert row["generator"]["backend"] == "transformers"
        assert 1 <= row["rollouts"][0] <= 2 and row["rollouts"][1] == 0  # one probe: the first step
        assert row["labels"][0] == (row["correct_rollouts"][0] > 0) and row["labels"][1] is False
        assert row["soft_labels"][0] == pytest.approx(row["correct_rollouts"][0] / row["rollouts"][0])
    stats = assert_balanced(out)["stages"]["label-binary/label"]["stats"]
    assert stats["completions"] == sum(r["rollouts"][0] for r in rows) and stats["probes"] == 2


def test_both_methods_label_into_one_dir_without_clobbering(tmp_path: Path) -> None:
    rows = write_jsonl(tmp_path / "t.jsonl", [{"id": "t1", "source_kind": "seed", "problem": "P?", "answer": "7",
                                               "gold_answer": "42", "steps": [{"text": t} for t in ["a", "b BAD", "c"]]}])
    policy = scripted([("BAD", "So the answer is 7.")], default="The answer is 42.")
    out = tmp_path / "out"
    for method in ("shepherd", "binary"):
        assert run(["label", "--input", rows, "--out", out, "--backend", "scripted", "--model", policy,
                    "--method", method, "--n", "2"]) == 0
    data = assert_balanced(out)
    assert {"label/label", "label-binary/label"} <= set(data["stages"])
    by_method = {r["method"]: r for r in prm_rows(out)}
    assert by_method["shepherd"]["labels"] == by_method["binary"]["labels"] == [True, False, False]


def test_steps_nothing_measured_are_null_and_the_exports_drop_or_cut_them(tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    # 6 steps, the first error at 1: probes 2 (-), 1 (-), 0 (+); steps 3 and 4 are never rolled out from
    inputs = write_jsonl(tmp_path / "in.jsonl", [wrong(1, ["a", "b BAD", "c", "d", "e", "f"]), wrong(2, ["x", "y BAD", "z"])])
    out = label(tmp_path, inputs)
    rows = by_prompt(out)
    searched = rows["Wrong 1?"]
    assert searched["labels"] == [True, False, False, None, None, False]
    assert searched["soft_labels"][3:5] == [None, None] and searched["rollouts"][3:5] == [0, 0]
    assert [label is None for label in searched["labels"]] == [soft is None for soft in searched["soft_labels"]]
    assert rows["Wrong 2?"]["labels"] == [True, False, False]  # the last step is the answer: measured
    capsys.readouterr()
    assert run(["export", "math-shepherd", out, "-o", "-"]) == 0
    captured = capsys.readouterr()
    assert [json.loads(line)["input"].split(" Step 1:")[0] for line in captured.out.splitlines()] == ["Wrong 2?"]
    assert "unmeasured_steps 1" in captured.err
    assert run(["export", "math-shepherd", out, "-o", "-", "--unmeasured", "cut"]) == 0
    labels = {r["input"].split(" Step 1:")[0]: r["label"] for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert labels["Wrong 1?"] == "Wrong 1? Step 1: a +\nStep 2: b BAD -\nStep 3: c -"
