"""``reverse-o1 label`` end to end through the real CLI, on real backends.

(a) the embedded Transformers backend, (b) ``--backend openai`` against a real
``transformers serve`` on the converted embedded model, (c) ``--backend openai`` with nothing
listening: every seed dead-lettered with reason ``backend_error``, the manifest written, and the
command exits 2 with the error in one line (more faults: tests/pipelines/test_server_faults.py).
Runs are in-process (``pipelines.cli.main``), so the retry backoff can be made instant.
Seeds come from the GSM8K fixture through ``reverse-o1 seeds import --format gsm8k``.
"""

from __future__ import annotations

import glob
import json
import math
import os
import socket
from pathlib import Path

import pytest
from tenacity import wait_none

from generators.backends import openai_backend
from pipelines.cli import main

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "gsm8k_sample.jsonl"
N = 2
TRL_COLUMNS = ["prompt", "completions", "labels"]
# one torch thread: two cores shared with other work, where two threads spin against each other
COMMON = ["--n", str(N), "--max-new-tokens", "24", "--threads", "1"]


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def imported_seeds(tmp_path_factory) -> list[dict]:
    """Every GSM8K fixture line as a seed, through ``reverse-o1 seeds import --format gsm8k``."""
    path = tmp_path_factory.mktemp("seeds") / "gsm8k_seeds.jsonl"
    assert main(["seeds", "import", "--format", "gsm8k", str(FIXTURE), "--output", str(path)]) == 0
    seeds = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert seeds and all(len(s["steps"]) >= 1 for s in seeds)
    return seeds


def write_seeds(path: Path, seeds: list[dict]) -> str:
    path.write_text("".join(json.dumps(s) + "\n" for s in seeds), encoding="utf-8")
    return str(path)


def two_step_seeds(seeds: list[dict], count: int) -> list[dict]:
    """The first ``count`` seeds of two steps: one probed prefix each (the last step needs none)."""
    chosen = [s for s in seeds if len(s["steps"]) == 2][:count]
    assert len(chosen) == count
    return chosen


def check_manifest(out: Path) -> dict:
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["stages"], "no stage counted"
    for name, stage in manifest["stages"].items():
        assert stage["read"] == stage["written"] + sum(stage["filtered"].values()) + stage["dead_lettered"], name
    return manifest


def dead_letters(out: Path) -> list[dict]:
    letters = []
    for path in sorted(glob.glob(str(out / "dead_letter" / "*.jsonl"))):
        with open(path, encoding="utf-8") as handle:
            letters.extend(json.loads(line) for line in handle if line.strip())
    return letters


def load_prm(out: Path, cache: Path) -> list[dict]:
    """The PRM rows, loaded both ways a trainer would; both give the same rows."""
    from datasets import load_dataset

    by_files = load_dataset("parquet", data_files=str(out / "prm" / "*.parquet"), split="train", cache_dir=str(cache))
    by_card = load_dataset(str(out), "prm", split="train", cache_dir=str(cache))
    assert by_files.column_names[:3] == TRL_COLUMNS and by_card.column_names[:3] == TRL_COLUMNS
    rows = by_files.to_list()
    assert sorted(r["id"] for r in rows) == sorted(by_card["id"])
    return rows


def check_prm_rows(rows: list[dict], seeds: list[dict], backend: str, model: str) -> None:
    by_problem = {s["problem"]: s for s in seeds}
    assert sorted(r["prompt"] for r in rows) == sorted(by_problem)
    for row in rows:
        seed = by_problem[row["prompt"]]
        k = len(seed["steps"])
        assert row["completions"] == [s["text"] for s in seed["steps"]]
        assert len(row["labels"]) == len(row["soft_labels"]) == len(row["correct_rollouts"]) == k
        assert all(isinstance(label, bool) for label in row["labels"])
        assert all(isinstance(v, float) and 0.0 <= v <= 1.0 and not math.isnan(v) for v in row["soft_labels"])
        # Math-Shepherd: N rollouts from every prefix but the whole solution, labelled by its own answer
        assert row["rollouts"] == [N] * (k - 1) + [0]
        assert all(0 <= c <= r for c, r in zip(row["correct_rollouts"], row["rollouts"], strict=True))
        for hard, soft, correct, rollouts in zip(row["labels"][:-1], row["soft_labels"][:-1], row["correct_rollouts"][:-1],
                                                 row["rollouts"][:-1], strict=True):
            assert hard == (correct > 0) and soft == pytest.approx(correct / rollouts)
        assert row["answer_correct"] is True  # GSM8K's own solution reaches its gold answer
        assert row["labels"][-1] is True and row["soft_labels"][-1] == 1.0
        assert row["method"] == "shepherd" and row["source_kind"] == "seed" and row["id"]
        generator = row["generator"]
        assert generator["backend"] == backend and generator["model"] == model
        assert generator["prompt_version"] and "/" in generator["prompt_version"]


