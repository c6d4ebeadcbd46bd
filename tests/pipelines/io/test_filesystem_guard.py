"""Nothing in the pipelines bypasses Beam's FileSystems: every command on ``memfs://``, a
test-only filesystem whose files exist only in this process's memory (``memfs.py``)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.cluster import cases
from tests.pipelines.helpers import run
from tests.pipelines.io import memfs


def git_repo(target: Path) -> str:
    import shutil

    shutil.copytree(cases.TINYTEXT, target)
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@localhost", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@localhost", "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
           "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z"}
    for argv in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "v1"]):
        subprocess.run(["git", *argv], cwd=target, env=env, check=True, capture_output=True)
    return f"{target}@HEAD"


@pytest.fixture()
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # a stray local 'memfs:' folder would appear here
    return tmp_path


@pytest.mark.parametrize("name", cases.PIPELINES)
def test_every_pipeline_reads_and_writes_only_through_filesystems(name: str, in_tmp: Path) -> None:
    root = f"memfs://guard-{name}"
    inputs = cases.upload_inputs(f"{root}/in")
    repo = git_repo(in_tmp / "repo") if name == "code-cot" else None
    extra = ["--repo-cache", str(in_tmp / "cache")] if name == "code-cot" else []
    out = f"{root}/out"
    assert run(cases.argv(name, inputs, out, repo) + extra) == 0
    assert not list(in_tmp.glob("memfs*")), "something wrote a memfs:// path on the local disk"
    stored = memfs.under(out)
    assert f"{out}/manifest.json" in stored and f"{out}/README.md" in stored
    data = cases.assert_counts_add_up(out, name)
    written = data["outputs"]["sft_rows"] + data["outputs"]["prm_rows"]
    assert written > 0
    # a rerun resumes from what is in the store: nothing new, nothing duplicated
    before = cases.ids(out)
    assert run(cases.argv(name, inputs, out, repo) + extra) == 0
    assert cases.ids(out) == before
    resumed = sum(e.get("resumed", 0) for k, e in cases.manifest(out)["stages"].items() if k.startswith(name + "/"))
    assert resumed > 0


def test_export_reads_prm_shards_through_filesystems(in_tmp: Path) -> None:
    inputs = cases.upload_inputs("memfs://guard-export/in")
    out = "memfs://guard-export/out"
    assert run(cases.argv("label", inputs, out)) == 0
    assert run(["export", "math-shepherd", out]) == 0
    text = memfs.under(f"{out}/math_shepherd.jsonl")[f"{out}/math_shepherd.jsonl"].decode()
    assert len(text.splitlines()) == len(cases.rows(out, "prm")) == 3
    assert not list(in_tmp.glob("memfs*"))


def test_exports_read_and_write_only_through_filesystems(in_tmp: Path) -> None:
    """``export pairs``, ``export sft --verified`` and ``export openrlhf`` on an ``expand`` output kept in memory."""
    from tests.pipelines.export.test_pairs import POLICY, SMALL

    seeds = "memfs://guard-exports/in/seeds.jsonl"
    rows = [{"id": f"s{i}", "problem": f"What is {i} plus 2?", "answer": "42",
             "steps": [{"text": f"Start with {i}."}, {"text": "The answer is 42."}]} for i in range(2)]
    memfs.STORE[seeds] = "".join(json.dumps(r) + "\n" for r in rows).encode()
    out = "memfs://guard-exports/out"
    assert run(["expand", "--seeds", seeds, "--out", out, "--backend", "scripted", "--model", POLICY, *SMALL]) == 0
    assert run(["export", "pairs", out]) == 0
    assert run(["export", "sft", out, "--verified"]) == 0
    assert run(["export", "openrlhf", out, "--method", "all", "--unmeasured", "cut"]) == 0
    stored = memfs.under(out)
    for name in ("pairs_step", "pairs_trajectory", "sft_verified", "openrlhf"):
        assert f"{out}/{name}/train.parquet" in stored, name
    assert not list(in_tmp.glob("memfs*")), "something wrote a memfs:// path on the local disk"


def test_the_tokenizer_reads_and_writes_only_through_filesystems(in_tmp: Path, embedded_model_dir: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    model = "memfs://guard-tokenizer/model"
    for item in embedded_model_dir.iterdir():
        if item.is_file() and not item.name.endswith(".safetensors"):  # the tokenizer and config: no weights needed
            memfs.STORE[f"{model}/{item.name}"] = item.read_bytes()
    out = "memfs://guard-tokenizer/out"
    assert run(["tokenizer", "--model", model, "--out", out]) == 0
    assert "ids are out of range" in capsys.readouterr().err  # no --resize-model: said, not hidden
    assert f"{out}/tokenizer.json" in memfs.under(out) and f"{out}/tokenizer_config.json" in memfs.under(out)
    assert not list(in_tmp.glob("memfs*"))
