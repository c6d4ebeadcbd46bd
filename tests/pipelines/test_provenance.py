"""Provenance a dataset publisher can rely on: ``source.uri`` normalised, licences read from the source,
the card's licence and settings, through the CLI with the scripted backend (a test double)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.pipelines.helpers import assert_balanced, prm_rows, run, scripted

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples"
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@localhost", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@localhost", "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
           "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z"}
SECRET = "s3cr3t-t0ken"
CODE_POLICY = scripted(
    [("For your eyes only", "1. I read what the docstring asks for.\n2. I handle the edge cases.\n3. I return the value."),
     ("def clamp(", "```python\ndef clamp(value, low, high):\n    if low > high:\n        raise ValueError('bad')\n"
      "    return max(low, min(value, high))\n```")],
    default="I cannot write that.")
LEAN_POLICY = scripted(
    [("Write the thought", "We compare both sides of the goal and look for a way to make them agree."),
     ("Write a concise informal solution", "First we rewrite the condition.\nThen both sides agree.\nThe answer is 7.")],
    default="")


def sft_rows(out: Path) -> list[dict]:
    import pyarrow.parquet as pq

    return [r for p in sorted((out / "sft").glob("*.parquet")) for r in pq.read_table(p).to_pylist()]


def card(out: Path) -> tuple[dict, str]:
    text = (out / "README.md").read_text(encoding="utf-8")
    return yaml.safe_load(text.split("---")[1]), text


def test_label_on_a_relative_path_gives_absolute_uris_and_the_gsm8k_licence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                                           ) -> None:
    shutil.copytree(SAMPLES / "gsm8k", tmp_path / "gsm8k")
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    args = ["label", "--input", "gsm8k/gsm8k_demo_seeds.jsonl", "--out", "out", "--n", "1", "--limit", "2",
            "--backend", "scripted", "--model", scripted()]
    assert run(args) == 0
    assert_balanced(out)
    rows = prm_rows(out)
    assert len(rows) == 2
    for row in rows:
        assert row["source"]["uri"] == f"file://{tmp_path}/gsm8k/gsm8k_demo_seeds.jsonl"
        assert row["source"]["license"] == "MIT" and row["source"]["dataset_license"] is None
    header, text = card(out)
    assert header["license"] == "mit" and "Every row is under MIT" in text
    assert "pypi.org" not in text and "method=shepherd" in text and "n=1" in text


def test_the_bundled_gsm8k_sample_is_mit(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert run(["tag", "--input", SAMPLES / "gsm8k" / "gsm8k_demo.jsonl", "--column", "answer", "--out", out]) == 0
    rows = sft_rows(out)
    assert rows and {r["source"]["license"] for r in rows} == {"MIT"}
    assert {r["source"]["uri"] for r in rows} == {f"file://{SAMPLES}/gsm8k/gsm8k_demo.jsonl"}
    header, text = card(out)
    assert header["license"] == "mit"
    run_line = next(line for line in text.splitlines() if line.startswith("- `tag`: "))  # the Provenance line
    assert "model" not in run_line and "temperature" not in run_line and "tagger=rules" in run_line  # no LLM ran


def test_lean_rows_carry_the_repository_licence_and_the_benchmark_licence_apart(tmp_path: Path) -> None:
    out = tmp_path / "out"
    inputs = [SAMPLES / "lean" / "leandojo4_mathlib_3thm.json", SAMPLES / "lean" / "minif2f_valid_3.jsonl"]
    assert run(["lean-cot", "--input", *inputs, "--out", out, "--backend", "scripted", "--model", LEAN_POLICY]) == 0
    rows = sft_rows(out)
    dojo = [r["source"] for r in rows if r["source"]["commit"]]
    whole = [r["source"] for r in rows if not r["source"]["commit"]]
    assert dojo and whole
    for src in dojo:
        assert src["uri"] == "https://github.com/leanprover-community/mathlib4"
        assert (src["license"], src["dataset_license"]) == ("Apache-2.0", "CC-BY-2.0")
    for src in whole:  # the file holds the proofs themselves: its licence is theirs
        assert src["uri"] == f"file://{SAMPLES}/lean/minif2f_valid_3.jsonl"
        assert (src["license"], src["dataset_license"]) == ("MIT", "MIT")
    header, text = card(out)
    assert header["license"] == "other" and "## Licences" in text
    assert "| `https://github.com/leanprover-community/mathlib4` | lean | Apache-2.0 | CC-BY-2.0 |" in text


def test_a_leandojo_format_file_without_a_licence_gets_none(tmp_path: Path) -> None:
    source = tmp_path / "mine" / "theorems.json"
    source.parent.mkdir()
    theorems = json.loads((SAMPLES / "lean" / "leandojo4_mathlib_3thm.json").read_text(encoding="utf-8"))
    theorems[0]["url"] = "https://example.com/someone/lean-things"
    source.write_text(json.dumps(theorems[:1]), encoding="utf-8")
    out = tmp_path / "out"
    assert run(["lean-cot", "--input", source, "--out", out, "--backend", "scripted", "--model", LEAN_POLICY]) == 0
    [row] = sft_rows(out)
    assert (row["source"]["license"], row["source"]["dataset_license"]) == (None, None)  # not CC-BY-2.0 by its format
    assert card(out)[0]["license"] == "unknown"


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, env={**os.environ, **GIT_ENV}, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def test_code_cot_names_a_local_repository_by_its_origin_without_the_token(tmp_path: Path) -> None:
    repo = tmp_path / "checkout"
    shutil.copytree(SAMPLES / "code" / "tinytext", repo)
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "v1")
    _git(repo, "remote", "add", "origin", f"https://user:{SECRET}@example.com/o/r.git")
    commit = _git(repo, "rev-parse", "HEAD")
    out = tmp_path / "out"
    args = ["code-cot", "--repo", repo, "--out", out, "--backend", "scripted", "--model", CODE_POLICY, "--limit", "2",
            "--sandbox-timeout", "4", "--repo-cache", tmp_path / "cache"]
    assert run(args) == 0
    rows = sft_rows(out)
    assert rows
    for row in rows:
        assert row["source"]["uri"] == "https://example.com/o/r.git" and row["source"]["commit"] == commit
        assert row["source"]["license"] == "MIT"
    for path in out.rglob("*"):  # rows, manifest, card, dead letters: the token is nowhere
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    header, text = card(out)
    assert header["license"] == "mit"
    run_line = next(line for line in text.splitlines() if line.startswith("- `code-cot`: "))  # the Provenance line
    assert not re.search(r"[ `,]method=", run_line) and not re.search(r"[ `,]n=", run_line)  # label's options: not code-cot's
    assert "cot_samples=" in run_line and "; model `" in run_line and "model=None" not in text


def test_code_cot_on_a_plain_relative_directory_gives_a_file_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(SAMPLES / "code" / "tinytext", tmp_path / "plain")
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    args = ["code-cot", "--repo", "plain", "--out", out, "--backend", "scripted", "--model", CODE_POLICY, "--limit", "1",
            "--sandbox-timeout", "4", "--repo-cache", tmp_path / "cache"]
    assert run(args) == 0
    rows = sft_rows(out)
    assert rows and {r["source"]["uri"] for r in rows} == {f"file://{tmp_path}/plain"}


def test_imported_seeds_keep_the_sources_licence(tmp_path: Path) -> None:
    """``seeds import -o F`` writes a REUSE sidecar ``F.license`` (the GSM8K sample is MIT), so
    rows made from the seeds anywhere still say MIT."""
    seeds = tmp_path / "elsewhere" / "seeds.jsonl"
    seeds.parent.mkdir()
    assert run(["seeds", "import", "--format", "gsm8k", SAMPLES / "gsm8k" / "gsm8k_demo.jsonl", "-o", seeds]) == 0
    assert (tmp_path / "elsewhere" / "seeds.jsonl.license").read_text().startswith("SPDX-License-Identifier: MIT\n")
    out = tmp_path / "out"
    assert run(["label", "--input", seeds, "--out", out, "--backend", "scripted", "--model", scripted(), "--n", "2",
                "--limit", "2"]) == 0
    assert {r["source"]["license"] for r in prm_rows(out)} == {"MIT"}
