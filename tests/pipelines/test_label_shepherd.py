"""Math-Shepherd labelling through the real Beam runner, with a scripted policy (test double)."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.pipelines.helpers import assert_balanced, dead_letters, prm_rows, run, scripted, seed, write_jsonl

# The scripted policy answers wrongly whenever the prefix it continues holds a "BAD" step.
POLICY = scripted([("BAD", "So the answer is 0.")], default="Continuing... The answer is 42.")


def label(tmp_path: Path, seeds: Path, out: str = "out", *extra: str) -> Path:
    out_dir = tmp_path / out
    code = run(["label", "--input", seeds, "--out", out_dir, "--backend", "scripted", "--model", POLICY, "--n", "4", *extra])
    assert code == 0
    return out_dir


def test_labels_follow_rollout_success(tmp_path: Path) -> None:
    seeds = write_jsonl(tmp_path / "s.jsonl", [seed(1, ["Start here.", "A BAD step.", "Conclude: 42."])])
    out = label(tmp_path, seeds)
    [row] = prm_rows(out)
    assert row["prompt"] == "Problem 1?"
    assert row["completions"] == ["Start here.", "A BAD step.", "Conclude: 42."]
    assert row["labels"] == [True, False, True]
    assert row["soft_labels"] == [1.0, 0.0, 1.0]
    assert row["rollouts"] == [4, 4, 0]  # the last step is judged by the solution's own answer
    assert row["correct_rollouts"] == [4, 0, 0]
    assert row["method"] == "shepherd" and row["answer_correct"] is True
    assert row["generator"]["prompt_version"] == "shepherd_continue/v1"
    data = assert_balanced(out)
    assert data["stages"]["label/label"]["stats"]["completions"] == 8


def test_rollouts_without_final_answer_count_as_wrong(tmp_path: Path) -> None:
    seeds = write_jsonl(tmp_path / "s.jsonl", [seed(1, ["One.", "Two."])])
    out_dir = tmp_path / "out"
    policy = scripted(default="I keep thinking and never conclude")
    assert run(["label", "--input", seeds, "--out", out_dir, "--backend", "scripted", "--model", policy, "--n", "3"]) == 0
    [row] = prm_rows(out_dir)
    assert row["labels"] == [False, True] and row["correct_rollouts"] == [0, 0]
    stats = assert_balanced(out_dir)["stages"]["label/label"]["stats"]
    assert stats["rollouts_without_answer"] == 3


def test_same_input_and_seed_give_same_ids_and_rows(tmp_path: Path) -> None:
    seeds = write_jsonl(tmp_path / "s.jsonl", [seed(i, ["a", "b BAD", "c"]) for i in range(5)])
    first, second = prm_rows(label(tmp_path, seeds, "a")), prm_rows(label(tmp_path, seeds, "b"))
    assert sorted(r["id"] for r in first) == sorted(r["id"] for r in second)
    assert sorted(map(str, first)) == sorted(map(str, second))
    third = prm_rows(label(tmp_path, seeds, "c", "--seed", "7"))
    assert not {r["id"] for r in third} & {r["id"] for r in first}


def test_multi_processing_workers_give_same_rows(tmp_path: Path) -> None:
    seeds = write_jsonl(tmp_path / "s.jsonl", [seed(i, ["a", "b BAD", "c"]) for i in range(6)])
    single = prm_rows(label(tmp_path, seeds, "one"))
    multi_out = label(tmp_path, seeds, "two", "--direct_num_workers=2", "--direct_running_mode=multi_processing")
    assert sorted(map(str, prm_rows(multi_out))) == sorted(map(str, single))
    assert_balanced(multi_out)


def test_one_model_copy_per_worker_process(tmp_path: Path) -> None:
    log = tmp_path / "loads"
    policy = scripted(default="The answer is 42.", load_log=str(log))
    seeds = write_jsonl(tmp_path / "s.jsonl", [seed(i, ["a", "b", "c"]) for i in range(30)])
    args = ["label", "--input", seeds, "--out", tmp_path / "o", "--backend", "scripted", "--model", policy,
            "--n", "2", "--direct_num_workers=2", "--direct_running_mode=multi_processing"]
    assert run(args) == 0
    pids = [name.split("-")[0] for name in os.listdir(log)]
    assert len(prm_rows(tmp_path / "o")) == 30
    assert 1 <= len(pids) <= 2 and len(pids) == len(set(pids))  # never two copies in one process


def test_rerun_resumes_without_duplicates(tmp_path: Path) -> None:
    seeds = write_jsonl(tmp_path / "s.jsonl", [seed(i, ["a", "b"]) for i in range(4)])
    out = label(tmp_path, seeds)
    shards = sorted(os.listdir(out / "prm"))
    label(tmp_path, seeds)
    assert sorted(os.listdir(out / "prm")) == shards
    data = assert_balanced(out)
    assert data["stages"]["label/label"]["resumed"] == 4
    assert len({r["id"] for r in prm_rows(out)}) == len(prm_rows(out)) == 4


def test_kill_9_mid_run_then_rerun_finishes(tmp_path: Path) -> None:
    """Killed with 32 elements in flight on the engine (calls of 16 sequences: 8 trajectories each)."""
    total = 64
    seeds = write_jsonl(tmp_path / "s.jsonl", [seed(i, ["a", "b"]) for i in range(total)])
    out = tmp_path / "out"
    slow = scripted(default="The answer is 42.", delay=0.05)
    cmd = [sys.executable, "-m", "pipelines", "label", "--input", str(seeds), "--out", str(out),
           "--backend", "scripted", "--model", slow, "--n", "2", "--rows-per-shard", "1",
           "--inflight", "32", "--max-batch-sequences", "16"]
    env = dict(os.environ, REVERSE_O1_NO_PROGRESS="1")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(list((out / "prm").glob("*.parquet"))) < 3:
            time.sleep(0.1)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    kept = len(prm_rows(out))
    assert 3 <= kept < total, "the kill must land mid-run"
    assert subprocess.run(cmd, env=env, capture_output=True).returncode == 0
    ids = [r["id"] for r in prm_rows(out)]
    assert len(ids) == len(set(ids)) == total
    data = assert_balanced(out)
    assert data["stages"]["label/label"]["resumed"] == kept


def test_backend_failures_are_dead_lettered_and_the_run_finishes(tmp_path: Path) -> None:
    seeds = write_jsonl(tmp_path / "s.jsonl", [seed(1, ["a", "b"]), seed(2, ["FAILHERE", "b"]), seed(3, ["c", "d"])])
    policy = scripted([("FAILHERE", "__FAIL__")])
    assert run(["label", "--input", seeds, "--out", tmp_path / "o", "--backend", "scripted", "--model", policy]) == 0
    assert len(prm_rows(tmp_path / "o")) == 2
    [letter] = dead_letters(tmp_path / "o")
    assert (letter["stage"], letter["reason"]) == ("label", "backend_error")
    assert letter["ref"].endswith("s.jsonl:2")
    assert_balanced(tmp_path / "o")


def test_rerun_retries_earlier_dead_letters(tmp_path: Path) -> None:
    seeds = write_jsonl(tmp_path / "s.jsonl", [seed(1, ["a", "b"]), seed(2, ["x", "y"])])
    failing = scripted([("x", "__FAIL__")])
    base = ["label", "--input", seeds, "--out", tmp_path / "o", "--backend", "scripted", "--n", "2"]
    assert run(base + ["--model", failing]) == 0
    assert len(dead_letters(tmp_path / "o")) == 1
    # the same output directory with a policy that no longer fails: the dead letter is retried
    assert run(base + ["--model", scripted(), "--seed", "0"]) == 0
    reasons = collections.Counter(d["reason"] for d in dead_letters(tmp_path / "o"))
    assert not reasons
    assert_balanced(tmp_path / "o")
