"""Inputs and outputs on a real S3 API (moto on 127.0.0.1), on the DirectRunner: every pipeline,
kill -9 and resume, and nothing written under a local ``s3:`` folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipelines.io import fs
from pipelines.runner import pipeline_options
from tests.cluster import cases
from tests.pipelines.helpers import run, scripted, seed
from tests.pipelines.io.test_filesystem_guard import git_repo


@pytest.fixture()
def bucket(s3_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)  # a stray local 's3:' folder would appear here
    for key, value in s3_server.env.items():
        monkeypatch.setenv(key, value)
    pipeline_options(s3_server.beam_args)  # the test's own reads and writes use the same endpoint
    return s3_server.make_bucket()


@pytest.mark.parametrize("name", cases.PIPELINES)
def test_every_pipeline_on_s3(name: str, bucket: str, s3_server, tmp_path: Path) -> None:
    inputs = cases.upload_inputs(f"{bucket}/in")
    repo = git_repo(tmp_path / "repo") if name == "code-cot" else None
    extra = ["--repo-cache", str(tmp_path / "cache")] if name == "code-cot" else []
    out = f"{bucket}/run"
    assert run(cases.argv(name, inputs, out, repo) + extra + s3_server.beam_args) == 0
    assert not list(tmp_path.glob("s3*")), "a local s3: folder was written"
    keys = s3_server.keys(bucket.removeprefix("s3://"), "run/")
    assert "run/manifest.json" in keys and "run/README.md" in keys
    data = cases.assert_counts_add_up(out, name)
    assert data["runs"][name]["counts_from"].startswith("metrics")
    assert data["outputs"]["sft_rows"] + data["outputs"]["prm_rows"] > 0
    before = cases.ids(out)
    assert run(cases.argv(name, inputs, out, repo) + extra + s3_server.beam_args) == 0
    assert cases.ids(out) == before


def test_bad_input_on_s3_is_dead_lettered_with_reasons(bucket: str, s3_server) -> None:
    inputs = f"{bucket}/bad"
    fs.write_bytes(f"{inputs}/a.jsonl", b'{"id": "s1", "problem": "P?", "answer": "42", "steps": [{"text": "a"}]}\n'
                   b'{not json\n\xff\xfe\n\n')
    out = f"{bucket}/bad-run"
    args = ["label", "--input", inputs, f"{bucket}/missing.jsonl", "--out", out, "--backend", "scripted", "--n", "2"]
    assert run(args + s3_server.beam_args) == 0
    reasons = sorted(d["reason"] for d in cases.dead_letters(out))
    assert reasons == ["malformed_json", "missing_file", "not_utf8"]
    data = cases.assert_counts_add_up(out, "label")
    assert data["stages"]["label/read"]["filtered"] == {"blank_line": 1}
    assert data["outputs"]["prm_rows"] == 1


def test_kill_9_mid_run_on_s3_then_rerun_finishes(bucket: str, s3_server) -> None:
    total = 48  # killed with 24 elements in flight on the engine, calls of 16 sequences (8 solutions each)
    seeds = "".join(__import__("json").dumps(seed(i, ["a", "b"])) + "\n" for i in range(total))
    fs.write_bytes(f"{bucket}/seeds.jsonl", seeds.encode())
    out = f"{bucket}/killed"
    slow = scripted(default="The answer is 42.", delay=0.1)
    cmd = [sys.executable, "-m", "pipelines", "label", "--input", f"{bucket}/seeds.jsonl", "--out", out,
           "--backend", "scripted", "--model", slow, "--n", "2", "--rows-per-shard", "1", "--inflight", "24",
           "--max-batch-sequences", "16", *s3_server.beam_args]
    env = dict(os.environ, REVERSE_O1_NO_PROGRESS="1", **s3_server.env)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(cases.rows(out, "prm")) < 3:
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    kept = len(cases.rows(out, "prm"))
    assert 3 <= kept < total, "the kill must land mid-run"
    assert not fs.exists(f"{out}/manifest.json"), "the killed run must not have finished"
    assert subprocess.run(cmd, env=env, capture_output=True, timeout=300).returncode == 0
    ids = [r["id"] for r in cases.rows(out, "prm")]
    assert len(ids) == len(set(ids)) == total
    data = cases.assert_counts_add_up(out, "label")
    assert data["stages"]["label/label"]["resumed"] == kept


def test_local_out_with_a_runner_whose_workers_have_their_own_disk_is_refused(tmp_path: Path, capsys) -> None:
    inputs = tmp_path / "seeds.jsonl"
    inputs.write_text('{"id": "s1", "problem": "P?", "answer": "42", "steps": [{"text": "a"}]}\n')
    code = run(["label", "--input", inputs, "--out", tmp_path / "out", "--backend", "scripted",
                "--runner=PortableRunner", "--job_endpoint=localhost:1", "--environment_type=EXTERNAL"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--out" in err[0] and "local path" in err[0] and "--shared-filesystem" in err[0]
    assert not (tmp_path / "out").exists()