def check_labelled_run(out: Path, seeds: list[dict], backend: str, model: str, tmp_path: Path) -> None:
    manifest = check_manifest(out)
    label = manifest["stages"]["label/label"]
    assert (label["read"], label["written"], label["dead_lettered"]) == (len(seeds), len(seeds), 0), label
    assert dead_letters(out) == []
    rows = load_prm(out, tmp_path / "hf-cache")
    assert manifest["outputs"]["prm_rows"] == len(rows) == len(seeds)
    check_prm_rows(rows, seeds, backend, model)
    assert label["stats"]["completions"] == N * sum(len(s["steps"]) - 1 for s in seeds)
    assert (out / "README.md").exists()


@pytest.mark.model
def test_label_with_the_embedded_transformers_backend(imported_seeds, embedded_model_dir, tmp_path):
    seeds = two_step_seeds(imported_seeds, 1)
    out = tmp_path / "out"
    code = main(["label", "--input", write_seeds(tmp_path / "seeds.jsonl", seeds), "--out", str(out), *COMMON])
    assert code == 0
    check_labelled_run(out, seeds, "transformers", "SmolLM2-135M-Instruct", tmp_path)


@pytest.mark.server
def test_label_through_a_real_openai_compatible_server(imported_seeds, real_server, tmp_path):
    base_url, model = real_server
    seeds = two_step_seeds(imported_seeds, 1)
    out = tmp_path / "out"
    code = main(["label", "--input", write_seeds(tmp_path / "seeds.jsonl", seeds), "--out", str(out), *COMMON,
                 "--backend", "openai", "--base-url", base_url, "--model", model])
    assert code == 0
    check_labelled_run(out, seeds, "openai", model, tmp_path)


def test_server_down_dead_letters_every_seed_and_fails(imported_seeds, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(openai_backend, "RETRY_WAIT", wait_none())  # backoff off; attempts still counted
    seeds = two_step_seeds(imported_seeds, 2)
    out = tmp_path / "out"
    base_url = f"http://127.0.0.1:{closed_port()}/v1"
    code = main(["label", "--input", write_seeds(tmp_path / "seeds.jsonl", seeds), "--out", str(out), *COMMON,
                 "--backend", "openai", "--base-url", base_url, "--model", "x", "--max-retries", "1"])
    assert code == 2
    [line] = [line for line in capsys.readouterr().err.splitlines() if line.startswith("reverse-o1")]
    assert line.startswith(f"reverse-o1 label: error: all 2 inputs of stage 'label' failed on the backend: "
                           f"cannot reach the server at {base_url}: ")
    manifest = check_manifest(out)
    label = manifest["stages"]["label/label"]
    assert (label["read"], label["written"], label["dead_lettered"]) == (2, 0, 2), label
    letters = dead_letters(out)
    assert len(letters) == 2 == manifest["outputs"]["dead_letters"]
    assert {(d["stage"], d["reason"]) for d in letters} == {("label", "backend_error")}
    assert sorted(d["input"].strip('"') for d in letters) == sorted(s["id"] for s in seeds)
    for letter in letters:
        assert "cannot reach the server" in letter["error"]
        assert letter["ref"].startswith(str(tmp_path / "seeds.jsonl") + ":")
    # each request is in flight on its own, so both may spend their retries at once (--max-retries 1:
    # two attempts at most); once the server is known down later requests try once
    assert all(("after 1 attempt" in d["error"]) or ("after 2 attempts" in d["error"]) for d in letters)
    assert manifest["outputs"]["prm_rows"] == 0
    assert not glob.glob(os.path.join(out, "prm", "*.parquet"))
